//! The actor: the one task that mutates showroom's state, one deploy/start/stop/destroy at a time.
//!
//! Requests arrive on a bounded inbox with a oneshot for the answer, which is
//! sent only once the action has happened. After every change the actor
//! publishes a snapshot (a `watch` channel) from which reads are answered
//! without waiting behind it, and events (a `broadcast` channel) for `watch`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
use crate::status::{self, Parts};
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::{codes, ProcessInfo, RpcError};
use crate::supervisor::Supervisor;

/// How long a demo counts as "just started" and is polled often.
const HOT_FOR: Duration = Duration::from_secs(15);

/// One demo as the actor knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoView {
    pub record: DemoRecord,
    pub has_process: bool,
    pub has_vhost: bool,
    pub linked: bool,
    pub status: DemoStatus,
}

impl DemoView {
    pub fn info(&self, name: &str) -> DemoInfo {
        DemoInfo {
            name: name.to_owned(),
            app: self.record.app.clone(),
            port: self.record.port,
            status: self.status,
            comment: self.record.comment.clone(),
            created: self.record.created,
            params: self
                .record
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// What reads are answered from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub demos: BTreeMap<String, DemoView>,
    pub supervisor_up: bool,
    /// Programs the poller watches closely (starting, backing off, just started).
    pub hot: Vec<String>,
}

impl Snapshot {
    pub fn list(&self) -> Vec<DemoInfo> {
        self.demos.iter().map(|(n, d)| d.info(n)).collect()
    }
}

/// The mutating commands. Each is carried out in its own file under `commands/`.
#[derive(Debug)]
pub enum Command {
    Start(String),
    Stop(String),
    Destroy(String),
    SupervisorStart,
    SupervisorStop,
    Cleanup(CleanupRequest),
}

/// What the poller saw, and when it asked (`taken`): a reading older than
/// what the actor already knows (it acted since, and read the result) is
/// dropped, so a poll that raced a `stop` never undoes it.
#[derive(Debug)]
pub enum Observation {
    /// `complete` when this is every process supervisord has.
    Processes {
        infos: Vec<ProcessInfo>,
        complete: bool,
        taken: Instant,
    },
    SupervisorDown {
        why: String,
        taken: Instant,
    },
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ProtocolError>>;

pub(crate) enum Msg {
    Command(Command, Reply<Response>),
    Deploy(DeployRequest, mpsc::Sender<String>, Reply<DemoInfo>),
    DeployDone {
        name: String,
        outcome: deployer::Outcome,
        reply: Reply<DemoInfo>,
    },
    Observed(Observation),
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
    pub async fn command(&self, cmd: Command) -> Result<Response, ProtocolError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Command(cmd, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Deploys; the script's output lines arrive on `progress` meanwhile.
    pub async fn deploy(
        &self,
        req: DeployRequest,
        progress: mpsc::Sender<String>,
    ) -> Result<DemoInfo, ProtocolError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Deploy(req, progress, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
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

pub struct Actor {
    pub(crate) cfg: Arc<Config>,
    pub(crate) layout: Layout,
    pub(crate) sup: Supervisor,
    pub(crate) demos: BTreeMap<String, DemoView>,
    /// Last known supervisord state of each program, Apache's included.
    pub(crate) procs: HashMap<String, DemoStatus>,
    /// When what `procs` holds of each program was read from supervisord.
    procs_seen: HashMap<String, Instant>,
    pub(crate) supervisor_up: bool,
    /// When `supervisor_up` was last read.
    supervisor_seen: Option<Instant>,
    /// Demos whose program section changed while they ran: their group is
    /// added again at their next stop.
    pub(crate) stale_sections: std::collections::HashSet<String>,
    /// Until when a program counts as just started.
    hot_until: HashMap<String, Instant>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    events: broadcast::Sender<Event>,
    inbox: mpsc::Receiver<Msg>,
    /// For deploy jobs to report their end.
    pub(crate) self_tx: mpsc::WeakSender<Msg>,
    pub(crate) deploy_slots: Arc<Semaphore>,
    /// Cancelled when deploys still running at shutdown must be cut short.
    pub(crate) jobs_cancel: CancellationToken,
}

pub(crate) fn sup_error(e: RpcError) -> ProtocolError {
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

pub(crate) fn internal(context: &str, e: impl std::fmt::Display) -> ProtocolError {
    error!("{context}: {e}");
    ProtocolError::new(ErrorKind::Internal, format!("{context}: {e}"))
}

impl Actor {
    /// Builds the actor from what is on disk, repairing what a crash left
    /// half done, and brings supervisord up. Returns the actor and its handle.
    pub async fn start(
        cfg: Arc<Config>,
        jobs_cancel: CancellationToken,
    ) -> anyhow::Result<(Actor, Handle)> {
        let layout = Layout::new(&cfg.state_dir);
        let sup = Supervisor::new(layout.supervisor_socket());
        let (tx, inbox) = mpsc::channel(256);
        let (snapshot_tx, snapshot) = watch::channel(Arc::new(Snapshot::default()));
        let (events, _) = broadcast::channel(1024);
        let mut actor = Actor {
            deploy_slots: Arc::new(Semaphore::new(cfg.max_deploy_jobs)),
            cfg,
            layout,
            sup,
            demos: BTreeMap::new(),
            procs: HashMap::new(),
            procs_seen: HashMap::new(),
            supervisor_up: false,
            supervisor_seen: None,
            stale_sections: Default::default(),
            hot_until: HashMap::new(),
            snapshot_tx,
            events: events.clone(),
            inbox,
            self_tx: tx.downgrade(),
            jobs_cancel,
        };
        actor.recover().await?;
        let handle = Handle {
            tx,
            snapshot,
            events,
        };
        Ok((actor, handle))
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
                        Command::Cleanup(req) => self.cleanup(req).await,
                    };
                    let _ = reply.send(result);
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
                Msg::Observed(o) => self.observed(o),
            }
        }
        info!("actor stopped");
    }

    pub(crate) fn emit(&self, demo: Option<&str>, kind: EventKind, detail: impl Into<String>) {
        let _ = self.events.send(Event {
            at: store::now_secs(),
            demo: demo.map(str::to_owned),
            kind,
            detail: detail.into(),
        });
    }

    pub(crate) fn mark_hot(&mut self, program: &str) {
        self.hot_until
            .insert(program.to_owned(), Instant::now() + HOT_FOR);
    }

    /// Apache's state in supervisord, as last seen.
    pub(crate) fn apache_state(&self) -> Option<DemoStatus> {
        self.procs.get(APACHE_PROGRAM).copied()
    }

    /// Recomputes every status, sends change events, and publishes a new snapshot.
    pub(crate) fn publish(&mut self) {
        let apache = self.apache_state();
        let up = self.supervisor_up;
        let previous = self.snapshot_tx.borrow().clone();
        for (name, d) in self.demos.iter_mut() {
            let process = d
                .has_process
                .then(|| self.procs.get(name.as_str()).copied());
            d.status = status::demo_status(Parts {
                deploying: d.record.phase == Phase::Deploying,
                has_port: d.record.port.is_some(),
                process,
                vhost_linked: d.has_vhost.then_some(d.linked),
                apache,
                supervisor_up: up,
            });
        }
        let now = Instant::now();
        self.hot_until.retain(|_, t| *t > now);
        let mut hot: Vec<String> = self.hot_until.keys().cloned().collect();
        for (program, s) in &self.procs {
            if matches!(
                s,
                DemoStatus::Starting | DemoStatus::Backoff | DemoStatus::Stopping
            ) && !hot.contains(program)
            {
                hot.push(program.clone());
            }
        }
        hot.sort();
        let snap = Snapshot {
            demos: self.demos.clone(),
            supervisor_up: up,
            hot,
        };
        if *previous == snap {
            return;
        }
        for (name, d) in &snap.demos {
            let Some(old) = previous.demos.get(name) else {
                continue;
            };
            if old.status != d.status {
                if matches!(d.status, DemoStatus::Backoff | DemoStatus::Fatal) {
                    warn!(demo = %name, from = %old.status, to = %d.status, "demo process is failing");
                } else {
                    info!(demo = %name, from = %old.status, to = %d.status, "demo changed state");
                }
                self.emit(
                    Some(name),
                    EventKind::StateChanged {
                        from: old.status,
                        to: d.status,
                    },
                    "",
                );
            }
        }
        self.snapshot_tx.send_replace(Arc::new(snap));
    }

    fn set_supervisor_up(&mut self, up: bool, why: &str, at: Instant) {
        if self.supervisor_seen.is_some_and(|seen| seen > at) {
            return;
        }
        self.supervisor_seen = Some(at);
        if self.supervisor_up == up {
            return;
        }
        self.supervisor_up = up;
        if up {
            info!("supervisord is answering");
            self.emit(None, EventKind::SupervisorUp, why);
        } else {
            warn!(reason = why, "supervisord is not answering");
            self.procs.clear();
            self.emit(None, EventKind::SupervisorDown, why);
        }
    }

    /// Records a program's state (None: supervisord does not know it) as
    /// read at `at`, unless something newer is known already.
    fn note_proc(&mut self, program: &str, state: Option<DemoStatus>, at: Instant) {
        if self.procs_seen.get(program).is_some_and(|seen| *seen > at) {
            return;
        }
        self.procs_seen.insert(program.to_owned(), at);
        match state {
            Some(s) => self.procs.insert(program.to_owned(), s),
            None => self.procs.remove(program),
        };
    }

    /// Forgets a program the actor has just removed.
    pub(crate) fn forget_proc(&mut self, program: &str) {
        self.note_proc(program, None, Instant::now());
    }

    fn observed(&mut self, o: Observation) {
        match o {
            Observation::Processes {
                infos,
                complete,
                taken,
            } => {
                if !self.supervisor_up && self.supervisor_seen.is_some_and(|seen| seen > taken) {
                    // Read before supervisord was found gone: nothing in it holds.
                    return;
                }
                self.set_supervisor_up(true, "", taken);
                if complete {
                    let present: std::collections::HashSet<&str> =
                        infos.iter().map(|i| i.name.as_str()).collect();
                    let gone: Vec<String> = self
                        .procs
                        .keys()
                        .filter(|p| !present.contains(p.as_str()))
                        .cloned()
                        .collect();
                    for p in gone {
                        self.note_proc(&p, None, taken);
                    }
                }
                for i in infos {
                    self.note_proc(&i.name, Some(status::from_supervisor(&i.statename)), taken);
                }
                // Readings older than any call can take are never compared again.
                self.procs_seen
                    .retain(|_, seen| seen.elapsed() < Duration::from_secs(600));
            }
            Observation::SupervisorDown { why, taken } => {
                self.set_supervisor_up(false, &why, taken)
            }
        }
        self.publish();
    }

    /// Asks supervisord for one program's state and records it.
    pub(crate) async fn refresh(&mut self, program: &str) {
        let at = Instant::now();
        match self.sup.process_info(program).await {
            Ok(i) => {
                self.set_supervisor_up(true, "", at);
                self.note_proc(program, Some(status::from_supervisor(&i.statename)), at);
            }
            Err(e) if e.fault_code() == Some(codes::BAD_NAME) => {
                self.note_proc(program, None, at);
            }
            Err(e) if e.is_unreachable() => self.set_supervisor_up(false, &e.to_string(), at),
            Err(e) => warn!(program, error = %e, "cannot read process state"),
        }
    }

    /// Asks supervisord for every program's state.
    pub(crate) async fn refresh_all(&mut self) {
        let taken = Instant::now();
        match self.sup.all_process_info().await {
            Ok(infos) => self.observed(Observation::Processes {
                infos,
                complete: true,
                taken,
            }),
            Err(e) if e.is_unreachable() => self.observed(Observation::SupervisorDown {
                why: e.to_string(),
                taken,
            }),
            Err(e) => warn!(error = %e, "cannot read process states"),
        }
    }

    /// Fails with a clear error when supervisord does not answer.
    pub(crate) async fn require_supervisor(&mut self) -> Result<(), ProtocolError> {
        let at = Instant::now();
        match self.sup.state().await {
            Ok(_) => {
                self.set_supervisor_up(true, "", at);
                Ok(())
            }
            Err(e) => {
                if e.is_unreachable() {
                    self.set_supervisor_up(false, &e.to_string(), at);
                    self.publish();
                }
                Err(sup_error(e))
            }
        }
    }

    /// The installed demo of that name, or the seed's error.
    pub(crate) fn installed(&self, name: &str) -> Result<DemoView, ProtocolError> {
        protocol::names::validate_name(name)?;
        match self.demos.get(name) {
            None => Err(ProtocolError::not_found()),
            Some(d) if d.record.phase == Phase::Deploying => Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} is being deployed; wait for its deploy to end"),
            )),
            Some(d) => Ok(d.clone()),
        }
    }

    /// Reads one demo's folder into a view.
    pub(crate) fn load_view(&self, name: &str, record: DemoRecord) -> DemoView {
        DemoView {
            has_process: self.layout.start_script(name).is_file(),
            has_vhost: self.layout.vhost(name).is_file(),
            linked: crate::apache::is_linked(&self.layout, name),
            status: DemoStatus::Unknown,
            record,
        }
    }

    /// Makes supervisord's groups match the demo folders: rereads its config,
    /// adds every demo program it lacks and removes the ones without a folder.
    pub(crate) async fn sync_groups(&mut self) -> Result<(), RpcError> {
        let [added, changed, removed] = self.sup.reload_config().await?;
        // A rewritten section applies only once its group is added again,
        // which would stop a running process: that waits for its next stop.
        for g in changed {
            if g == APACHE_PROGRAM || !self.demos.contains_key(&g) {
                continue;
            }
            let running = self
                .sup
                .process_info(&g)
                .await
                .is_ok_and(|i| !matches!(i.statename.as_str(), "STOPPED" | "EXITED" | "FATAL"));
            if running {
                info!(group = %g, "its program section changed; it applies at the demo's next stop");
                self.stale_sections.insert(g);
            } else {
                info!(group = %g, "its program section changed; applying it");
                self.readd_group(&g).await?;
            }
        }
        for g in removed {
            if g != APACHE_PROGRAM && !self.demos.contains_key(&g) {
                info!(group = %g, "removing a supervisord group whose demo is gone");
                self.remove_group(&g).await?;
            }
        }
        for g in added {
            ok_if(self.sup.add_process_group(&g).await, codes::ALREADY_ADDED)?;
        }
        let known: Vec<String> = self
            .sup
            .all_process_info()
            .await?
            .into_iter()
            .map(|i| i.group)
            .collect();
        for g in &known {
            if g != APACHE_PROGRAM && !self.demos.contains_key(g) {
                info!(group = %g, "removing a supervisord group whose demo is gone");
                self.remove_group(g).await?;
            }
        }
        let wanted: Vec<String> = self
            .demos
            .iter()
            .filter(|(n, d)| d.has_process && !known.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        for g in wanted {
            ok_if(self.sup.add_process_group(&g).await, codes::ALREADY_ADDED)?;
        }
        Ok(())
    }

    /// Removes a group and adds it again, so that its rewritten section applies.
    pub(crate) async fn readd_group(&self, name: &str) -> Result<(), RpcError> {
        self.remove_group(name).await?;
        ok_if(self.sup.add_process_group(name).await, codes::ALREADY_ADDED)
    }

    /// Stops a group's process and removes the group; absent is fine.
    pub(crate) async fn remove_group(&self, name: &str) -> Result<(), RpcError> {
        match self.sup.stop_process(name, true).await {
            Ok(()) => {}
            Err(e) if matches!(e.fault_code(), Some(codes::NOT_RUNNING | codes::BAD_NAME)) => {}
            Err(e) => return Err(e),
        }
        ok_if(self.sup.remove_process_group(name).await, codes::BAD_NAME)
    }

    /// Repairs what a crash left half done, then brings supervisord up.
    async fn recover(&mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        let layout = self.layout.clone();
        layout
            .create_dirs()
            .with_context(|| format!("creating the state folder {}", layout.root().display()))?;
        // Apache (running as www-data when showroomd is root) must reach the demos' files.
        use std::os::unix::fs::PermissionsExt;
        for d in [layout.root().to_path_buf(), layout.demos()] {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
        }
        let trashed = store::empty_trash(&layout)?;
        if trashed > 0 {
            warn!(
                count = trashed,
                "finished removing folders an interrupted removal left behind"
            );
        }
        store::write_if_changed(
            &layout.supervisord_conf(),
            &crate::supervisor::config::render_main(&layout, &self.cfg),
        )?;
        store::write_if_changed(
            &layout.apache_conf(),
            &crate::apache::render_main(&layout, &self.cfg),
        )?;

        // No deploy runs yet (the state lock is ours): every noted process
        // group is a script left by a showroomd that died while it ran.
        for (name, pgid_file) in deployer::noted_groups(&layout) {
            if deployer::kill_leftover(&pgid_file, &layout.demo_dir(&name)) {
                warn!(demo = %name, "killed its deploy script, still running since showroomd died");
            }
        }
        let mut rolled_back = Vec::new();
        for name in store::demo_names(&layout)? {
            if let Err(e) = protocol::names::validate_name(&name) {
                warn!(folder = %name, "ignoring a folder that is not a demo: {e}");
                continue;
            }
            if store::remove_stale_tmp(&layout, &name) {
                warn!(demo = %name, "removed a record's temporary file left by an interrupted write");
            }
            let record = match store::read_record(&layout, &name) {
                Ok(r) => r,
                Err(store::StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    // The record is written right after the folder is made:
                    // a folder without one is a deploy cut short at its start.
                    warn!(demo = %name, "rolling back a deploy cut short before its record was written");
                    store::remove_demo_dir(&layout, &name).await?;
                    rolled_back.push(name);
                    continue;
                }
                Err(e) => {
                    error!(demo = %name, error = %e, "damaged record: the demo is shown as FATAL until destroyed");
                    DemoRecord {
                        app: "?".into(),
                        port: None,
                        comment: format!("damaged record: {e}"),
                        created: 0,
                        phase: Phase::Installed,
                        params: Default::default(),
                    }
                }
            };
            if record.phase == Phase::Deploying {
                warn!(demo = %name, "rolling back a deploy cut short by a stop of showroomd");
                store::remove_demo_dir(&layout, &name).await?;
                let _ = std::fs::remove_file(layout.program_section(&name));
                rolled_back.push(name);
                continue;
            }
            let view = self.load_view(&name, record);
            if let (true, Some(port)) = (view.has_process, view.record.port) {
                let text =
                    crate::supervisor::config::render_program(&layout, &self.cfg, &name, port);
                if store::write_if_changed(&layout.program_section(&name), &text)? {
                    info!(demo = %name, "rewrote its supervisord program section");
                }
            }
            self.demos.insert(name, view);
        }
        for link in crate::apache::linked_names(&layout) {
            let keep = self.demos.get(&link).is_some_and(|d| d.has_vhost);
            if !keep {
                warn!(link = %link, "removing an Apache link whose demo is gone");
                crate::apache::unlink(&layout, &link)?;
            }
        }

        match crate::supervisor::control::start(&layout, &self.cfg, &self.sup).await {
            Ok(started) => {
                self.supervisor_up = true;
                if started {
                    self.disable_all_vhosts();
                } else {
                    info!("supervisord was already running: picking up its demos");
                }
                for name in &rolled_back {
                    if let Err(e) = self.remove_group(name).await {
                        warn!(demo = %name, error = %e, "removing the group of a rolled-back deploy");
                    }
                }
                if let Err(e) = self.sync_groups().await {
                    error!(error = %e, "cannot bring supervisord's groups in line with the demos");
                }
            }
            Err(e) => {
                error!(error = %e, "supervisord could not be started; demos show UNKNOWN until it is")
            }
        }
        self.refresh_all().await;
        if self.supervisor_up {
            self.apache_reconcile().await;
        }
        self.publish();
        info!(
            demos = self.demos.len(),
            rolled_back = rolled_back.len(),
            "state loaded from {}",
            layout.root().display()
        );
        Ok(())
    }
}

/// Treats one fault code as success (e.g. "already added").
pub(crate) fn ok_if(r: Result<(), RpcError>, code: i32) -> Result<(), RpcError> {
    match r {
        Err(e) if e.fault_code() == Some(code) => Ok(()),
        other => other,
    }
}
