//! showroomd: the daemon that owns every demo, drives supervisord and Apache, and answers showroomctl.

pub mod access;
pub mod access_log;
pub mod actor;
pub mod apache;
pub mod apache_policy;
pub mod client_stream;
pub mod commands;
pub mod config;
pub mod demofs;
pub mod deployer;
pub mod event_receiver;
pub mod failure;
pub mod frontdoor;
pub mod frontdoor_server;
pub mod frontdoor_tls;
pub mod layout;
pub mod listener;
pub mod notify;
pub mod poller;
pub mod ports;
pub mod readiness;
pub mod sandbox;
pub mod sleep;
pub mod stamp;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod tail;
pub mod upgrade;
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
    // Before supervisord, the state, anything: a socket folder another user
    // can write is a socket they can swap.
    listener::secure_socket_dir(&cfg.socket)?;
    // Before any repair: a second daemon must find the first and change nothing.
    listener::ensure_unused(&cfg.socket)?;
    // Before the lock, which makes a file: a newer format is refused unchanged.
    let found = upgrade::check(&layout::Layout::new(&cfg.state_dir))?;
    let _state_lock = store::lock_state(&layout::Layout::new(&cfg.state_dir))?;
    // Checked (`Sandbox::probe`) once the state folder is secured, before supervisord starts.
    let sandbox =
        sandbox::Sandbox::for_daemon(cfg.sandbox, &cfg.state_dir, &cfg.socket, &cfg.sandbox_user)
            .context("setting up the sandbox")?;
    info!("{}", sandbox.describe());
    let mut sandbox = sandbox;
    sandbox.jail = Some(sandbox::Jail::for_daemon(&cfg, &sandbox)?);
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
    upgrade::take_over(&layout, &sandbox, found).await?;
    // Archives of imports and exports a stop cut short.
    match std::fs::remove_dir_all(layout.archives()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            warn!(error = %e, "cannot empty the archives a stop cut short: they stay until the next start")
        }
        _ => {}
    }
    let (actor, handle) = actor::Actor::start(
        cfg.clone(),
        sup.clone(),
        sandbox.clone(),
        jobs_cancel.clone(),
    )
    .await?;
    upgrade::write(&layout).context("writing the state folder's format")?;
    let mut actor_task = tokio::spawn(actor.run());
    let listener = listener::bind(&cfg.socket, cfg.socket_mode, socket_gid)?;

    let poll_stop = CancellationToken::new();
    let mut poller_task = tokio::spawn(poller::run(
        sup.clone(),
        handle.clone(),
        cfg.clone(),
        hints,
        poll_stop.clone(),
    ));
    tokio::spawn(apache::cap_logs_every(
        layout.clone(),
        Duration::from_secs(30),
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
                    layout.demos(),
                    sandbox.jail.as_ref().is_some_and(|j| j.pasta.is_some()),
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
        sandbox,
    });
    info!(socket = %cfg.socket.display(), state = %cfg.state_dir.display(), "showroomd ready");
    notify::ready();

    let tracker = TaskTracker::new();
    let mut accept_errors = AcceptErrors::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            // Without the actor every request would be answered "shutting
            // down" for ever, and without the poller nothing is seen: end,
            // so that systemd restarts showroomd and the start repairs.
            end = &mut actor_task => return Err(ended("the actor", end)),
            end = &mut poller_task => return Err(ended("the poller", end)),
            _ = PANICKED.notified() => {
                return Err(anyhow::anyhow!("a task of showroomd panicked (its message is logged above): ending showroomd"))
            }
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

/// Told by the panic hook (`install_panic_hook`) that some task panicked.
static PANICKED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Logs every panic (its message and where) through `tracing`, and makes
/// `run` end with an error: a task that panicked leaves its work undone (a
/// reply never sent, a demo held for ever), and only a restart, which
/// repairs from what is on disk, makes showroomd whole again. For the
/// daemon's binary only: a test process must not end on its tests' panics.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|p| {
        let message = p
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let location = p.location().map_or_else(String::new, |l| {
            format!("{}:{}:{}", l.file(), l.line(), l.column())
        });
        let thread = std::thread::current();
        tracing::error!(
            panic = %message,
            %location,
            thread = thread.name().unwrap_or("?"),
            "showroomd panicked: it ends (systemd starts it again, and the start repairs)"
        );
        // A permit is kept when `run` is not waiting yet.
        PANICKED.notify_one();
    }));
}

/// Why a task showroomd needs ended while it was serving.
fn ended(what: &str, end: Result<(), tokio::task::JoinError>) -> anyhow::Error {
    match end {
        Ok(()) => anyhow::anyhow!("{what} stopped while showroomd was serving: ending showroomd"),
        Err(e) if e.is_panic() => {
            anyhow::anyhow!("{what} panicked (its message is logged above): ending showroomd")
        }
        Err(e) => anyhow::anyhow!("{what} ended: {e}: ending showroomd"),
    }
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
