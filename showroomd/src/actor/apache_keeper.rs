//! The one owner of the demos' Apache config: every operation hands it the vhosts to enable or disable, and it applies a burst of them with one config test and one reload, then tells each what was enabled and what was refused.
//!
//! It runs as a task of its own, beside the actor: an operation's work
//! awaits it, the actor never does. Jobs that arrive while one apply runs
//! are taken together at the next round, so 50 stops coming at once cost
//! Apache one test and one graceful reload, not 50.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, ProtocolError};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::vhosts::{apache_error, holds_no_port};
use super::{sup_error, Observation};
use crate::apache::{self, ApacheError};
use crate::config::Config;
use crate::layout::Layout;
use crate::sandbox::Sandbox;
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::codes;
use crate::supervisor::{ok_if, Supervisord};
use crate::{tail, wait};

/// One change to the set of enabled vhosts.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// The demo's vhost, as checked and tested, made live.
    Enable { name: String, text: String },
    /// The demo's vhost taken out.
    Disable(String),
}

/// What one round did, as each operation of the round is told.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    /// Vhosts left out so that Apache serves the others, with why
    /// (refused by its config test, or a port another program holds).
    pub disabled: Vec<(String, String)>,
    /// The demos whose copy a `Disable` removed (it had one).
    pub removed: Vec<String>,
    /// Apache's state as read after the round, for the table.
    pub reading: Option<Observation>,
}

/// Where a round's outcome goes.
type Answer = oneshot::Sender<Result<Applied, ProtocolError>>;

enum Job {
    /// Changes to make live (none: bring Apache in line with the copies).
    Apply { changes: Vec<Change>, reply: Answer },
    /// A vhost about to be enabled, tested with the enabled ones; answers
    /// the enabled ones it had to disable first (Apache refuses them alone).
    TestNew {
        name: String,
        text: String,
        reply: oneshot::Sender<Result<Vec<(String, String)>, ProtocolError>>,
    },
    /// Apache's state once it is not STARTING.
    Settle {
        reply: oneshot::Sender<Option<DemoStatus>>,
    },
}

/// The handle operations hold; cheap to clone.
#[derive(Clone)]
pub(crate) struct Keeper {
    tx: mpsc::UnboundedSender<Job>,
}

fn gone() -> ProtocolError {
    ProtocolError::new(ErrorKind::Busy, "showroomd is shutting down")
}

impl Keeper {
    /// Starts the task; it ends when every handle is gone.
    pub(crate) fn spawn<S: Supervisord>(
        sup: S,
        layout: Layout,
        cfg: Arc<Config>,
        sandbox: Arc<Sandbox>,
    ) -> Keeper {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            sup,
            layout,
            cfg,
            sandbox,
        };
        tokio::spawn(task.run(rx));
        Keeper { tx }
    }

    /// Makes `changes` live (with whatever else came meanwhile); answers once Apache serves them.
    pub(crate) async fn apply(&self, changes: Vec<Change>) -> Result<Applied, ProtocolError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Apply { changes, reply })
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Tests a vhost about to be enabled (see `Job::TestNew`).
    pub(crate) async fn test_new(
        &self,
        name: &str,
        text: &str,
    ) -> Result<Vec<(String, String)>, ProtocolError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::TestNew {
                name: name.to_owned(),
                text: text.to_owned(),
                reply,
            })
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Apache's state once settled (None: supervisord does not know it).
    pub(crate) async fn settle(&self) -> Option<DemoStatus> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job::Settle { reply }).ok()?;
        rx.await.ok().flatten()
    }
}

struct Task<S> {
    sup: S,
    layout: Layout,
    cfg: Arc<Config>,
    sandbox: Arc<Sandbox>,
}

impl<S: Supervisord> Task<S> {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = rx.recv().await {
            // Everything that came while the last round ran is one burst.
            let mut jobs = vec![first];
            while let Ok(more) = rx.try_recv() {
                jobs.push(more);
            }
            let mut applies = Vec::new();
            for job in jobs {
                match job {
                    Job::Apply { changes, reply } => applies.push((changes, reply)),
                    Job::TestNew { name, text, reply } => {
                        let _ = reply.send(self.test_new(&name, &text).await);
                    }
                    Job::Settle { reply } => {
                        let _ = reply.send(self.settle().await);
                    }
                }
            }
            if applies.is_empty() {
                continue;
            }
            let result = self.round(&applies).await;
            if applies.len() > 1 {
                info!(
                    changes = applies.len(),
                    "one Apache config test and reload for a burst of changes"
                );
            }
            for (_, reply) in applies {
                let _ = reply.send(result.clone());
            }
        }
    }

    /// One round: every change written, then one apply (skipped when the
    /// changes changed nothing and none asked for an apply as such).
    async fn round(&self, applies: &[(Vec<Change>, Answer)]) -> Result<Applied, ProtocolError> {
        let mut applied = Applied::default();
        let mut needed = applies.iter().any(|(c, _)| c.is_empty());
        for change in applies.iter().flat_map(|(c, _)| c) {
            match change {
                Change::Enable { name, text } => {
                    apache::enable(&self.layout, name, text).map_err(apache_error)?;
                    needed = true;
                }
                Change::Disable(name) => {
                    if apache::remove_copy(&self.layout, name).map_err(apache_error)? {
                        applied.removed.push(name.clone());
                        needed = true;
                    }
                }
            }
        }
        if !needed {
            return Ok(applied);
        }
        let disabled = self.apply().await?;
        applied.disabled = disabled;
        applied.reading = self.reading().await;
        Ok(applied)
    }

    async fn reading(&self) -> Option<Observation> {
        let taken = Instant::now();
        match self.sup.process_info(APACHE_PROGRAM).await {
            Ok(info) => Some(Observation::Processes {
                infos: vec![info],
                complete: false,
                taken,
            }),
            Err(e) if e.is_unreachable() => Some(Observation::SupervisorDown {
                why: e.to_string(),
                taken,
            }),
            Err(_) => None,
        }
    }

    async fn state(&self) -> Option<DemoStatus> {
        self.sup
            .process_info(APACHE_PROGRAM)
            .await
            .ok()
            .map(|i| crate::status::from_supervisor(&i.statename))
    }

    /// Apache's state once it is not STARTING (or after 5 s): a USR1 before
    /// it has set up its signal handlers would kill it.
    async fn settle(&self) -> Option<DemoStatus> {
        let poll = wait::Poll::new(Duration::from_secs(5), Duration::from_millis(100));
        loop {
            let s = self.state().await;
            if s != Some(DemoStatus::Starting) || !poll.next().await {
                return s;
            }
        }
    }

    /// Makes the running Apache serve exactly the enabled vhosts: a graceful
    /// reload when it runs, a start when it does not, a stop when none is
    /// left. The config test runs first, every time; vhosts that would take
    /// the others down are disabled first, and returned with the reason.
    async fn apply(&self) -> Result<Vec<(String, String)>, ProtocolError> {
        let state = self.settle().await;
        let mut disabled = Vec::new();
        // Only an Apache that holds no port leaves a taken one to another program.
        if holds_no_port(state) {
            disabled.extend(apache::prune_taken_ports(&self.layout));
        }
        let mut tested = false;
        if !apache::enabled_names(&self.layout).is_empty() {
            tested = apache::config_test(&self.layout, &self.cfg, &self.sandbox, None)
                .await
                .is_ok();
            if !tested {
                disabled
                    .extend(apache::prune_rejected(&self.layout, &self.cfg, &self.sandbox).await);
            }
        }
        self.serve(state, tested).await?;
        Ok(disabled)
    }

    /// Stops, reloads or starts Apache for the copies now in place.
    async fn serve(&self, state: Option<DemoStatus>, tested: bool) -> Result<(), ProtocolError> {
        let running = matches!(state, Some(DemoStatus::Running | DemoStatus::Starting));
        let links = apache::enabled_names(&self.layout);
        if links.is_empty() {
            if running || state == Some(DemoStatus::Backoff) {
                ok_if(
                    self.sup.stop_process(APACHE_PROGRAM).await,
                    &[codes::NOT_RUNNING],
                )
                .map_err(sup_error)?;
                info!("Apache stopped: no vhost is enabled");
            }
            return Ok(());
        }
        if !tested {
            apache::config_test(&self.layout, &self.cfg, &self.sandbox, None)
                .await
                .map_err(apache_error)?;
        }
        if state == Some(DemoStatus::Running) {
            graceful(&self.sup, &self.sandbox, APACHE_PROGRAM).await?;
            info!(vhosts = links.len(), "Apache reloaded gracefully");
        } else {
            apache::remove_stale_pid_files(&self.layout);
            match self.sup.start_process(APACHE_PROGRAM).await {
                Ok(()) => info!(vhosts = links.len(), "Apache started"),
                Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => {}
                Err(e) => {
                    let log = self.layout.apache_logs().join("error.log");
                    let (tail, _) = tail::last_lines(&log, 5, 16 * 1024);
                    warn!(error = %e, "Apache did not start");
                    return Err(ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        "Apache could not start",
                    )
                    .with_detail(format!("{e}\n{}", tail.trim_end())));
                }
            }
        }
        Ok(())
    }

    /// Tests a vhost about to be enabled, with the ones enabled already. A
    /// failure is charged to this demo only when the enabled ones pass
    /// without it; an enabled copy Apache now refuses on its own is
    /// disabled first (named in the log), so that one demo gone bad never
    /// blocks the others' starts.
    async fn test_new(
        &self,
        name: &str,
        text: &str,
    ) -> Result<Vec<(String, String)>, ProtocolError> {
        let staged = apache::stage(&self.layout, name, text).map_err(apache_error)?;
        let mut pruned = Vec::new();
        loop {
            let msg =
                match apache::config_test(&self.layout, &self.cfg, &self.sandbox, Some(&staged))
                    .await
                {
                    Ok(()) => return Ok(pruned),
                    Err(ApacheError::Rejected(msg)) => msg,
                    Err(e) => return Err(apache_error(e)),
                };
            if apache::config_test(&self.layout, &self.cfg, &self.sandbox, None)
                .await
                .is_ok()
            {
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("Apache refused the virtual host of demo {name}"),
                )
                .with_detail(msg));
            }
            if !pruned.is_empty() {
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("Apache refuses the virtual hosts already enabled, not only {name}'s"),
                )
                .with_detail(msg));
            }
            for (other, why) in apache::prune_rejected(&self.layout, &self.cfg, &self.sandbox).await
            {
                warn!(demo = %other, reason = %why, starting = name, "disabled an enabled vhost Apache now refuses, so that {name} can start");
                pruned.push((other, why));
            }
            if pruned.is_empty() {
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("Apache refuses the virtual hosts already enabled, not only {name}'s"),
                )
                .with_detail(msg));
            }
        }
    }
}

/// An Apache's graceful reload (SIGUSR1 to its master; `program`: the
/// demos' or the front door's). In the sandbox, supervisord's pid is
/// bwrap's, which does not forward signals and dies of USR1: the signal
/// goes to Apache, PID 1 of the sandbox, directly.
pub(crate) async fn graceful<S: Supervisord>(
    sup: &S,
    sandbox: &Sandbox,
    program: &str,
) -> Result<(), ProtocolError> {
    if !sandbox.enabled {
        return sup.signal_process(program, "USR1").await.map_err(sup_error);
    }
    let bwrap = sup.process_info(program).await.map_err(sup_error)?.pid;
    let master = i32::try_from(bwrap)
        .ok()
        .and_then(crate::sandbox::main_pid)
        .ok_or_else(|| {
            ProtocolError::new(
                ErrorKind::Internal,
                format!("cannot find Apache's master in its sandbox (bwrap pid {bwrap})"),
            )
        })?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .map_err(|e| {
        ProtocolError::new(
            ErrorKind::Internal,
            format!("signalling Apache's master (pid {master}) to reload: {e}"),
        )
    })
}
