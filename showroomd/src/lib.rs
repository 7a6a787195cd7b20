//! showroomd: the daemon that owns every demo, drives supervisord and Apache, and answers showroomctl.

pub mod access;
pub mod access_log;
pub mod actor;
pub mod apache;
pub mod apache_policy;
pub mod commands;
pub mod config;
pub mod deployer;
pub mod event_receiver;
pub mod frontdoor;
pub mod frontdoor_server;
pub mod frontdoor_tls;
pub mod layout;
pub mod listener;
pub mod notify;
pub mod poller;
pub mod sandbox;
pub mod sleep;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod tail;
pub mod visitors;
pub mod wait;
pub mod waker;

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
    // Checked (`Sandbox::probe`) once the state folder is secured, before supervisord starts.
    let sandbox =
        sandbox::Sandbox::for_daemon(cfg.sandbox, &cfg.state_dir, &cfg.socket, &cfg.sandbox_user)
            .context("setting up the sandbox")?;
    info!("{}", sandbox.describe());
    let sandbox = Arc::new(sandbox);
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
    // Before anything opens descriptors in numbers; the cap keeps the
    // clients from taking the ones showroomd needs for its own work.
    let fd_limit = listener::raise_fd_limit(cfg.max_connections);
    let max_connections = cfg
        .max_connections
        .min(fd_limit.saturating_sub(listener::RESERVED_FDS).max(1) as usize);
    if max_connections < cfg.max_connections {
        warn!(
            max_connections,
            configured = cfg.max_connections,
            fd_limit,
            "fewer connections than max_connections: the descriptor limit is too low for more"
        );
    }
    let conns = listener::Connections::new(max_connections);
    // Made before the sandboxes, which hide it (`listener::bind` made it too late).
    if let Some(dir) = cfg.socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
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
        actor::Actor::start(cfg.clone(), sup.clone(), sandbox, jobs_cancel.clone()).await?;
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
    if cfg.front_port != 0 {
        tokio::spawn(access_log::run(
            layout.clone(),
            cfg.domain.clone(),
            cfg.deploy_log_max_bytes,
            streams_stop.clone(),
        ));
        let path = sleep::wake_socket(&layout);
        match waker::bind(&path) {
            Ok(l) => {
                let w = waker::Waker::new(
                    handle.clone(),
                    cfg.max_wake_jobs,
                    Duration::from_secs(cfg.wake_timeout_secs),
                );
                tokio::spawn(w.run(l, streams_stop.clone()));
            }
            Err(e) => warn!(error = %e, "sleeping demos cannot be woken"),
        }
    }
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
    let mut accept_errors = AcceptErrors::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => match conns.admit() {
                    Some(slot) => {
                        tracker.spawn(listener::serve(ctx.clone(), access.clone(), stream, slot));
                    }
                    None => listener::refuse_full(&stream, conns.max()),
                },
                Err(e) => accept_errors.failed(&listener, e).await,
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
    if tokio::time::timeout(Duration::from_secs(3), tracker.wait())
        .await
        .is_err()
    {
        // Clients that do not read their answers: the stop must not wait on them.
        warn!(
            connections = conns.len(),
            "connections still open: closing them"
        );
        conns.close_all();
        let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    }
    poll_stop.cancel();
    let _ = poller_task.await;
    drop(ctx);
    let _ = tokio::time::timeout(Duration::from_secs(15), actor_task).await;
    info!("showroomd stopped; supervisord and the demos run on");
    Ok(())
}

/// What the accept loop does when `accept` fails: out of descriptors, the
/// waiting connection would make every later `accept` fail at once, so a
/// spare descriptor is given up to take it and close it, then taken back;
/// and the log gets one line per burst, not one per failure.
struct AcceptErrors {
    spare: Option<std::fs::File>,
    last_warned: Option<std::time::Instant>,
    since_warned: u64,
}

impl AcceptErrors {
    fn new() -> Self {
        AcceptErrors {
            spare: std::fs::File::open("/dev/null").ok(),
            last_warned: None,
            since_warned: 0,
        }
    }

    async fn failed(&mut self, listener: &tokio::net::UnixListener, e: std::io::Error) {
        use futures_util::FutureExt;
        let out_of_fds = matches!(
            e.raw_os_error().map(nix::errno::Errno::from_raw),
            Some(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE)
        );
        if out_of_fds && self.spare.take().is_some() {
            // The connection that failed is still waiting: take it with the spare descriptor and close it.
            if let Some(Ok((stream, _))) = listener.accept().now_or_never() {
                drop(stream);
            }
            self.spare = std::fs::File::open("/dev/null").ok();
        } else {
            // Anything else (or no spare to give): let the cause pass before trying again.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.since_warned += 1;
        let now = std::time::Instant::now();
        if self
            .last_warned
            .is_none_or(|t| now - t >= Duration::from_secs(10))
        {
            warn!(error = %e, failures = self.since_warned, "accept failed");
            self.last_warned = Some(now);
            self.since_warned = 0;
        }
    }
}
