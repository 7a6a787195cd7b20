//! Starting and stopping the supervisord process itself.

use std::process::Stdio;
use std::time::Duration;

use tracing::{info, warn};

use super::rpc::{RpcError, Supervisor};
use crate::config::Config;
use crate::layout::Layout;
use crate::wait;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("supervisord exited with {status} at start; its log is {log}")]
    StartFailed { status: String, log: String },
    #[error("supervisord did not answer within {0:?} of being started")]
    NotReady(Duration),
    #[error("supervisord did not stop within {0:?}")]
    StillRunning(Duration),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// supervisord's `showroom.addProgram` (see the file's own header).
const RPC_PLUGIN_SOURCE: &str = include_str!("showroom_rpc.py");

/// True when supervisord answers on its socket.
pub async fn is_running(sup: &Supervisor) -> bool {
    sup.state().await.is_ok()
}

/// Starts supervisord when it is not answering, and waits until it does.
///
/// supervisord daemonizes: the process we spawn exits once the daemon is
/// forked, so showroomd holds no child and a restart of showroomd leaves
/// supervisord (and every demo) running. Its standard streams are
/// /dev/null: it never keeps a caller's terminal or pipe open.
pub async fn start(layout: &Layout, cfg: &Config, sup: &Supervisor) -> Result<bool, ControlError> {
    if is_running(sup).await {
        return Ok(false);
    }
    let conf = layout.supervisord_conf();
    // The main config names the plugin: supervisord refuses to start without it.
    crate::store::write_if_changed(&layout.rpc_plugin(), RPC_PLUGIN_SOURCE)?;
    let status = tokio::process::Command::new(&cfg.supervisord)
        .arg("-c")
        .arg(&conf)
        // systemd's readiness socket is showroomd's: supervisord and the demos must not speak for it.
        .env_remove("NOTIFY_SOCKET")
        .env("PYTHONPATH", layout.supervisor_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(|source| ControlError::Spawn {
            program: cfg.supervisord.display().to_string(),
            source,
        })?;
    if !status.success() {
        return Err(ControlError::StartFailed {
            status: status.to_string(),
            log: layout
                .supervisor_dir()
                .join("supervisord.log")
                .display()
                .to_string(),
        });
    }
    let limit = Duration::from_secs(20);
    let ready = async || sup.state().await.is_ok_and(|s| s == "RUNNING");
    if !wait::until(limit, Duration::from_millis(50), ready).await {
        return Err(ControlError::NotReady(limit));
    }
    info!(config = %conf.display(), "supervisord started");
    Ok(true)
}

/// Stops every process first (supervisord alone stops its groups one by one,
/// slowly), then supervisord, and waits until it no longer answers.
pub async fn stop(sup: &Supervisor) -> Result<bool, ControlError> {
    if !is_running(sup).await {
        return Ok(false);
    }
    if let Err(e) = sup.stop_all_processes().await {
        warn!(error = %e, "stopping all processes before shutdown");
    }
    sup.shutdown().await?;
    let limit = Duration::from_secs(30);
    let gone = async || !is_running(sup).await;
    if !wait::until(limit, Duration::from_millis(50), gone).await {
        return Err(ControlError::StillRunning(limit));
    }
    info!("supervisord stopped");
    Ok(true)
}
