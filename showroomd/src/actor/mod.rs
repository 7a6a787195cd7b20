//! The actor: the one task that mutates showroom's state; it decides, spawns the slow work beside itself, and applies the work's end when it comes back.
//!
//! Requests arrive on a bounded inbox with a oneshot for the answer, which is
//! sent only once the action has happened. A handler checks, writes the
//! records the action needs on disk, marks the demo's operation in the
//! table (`state::Op`) and spawns its I/O (`work.rs`); the work's end comes
//! back as `Msg::Worked` and is applied in one more message. After every
//! change the actor publishes a snapshot (a `watch` channel) from which reads
//! are answered without waiting behind it, and events (a `broadcast`
//! channel) for `watch`.
//!
//! The rooms: this file (inbox, `Handle`, the run loop, publishing,
//! `spawn_work`, `answer`), `state` (the pure state table), `work` (the I/O
//! of each operation, beside the actor), `apache_keeper` (the one owner of
//! the demos' Apache config), `front` (the front door's keeper), `readings`
//! (supervisord's answers into the table), `programs` (the one place program
//! sections are written and applied), `vhosts` (a keeper's round into the
//! table, Apache's retries), `hold` (the requests that wait for a demo's
//! operation), `ops/` (one file per operation), `repair` (what a crash
//! left, at start), `restore` (the demos wanted running, after a fresh
//! supervisord) and `expiry` (the timer that ends demos whose time is up).

mod apache_keeper;
mod expiry;
mod front;
mod hold;
pub mod ops;
mod programs;
mod readings;
mod repair;
mod restore;
pub mod state;
mod vhosts;
mod work;
mod worked;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
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
use crate::sandbox::Sandbox;
use crate::supervisor::{RpcError, Supervisor, Supervisord};

pub use ops::transfer::Unpacked;
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
    /// When the demo expires, from now; None: never.
    Expire(String, Option<u64>),
    /// Stop then start; answers once it runs again.
    Restart(String),
    /// Whether no cleanup and no expiry may touch it.
    Keep(String, bool),
    /// Who may visit the demo through the front door.
    Access(String, ops::access::AccessOp),
    /// How long the demo may idle before it sleeps; None: never.
    SleepAfter(String, Option<u64>),
    /// A request through the front door for a sleeping demo: start it.
    Wake(String),
    /// The waker is done with a wake (its port answers, or it failed): the
    /// front door stops holding its requests for it.
    Woken(String),
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, ProtocolError>>;

pub(super) enum Msg {
    Command(Command, Reply<Response>),
    Deploy(DeployRequest, mpsc::Sender<String>, Reply<DemoInfo>),
    DeployDone {
        name: String,
        outcome: deployer::Outcome,
        reply: Reply<DemoInfo>,
        finish: ops::deploy::Finish,
    },
    Observed(Observation),
    Clone(
        protocol::CloneRequest,
        mpsc::Sender<String>,
        Reply<DemoInfo>,
    ),
    Redeploy(
        protocol::RedeployRequest,
        mpsc::Sender<String>,
        Reply<DemoInfo>,
    ),
    /// A clone's copy of its source ended: the source may run again.
    CloneCopied {
        src: String,
        was_running: bool,
        /// The clone, whose marker names the source while it is stopped.
        name: String,
        /// Told once the source runs again (or its start failed).
        started: oneshot::Sender<()>,
    },
    /// One demo of a restore, checked again at its turn; answers whether
    /// it came back (false: no longer to bring back).
    RestoreOne(String, Reply<bool>),
    /// The checks a start leaves for after `list` answers; first in the inbox.
    FinishChecks(Vec<String>, Option<repair::PendingReading>),
    /// One demo of a cleanup, sent by its task between other requests, with
    /// the filter it is checked against again; answers whether it was destroyed.
    CleanupOne(String, CleanupRequest, Reply<bool>),
    /// A cleanup's last step, once its demos are gone: the leftovers.
    CleanupEnd(ops::cleanup::Batch, Reply<Response>),
    /// An operation's work beside the actor ended: its end to apply.
    Worked(work::Worked),
    /// How the front door serves, from its keeper.
    FrontDoor(protocol::FrontDoorInfo),
    /// A clone's job has its deploy slot: its source is stopped for the
    /// copy now (answers whether it ran), not while the clone waited.
    CloneCopyBegins {
        src: String,
        name: String,
        reply: Reply<bool>,
    },
    /// Archives a demo's folder; answers the archive's path.
    Export(String, Reply<std::path::PathBuf>),
    /// Makes a demo from an unpacked archive.
    Import(
        ops::transfer::Unpacked,
        mpsc::Sender<String>,
        Reply<DemoInfo>,
    ),
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

/// Seconds since the Unix epoch; the unit tests drive it from tokio's paused clock.
pub(crate) type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

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

    /// Redeploys; the script's output lines arrive on `progress` meanwhile.
    pub async fn redeploy(
        &self,
        req: protocol::RedeployRequest,
        progress: mpsc::Sender<String>,
    ) -> Result<DemoInfo, ProtocolError> {
        ask(&self.tx, |reply| Msg::Redeploy(req, progress, reply)).await
    }

    /// Clones; the reconfigure step's output lines arrive on `progress` meanwhile.
    pub async fn clone_demo(
        &self,
        req: protocol::CloneRequest,
        progress: mpsc::Sender<String>,
    ) -> Result<DemoInfo, ProtocolError> {
        ask(&self.tx, |reply| Msg::Clone(req, progress, reply)).await
    }

    /// Archives a demo (stopping its process for the copy); the archive's path.
    pub async fn export(&self, name: String) -> Result<std::path::PathBuf, ProtocolError> {
        ask(&self.tx, |reply| Msg::Export(name, reply)).await
    }

    /// Makes a demo from an unpacked archive; the reconfigure step's output on `progress`.
    pub async fn import(
        &self,
        unpacked: Unpacked,
        progress: mpsc::Sender<String>,
    ) -> Result<DemoInfo, ProtocolError> {
        ask(&self.tx, |reply| Msg::Import(unpacked, progress, reply)).await
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
    clock: Clock,
    /// Demos whose expiry failed, and when (epoch seconds) it is tried again.
    expiry_retry: HashMap<String, u64>,
    /// How demos, deploy scripts and Apache are run.
    sandbox: Arc<Sandbox>,
    /// Which snapshot the front door serves; None when it is off.
    front_served: Option<front::Served>,
    /// Apache's restarts while it is FATAL and wanted.
    apache_retry: vhosts::ApacheRetry,
    /// supervisord lacks showroom's plugin and the log has said so once
    /// (shared with the works that add programs).
    plugin_missing_told: Arc<std::sync::atomic::AtomicBool>,
    /// Deploys' installs, one at a time (shared with their works).
    installs: Arc<tokio::sync::Semaphore>,
    /// The one owner of the demos' Apache config.
    apache: apache_keeper::Keeper,
    /// supervisord was started afresh: once the checks at start are done,
    /// the demos wanted running are brought back.
    restore_after_checks: bool,
    /// The messages acting on a demo whose operation is under way (the
    /// table's `Op`), held in the order they came.
    moving: HashMap<String, VecDeque<Msg>>,
    /// Messages acting on every demo, held until none is in motion.
    held_for_all: VecDeque<Msg>,
    /// Held messages let go, served before the inbox's next.
    released: VecDeque<Msg>,
    /// Each demo's program section as `write_programs` last rendered it:
    /// what `programs.conf` holds.
    sections: BTreeMap<String, String>,
    /// Sources that clones cut short by a crash had stopped for their
    /// copy: started again by the checks at start when wanted running.
    cut_clone_sources: Vec<String>,
    /// Since when (epoch seconds) each demo counts as awake: its idle time
    /// runs from the later of this and its last request.
    awake_since: HashMap<String, u64>,
}

/// Debug builds only, for the end-to-end test that a panic in the actor
/// ends showroomd: a `stop` of the demo `SHOWROOMD_TEST_PANIC_ON_STOP`
/// names panics in the actor.
#[cfg(debug_assertions)]
fn test_panic(msg: &Msg) {
    if let Msg::Command(Command::Stop(name), _) = msg {
        if std::env::var_os("SHOWROOMD_TEST_PANIC_ON_STOP").is_some_and(|v| v == name.as_str()) {
            panic!("test-only panic in the actor (SHOWROOMD_TEST_PANIC_ON_STOP={name})");
        }
    }
}

/// Logs a step of an undo or a clean-up that failed: it leaves a process
/// running, a vhost enabled or a file behind, which the log must say.
pub(super) fn warn_failed<T, E: std::fmt::Display>(r: Result<T, E>, demo: &str, what: &str) {
    if let Err(e) = r {
        warn!(demo, error = %e, "{what} failed");
    }
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
        sandbox: Arc<Sandbox>,
        jobs_cancel: CancellationToken,
    ) -> anyhow::Result<(Actor<S>, Handle)> {
        let (mut actor, handle) = Self::new(cfg, sup, sandbox, jobs_cancel);
        let (rolled_back, first) = actor.recover().await?;
        handle
            .tx
            .try_send(Msg::FinishChecks(rolled_back, first))
            .map_err(|e| anyhow::anyhow!("queueing the checks at start: {e}"))?;
        Ok((actor, handle))
    }

    fn new(
        cfg: Arc<Config>,
        sup: S,
        sandbox: Arc<Sandbox>,
        jobs_cancel: CancellationToken,
    ) -> (Actor<S>, Handle) {
        let layout = Layout::new(&cfg.state_dir);
        let mut state = State::default();
        state.front = crate::frontdoor::Settings::from_config(&cfg, &layout);
        let (tx, inbox) = mpsc::channel(256);
        let (snapshot_tx, snapshot) = watch::channel(Arc::new(Snapshot::default()));
        let (events, _) = broadcast::channel(1024);
        let apache =
            apache_keeper::Keeper::spawn(sup.clone(), layout.clone(), cfg.clone(), sandbox.clone());
        let actor = Actor {
            apache,
            deploy_slots: Arc::new(Semaphore::new(cfg.max_deploy_jobs)),
            cfg,
            layout,
            sup,
            state,
            snapshot_tx,
            events: events.clone(),
            inbox,
            self_tx: tx.downgrade(),
            jobs_cancel,
            clock: Arc::new(crate::store::now_secs),
            expiry_retry: HashMap::new(),
            sandbox,
            front_served: None,
            apache_retry: vhosts::ApacheRetry::default(),
            plugin_missing_told: Arc::default(),
            installs: Arc::new(tokio::sync::Semaphore::new(1)),
            restore_after_checks: false,
            moving: HashMap::new(),
            held_for_all: VecDeque::new(),
            released: VecDeque::new(),
            sections: BTreeMap::new(),
            cut_clone_sources: Vec::new(),
            awake_since: HashMap::new(),
        };
        let handle = Handle {
            tx,
            snapshot,
            events,
        };
        (actor, handle)
    }

    /// Serves the inbox until every handle is gone, and ends demos whose time is up.
    pub async fn run(mut self) {
        self.front_served = front::FrontDoor::spawn(
            self.sup.clone(),
            (self.layout.clone(), self.cfg.clone(), self.sandbox.clone()),
            self.state.front.clone(),
            self.snapshot_tx.subscribe(),
            self.self_tx.clone(),
        );
        // How often the demos idle past their time are looked for.
        let mut sleep_tick = tokio::time::interval(std::time::Duration::from_secs(3));
        sleep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The door's first try (its Apache started) before the first
        // request, as answers say whether a demo is served by name; reads
        // answer from the snapshot meanwhile.
        if let Some(served) = &self.front_served {
            let mut served = served.conf.clone();
            let first = served.wait_for(|s| *s > 0);
            if tokio::time::timeout(std::time::Duration::from_secs(10), first)
                .await
                .is_err()
            {
                warn!("the front door has not come up in 10 s; serving requests meanwhile");
            }
        }
        loop {
            let msg = match self.released.pop_front() {
                Some(msg) => Some(msg),
                None => {
                    let wake = self.expiry_wake();
                    let apache_wake = self.apache_retry_wake();
                    tokio::select! {
                        // A due expiry goes before a queued restore, which then skips what it ended.
                        biased;
                        _ = expiry::sleep_until(wake) => {
                            self.expire_due();
                            continue;
                        }
                        _ = expiry::sleep_until(apache_wake) => {
                            self.apache_retry_now();
                            continue;
                        }
                        _ = sleep_tick.tick() => {
                            self.sleep_idle();
                            continue;
                        }
                        msg = self.inbox.recv() => msg,
                    }
                }
            };
            let Some(msg) = msg else { break };
            #[cfg(debug_assertions)]
            test_panic(&msg);
            let Some(msg) = self.hold(msg) else { continue };
            match msg {
                Msg::Worked(worked) => self.worked(worked).await,
                Msg::FrontDoor(info) => {
                    self.state.front_door = Some(info);
                    self.publish();
                }
                Msg::Export(name, reply) => self.export_begin(name, reply).await,
                Msg::Import(unpacked, progress, reply) => {
                    self.import_begin(unpacked, progress, reply).await;
                }
                Msg::Command(cmd, reply) => {
                    let result = match cmd {
                        // Each answers when its work beside the actor is done, not now.
                        Command::Start(name) => {
                            self.note_awake(&name);
                            self.start_begin(name, work::AfterStart::Reply(reply));
                            continue;
                        }
                        Command::Wake(name) => {
                            self.wake_begin(name, reply);
                            continue;
                        }
                        Command::Stop(name) => {
                            self.stop_begin(name, work::AfterStop::Stop(reply));
                            continue;
                        }
                        Command::Destroy(name) => {
                            self.stop_begin(name, work::AfterStop::Destroy(reply));
                            continue;
                        }
                        Command::SupervisorStart => self.supervisor_start().await,
                        Command::SupervisorStop => self.supervisor_stop().await,
                        // It answers when its task is done, not now.
                        Command::Cleanup(req) => {
                            self.cleanup_begin(req, reply).await;
                            continue;
                        }
                        Command::Expire(name, ttl) => self.expire_in(&name, ttl).await,
                        // It answers once its start is done, as a start does.
                        Command::Restart(name) => {
                            self.restart_begin(name, reply);
                            continue;
                        }
                        Command::Keep(name, keep) => self.keep_demo(&name, keep).await,
                        Command::Access(name, op) => self.access_change(&name, op).await,
                        Command::SleepAfter(name, s) => self.set_sleep_after(&name, s).await,
                        Command::Woken(name) => self.woken(&name),
                    };
                    self.answer(reply, result);
                }
                Msg::FinishChecks(rolled_back, first) => {
                    self.finish_checks(rolled_back, first).await;
                }
                Msg::CleanupOne(name, req, reply) => self.cleanup_one(name, &req, reply),
                Msg::CleanupEnd(batch, reply) => {
                    let report = self.cleanup_end(batch).await;
                    self.answer(reply, Ok(report));
                }
                Msg::Deploy(req, progress, reply) => {
                    self.deploy_begin(req, progress, reply).await;
                }
                Msg::DeployDone {
                    name,
                    outcome,
                    reply,
                    finish,
                } => match finish.redeploy {
                    Some(record) => {
                        let result = self
                            .redeploy_end(&name, outcome, *record, finish.started)
                            .await;
                        self.answer(reply, result);
                    }
                    None => self.deploy_end(&name, outcome, finish, reply).await,
                },
                Msg::Observed(o) => {
                    let events = self.state.observed(o, Instant::now());
                    self.send(events);
                    self.publish();
                }
                Msg::Clone(req, progress, reply) => {
                    self.clone_begin(req, progress, reply).await;
                }
                Msg::Redeploy(req, progress, reply) => {
                    self.redeploy_begin(req, progress, reply).await;
                }
                Msg::CloneCopied {
                    src,
                    was_running,
                    name,
                    started,
                } => self.clone_release(&src, was_running, &name, started),
                Msg::CloneCopyBegins { src, name, reply } => {
                    self.clone_stop_source(src, &name, reply)
                }
                Msg::RestoreOne(name, reply) => self.restore_one(name, reply),
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
        // The name is there, whatever it is (lstat, never followed): a link
        // or a FIFO is a part that its start refuses, with the reason.
        let dir = crate::demofs::DemoDir::open(&self.layout.demo_dir(name)).ok();
        let has = |f: &str| dir.as_ref().is_some_and(|d| d.exists(f));
        DemoView {
            has_process: has(crate::layout::START_SCRIPT),
            has_vhost: has(crate::layout::VHOST),
            enabled: crate::apache::is_enabled(&self.layout, name),
            status: DemoStatus::Unknown,
            reason: String::new(),
            problem: None,
            oom: None,
            record,
        }
    }

    /// Changes a demo's record on disk, then in the table.
    fn update_record(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut crate::store::DemoRecord),
    ) -> Result<(), ProtocolError> {
        let Some(view) = self.state.demos.get(name) else {
            return Err(ProtocolError::no_demo(name));
        };
        let mut record = view.record.clone();
        change(&mut record);
        if record == view.record {
            // Nothing to write: two fsyncs saved (a start of a demo wanted running already).
            return Ok(());
        }
        crate::store::write_record(&self.layout, name, &record)
            .map_err(|e| internal("writing the demo's record", e))?;
        if let Some(view) = self.state.demos.get_mut(name) {
            view.record = record;
        }
        Ok(())
    }

    /// Notes what the operator asked last; a failed write is logged, not
    /// fatal: the action itself happened.
    fn set_wanted(&mut self, name: &str, wanted: protocol::Wanted) {
        if let Err(e) = self.update_record(name, |r| r.wanted = wanted) {
            warn!(demo = name, error = %e.message, "could not record the wanted state");
        }
        self.publish();
    }

    /// A marked, timed line in the demo's output logs (`--- started ---`), so
    /// that `logs` shows where each run began and ended. Appended beside
    /// supervisord's own appends; a failure is logged, never fatal.
    fn mark_logs(&self, name: &str, what: &str) {
        let line = format!("{} --- {what} ---\n", crate::store::stamp_now());
        for stream in ["stdout", "stderr"] {
            let path = self.layout.process_log(name, stream);
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
            if let Err(e) = written {
                warn!(demo = name, log = %path.display(), error = %e, "cannot mark its log");
            }
        }
    }

    /// Recomputes every status, sends change events, and publishes a new snapshot.
    /// Takes in the jail's notes of demos killed by their memory limit:
    /// read only for processes that are down, a few small files at most.
    fn read_oom_notes(&mut self) {
        let Some(jail) = &self.sandbox.jail else {
            return;
        };
        let down = self.state.down_processes();
        let names: Vec<String> = self
            .state
            .demos
            .iter()
            .filter(|(n, d)| d.oom.is_some() || down.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let note = down
                .contains(&name)
                .then(|| std::fs::read_to_string(jail.oom_note(&name)).ok())
                .flatten()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty());
            self.state.set_oom(&name, note);
        }
    }

    fn publish(&mut self) {
        for (program, key, info) in self.state.take_unexplained() {
            let ending = crate::failure::Ending::read(
                &info,
                key.0,
                &self.layout.supervisord_log(),
                &self.layout.process_log(&program, "stderr"),
            );
            self.state.set_ending(&program, key, ending.reason());
        }
        self.read_oom_notes();
        if let Some((snap, events)) = self.state.publish(Instant::now()) {
            self.send(events);
            self.snapshot_tx.send_replace(snap);
        }
    }
}
