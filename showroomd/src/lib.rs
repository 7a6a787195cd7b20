//! showroomd: the daemon that owns every demo, drives supervisord and Apache, and answers showroomctl.

pub mod access;
pub mod actor;
pub mod apache;
pub mod apache_policy;
pub mod commands;
pub mod config;
pub mod deployer;
pub mod event_receiver;
pub mod frontdoor;
pub mod layout;
pub mod listener;
pub mod notify;
pub mod poller;
pub mod sandbox;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod tail;
pub mod wait;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use config::Config;

/// Runs the daemon until `shutdown` completes, then stops accepting, lets
/// requests in flight finish (deploys get `shutdown_grace_secs`), and
/// returns. supervisord and the demos are left running.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    cfg.validate()?;
    // Before any repair: a second daemon must find the first and change nothing.
    listener::ensure_unused(&cfg.socket)?;
    let _state_lock = store::lock_state(&layout::Layout::new(&cfg.state_dir))?;
    let cfg = Arc::new(cfg);
    let access = Arc::new(access::Access::new(cfg.operator_group.as_deref())?);
    let socket_gid = match &cfg.socket_group {
        None => None,
        Some(g) => Some(
            nix::unistd::Group::from_name(g)?
                .with_context(|| format!("socket_group {g:?} does not exist"))?
                .gid,
        ),
    };
    let jobs_cancel = CancellationToken::new();
    let layout = layout::Layout::new(&cfg.state_dir);
    let sup = supervisor::Supervisor::new(layout.supervisor_socket());
    // Before the first sweep: no event of supervisord's goes unheard after it.
    let hints = match event_receiver::Receiver::start(&layout.events_socket()) {
        Ok(r) => Some(r),
        Err(e) => {
            warn!(error = %e, "no events from supervisord: changes are seen by polling alone");
            None
        }
    };
    let (actor, handle) =
        actor::Actor::start(cfg.clone(), sup.clone(), jobs_cancel.clone()).await?;
    let actor_task = tokio::spawn(actor.run());
    let listener = listener::bind(&cfg.socket, cfg.socket_mode, socket_gid)?;

    let poll_stop = CancellationToken::new();
    let poller_task = tokio::spawn(poller::run(
        sup.clone(),
        handle.clone(),
        cfg.clone(),
        hints,
        poll_stop.clone(),
    ));
    let streams_stop = CancellationToken::new();
    let ctx = Arc::new(commands::Ctx {
        cfg: cfg.clone(),
        layout,
        handle,
        sup,
        streams_stop: streams_stop.clone(),
    });
    info!(socket = %cfg.socket.display(), state = %cfg.state_dir.display(), "showroomd ready");
    notify::ready();

    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tracker.spawn(listener::serve(ctx.clone(), access.clone(), stream));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    notify::stopping();
    info!("shutting down: no new connections, requests in flight finish");
    drop(listener);
    let _ = std::fs::remove_file(&cfg.socket);
    streams_stop.cancel();
    tracker.close();
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!("requests still running after {grace:?}: cutting short the deploys");
    }
    // A deploy whose client went away still runs as a job: cut it short; the
    // actor rolls it back before it stops.
    jobs_cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(15), tracker.wait()).await;
    poll_stop.cancel();
    let _ = poller_task.await;
    drop(ctx);
    let _ = tokio::time::timeout(Duration::from_secs(15), actor_task).await;
    info!("showroomd stopped; supervisord and the demos run on");
    Ok(())
}
