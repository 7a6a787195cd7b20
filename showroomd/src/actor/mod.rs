//! The actor: the one task that mutates showroom's state, one deploy/start/stop/destroy at a time.
//!
//! Requests arrive on a bounded inbox with a oneshot for the answer, which is
//! sent only once the action has happened. After every change the actor
//! publishes a snapshot (a `watch` channel) from which reads are answered
//! without waiting behind it, and events (a `broadcast` channel) for `watch`.
//!
//! The rooms: this file (inbox, `Handle`, the run loop, publishing),
//! `state` (the pure state table), `readings` (supervisord's answers into
//! the table), `programs` (the one place program sections are written and
//! applied), `vhosts` (the one place Apache's config is applied), `ops/`
//! (one file per operation) and `repair` (what a crash left, at start).

mod ops;
mod programs;
mod readings;
mod repair;
pub mod state;
mod vhosts;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use protocol::{
    CleanupRequest, DemoInfo, DemoStatus, DeployRequest, ErrorKind, Event, EventKind,
    ProtocolError, Response,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::deployer;
use crate::layout::Layout;
use crate::supervisor::{RpcError, Supervisor, Supervisord};

use state::State;
pub use state::{DemoView, Observation, Snapshot};

/// The mutating commands; each is carried out by its file under `ops/`.
#[derive(Debug)]
pub enum Command {
    Start(String),
    Stop(String),
    Destroy(String),
    SupervisorStart,
    SupervisorStop,
    Cleanup(CleanupRequest),
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, ProtocolError>>;

pub(super) enum Msg {
    Command(Command, Reply<Response>),
    Deploy(DeployRequest, mpsc::Sender<String>, Reply<DemoInfo>),
    DeployDone {
        name: String,
        outcome: deployer::Outcome,
        reply: Reply<DemoInfo>,
    },
    Observed(Observation),
    /// The checks a start leaves for after `list` answers; first in the inbox.
    FinishChecks(Vec<String>, Option<repair::PendingReading>),
    /// One demo of a cleanup, sent by its task between other requests.
    CleanupOne(String, Reply<Response>),
    /// A cleanup's last step, once its demos are gone: the leftovers.
    CleanupEnd(ops::cleanup::Batch, Reply<Response>),
}

/// Sends one request through the inbox and waits for its answer.
pub(super) async fn ask<T>(
    tx: &mpsc::Sender<Msg>,
    msg: impl FnOnce(Reply<T>) -> Msg,
) -> Result<T, ProtocolError> {
    let (reply, rx) = oneshot::channel();
    tx.send(msg(reply)).await.map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

/// The clonable side of the actor that connections and the poller hold.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Msg>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    events: broadcast::Sender<Event>,
}

fn gone() -> ProtocolError {
    ProtocolError::new(ErrorKind::Busy, "showroomd is shutting down")
}

impl Handle {
    /// Carries out a mutating command; answers once it happened.
    pub async fn command(&self, cmd: Command) -> Result<Response, ProtocolError> {
        ask(&self.tx, |reply| Msg::Command(cmd, reply)).await
    }

    /// Deploys; the script's output lines arrive on `progress` meanwhile.
    pub async fn deploy(
        &self,
        req: DeployRequest,
        progress: mpsc::Sender<String>,
    ) -> Result<DemoInfo, ProtocolError> {
        ask(&self.tx, |reply| Msg::Deploy(req, progress, reply)).await
    }

    pub async fn observe(&self, o: Observation) -> bool {
        self.tx.send(Msg::Observed(o)).await.is_ok()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

pub struct Actor<S = Supervisor> {
    cfg: Arc<Config>,
    layout: Layout,
    sup: S,
    state: State,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    events: broadcast::Sender<Event>,
    inbox: mpsc::Receiver<Msg>,
    /// For deploy jobs to report their end.
    self_tx: mpsc::WeakSender<Msg>,
    deploy_slots: Arc<Semaphore>,
    /// Cancelled when deploys still running at shutdown must be cut short.
    jobs_cancel: CancellationToken,
    /// supervisord lacks showroom's plugin and the log has said so once.
    plugin_missing_told: bool,
}

fn sup_error(e: RpcError) -> ProtocolError {
    if e.is_unreachable() {
        ProtocolError::new(
            ErrorKind::Supervisor,
            "supervisord is not running (start it with `showroomctl supervisor start`)",
        )
        .with_detail(e.to_string())
    } else {
        ProtocolError::new(ErrorKind::Supervisor, e.to_string())
    }
}

fn internal(context: &str, e: impl std::fmt::Display) -> ProtocolError {
    error!("{context}: {e}");
    ProtocolError::new(ErrorKind::Internal, format!("{context}: {e}"))
}

impl<S: Supervisord> Actor<S> {
    /// Builds the actor from what is on disk, repairing what a crash left
    /// half done, and brings supervisord up. Returns the actor and its handle
    /// as soon as a snapshot can be published; the slower checks (groups,
    /// Apache) are its first message, so reads answer meanwhile.
    pub async fn start(
        cfg: Arc<Config>,
        sup: S,
        jobs_cancel: CancellationToken,
    ) -> anyhow::Result<(Actor<S>, Handle)> {
        let (mut actor, handle) = Self::new(cfg, sup, jobs_cancel);
        let (rolled_back, first) = actor.recover().await?;
        handle
            .tx
            .try_send(Msg::FinishChecks(rolled_back, first))
            .map_err(|e| anyhow::anyhow!("queueing the checks at start: {e}"))?;
        Ok((actor, handle))
    }

    fn new(cfg: Arc<Config>, sup: S, jobs_cancel: CancellationToken) -> (Actor<S>, Handle) {
        let layout = Layout::new(&cfg.state_dir);
        let (tx, inbox) = mpsc::channel(256);
        let (snapshot_tx, snapshot) = watch::channel(Arc::new(Snapshot::default()));
        let (events, _) = broadcast::channel(1024);
        let actor = Actor {
            deploy_slots: Arc::new(Semaphore::new(cfg.max_deploy_jobs)),
            cfg,
            layout,
            sup,
            state: State::default(),
            snapshot_tx,
            events: events.clone(),
            inbox,
            self_tx: tx.downgrade(),
            jobs_cancel,
            plugin_missing_told: false,
        };
        let handle = Handle {
            tx,
            snapshot,
            events,
        };
        (actor, handle)
    }

    /// Serves the inbox until every handle is gone.
    pub async fn run(mut self) {
        while let Some(msg) = self.inbox.recv().await {
            match msg {
                Msg::Command(cmd, reply) => {
                    let result = match cmd {
                        Command::Start(name) => self.start_demo(&name).await,
                        Command::Stop(name) => self.stop_demo(&name).await,
                        Command::Destroy(name) => self.destroy_demo(&name).await,
                        Command::SupervisorStart => self.supervisor_start().await,
                        Command::SupervisorStop => self.supervisor_stop().await,
                        // It answers when its task is done, not now.
                        Command::Cleanup(req) => {
                            self.cleanup_begin(req, reply).await;
                            continue;
                        }
                    };
                    let _ = reply.send(result);
                }
                Msg::FinishChecks(rolled_back, first) => {
                    self.finish_checks(rolled_back, first).await
                }
                Msg::CleanupOne(name, reply) => {
                    let _ = reply.send(self.cleanup_one(&name).await);
                }
                Msg::CleanupEnd(batch, reply) => {
                    let _ = reply.send(Ok(self.cleanup_end(batch).await));
                }
                Msg::Deploy(req, progress, reply) => self.deploy_begin(req, progress, reply).await,
                Msg::DeployDone {
                    name,
                    outcome,
                    reply,
                } => {
                    let result = self.deploy_end(&name, outcome).await;
                    let _ = reply.send(result);
                }
                Msg::Observed(o) => {
                    let events = self.state.observed(o, Instant::now());
                    self.send(events);
                    self.publish();
                }
            }
        }
        info!("actor stopped");
    }

    /// Sends events to the watchers, and says in the log what they say.
    fn send(&self, events: Vec<Event>) {
        for e in events {
            let demo = e.demo.as_deref().unwrap_or("");
            match &e.kind {
                EventKind::StateChanged { from, to }
                    if matches!(to, DemoStatus::Backoff | DemoStatus::Fatal) =>
                {
                    warn!(demo, %from, %to, "demo process is failing")
                }
                EventKind::StateChanged { from, to } => {
                    info!(demo, %from, %to, "demo changed state")
                }
                EventKind::SupervisorUp => info!("supervisord is answering"),
                EventKind::SupervisorDown => {
                    warn!(reason = %e.detail, "supervisord is not answering")
                }
                _ => {}
            }
            let _ = self.events.send(e);
        }
    }

    fn emit(&self, demo: Option<&str>, kind: EventKind, detail: impl Into<String>) {
        self.send(vec![state::event(demo, kind, detail)]);
    }

    /// Reads one demo's folder into a view.
    fn load_view(&self, name: &str, record: crate::store::DemoRecord) -> DemoView {
        DemoView {
            has_process: self.layout.start_script(name).is_file(),
            has_vhost: self.layout.vhost(name).is_file(),
            linked: crate::apache::is_linked(&self.layout, name),
            status: DemoStatus::Unknown,
            record,
        }
    }

    /// Recomputes every status, sends change events, and publishes a new snapshot.
    fn publish(&mut self) {
        if let Some((snap, events)) = self.state.publish(Instant::now()) {
            self.send(events);
            self.snapshot_tx.send_replace(snap);
        }
    }
}
