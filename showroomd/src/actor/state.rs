//! The actor's state table: the demos, what supervisord last said of each program and when, whether it answers, which programs are hot, which sections wait for a stop. No I/O: methods return the events and the snapshot to publish.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{
    CleanupRequest, DemoInfo, DemoStatus, ErrorKind, Event, EventKind, ProtocolError, Wanted,
};

use crate::frontdoor::{self, Settings};
use crate::status::{self, Parts};
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::config::{is_own_program, APACHE_PROGRAM};
use crate::supervisor::{ProcessInfo, RpcError};

/// How long a program counts as "just started" and is polled often: its
/// events say the rest, this covers a listener that is not running yet.
pub const HOT_FOR: Duration = Duration::from_secs(5);
/// Readings older than any call can take are never compared again.
const SEEN_FOR: Duration = Duration::from_secs(600);

/// One demo as the actor knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoView {
    pub record: DemoRecord,
    pub has_process: bool,
    pub has_vhost: bool,
    pub enabled: bool,
    pub status: DemoStatus,
    /// Beside the status, when the word alone would mislead: a shared part
    /// failing, a record lost. Empty otherwise.
    pub reason: String,
    /// What is wrong with a demo kept without a readable record. showroom
    /// does not start it and no cleanup destroys it; `destroy` does.
    pub problem: Option<String>,
    /// Set while its process is down because its memory limit killed it
    /// (`out of memory (limit 512M)`): the reason beside EXITED, BACKOFF, FATAL.
    pub oom: Option<String>,
}

impl DemoView {
    /// As `list` shows it; `front`: the front door's settings, for its URL.
    pub fn info(&self, name: &str, front: Option<&Settings>) -> DemoInfo {
        DemoInfo {
            name: name.to_owned(),
            app: self.record.app.clone(),
            port: self.record.port,
            status: self.status,
            comment: self.record.comment.clone(),
            created: self.record.created,
            reason: self.reason.clone(),
            params: self
                .record
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            wanted: self.record.wanted,
            expires_at: self.record.expires_at,
            deploy_ms: self.record.deploy_ms,
            url: front.and_then(|s| frontdoor::url_for(s, name)),
            keep: self.record.keep,
            port2: self.record.port2,
            access: self.record.access.mode().to_owned(),
            not_served: String::new(),
            limits: self.record.limits,
        }
    }

    /// As `list` shows it, its URL given only while the front door serves
    /// (`front_door`), and otherwise why not.
    pub fn info_served(
        &self,
        name: &str,
        front: Option<&Settings>,
        front_door: Option<&protocol::FrontDoorInfo>,
    ) -> DemoInfo {
        let mut info = self.info(name, front);
        if info.url.is_some() {
            match front_door {
                Some(f) if f.serving => {}
                Some(f) => {
                    info.url = None;
                    info.not_served = format!("the front door does not serve: {}", f.reason);
                }
                None => {
                    info.url = None;
                    info.not_served = "the front door is starting".into();
                }
            }
        }
        info
    }

    /// The status word given its program's state (None: supervisord does
    /// not know it), Apache's, and whether supervisord answers.
    pub fn status_given(
        &self,
        process: Option<DemoStatus>,
        apache: Option<DemoStatus>,
        supervisor_up: bool,
    ) -> DemoStatus {
        self.verdict_given(process, apache, supervisor_up).0
    }

    /// The status and its reason. A demo kept without a record is
    /// `UNKNOWN` (showroom cannot vouch for it), its reason saying why and
    /// what its parts show.
    pub fn verdict_given(
        &self,
        process: Option<DemoStatus>,
        apache: Option<DemoStatus>,
        supervisor_up: bool,
    ) -> (DemoStatus, String) {
        let verdict = status::demo_verdict(Parts {
            deploying: self.record.phase == Phase::Deploying,
            has_port: self.record.port.is_some(),
            process: self.has_process.then_some(process),
            vhost_enabled: self.has_vhost.then_some(self.enabled),
            apache,
            supervisor_up,
        });
        match &self.problem {
            // Stopped for idleness and wanted running: its own word.
            None if self.record.sleep.asleep
                && self.record.wanted == Wanted::Running
                && verdict.0 == DemoStatus::Stopped =>
            {
                (DemoStatus::Sleeping, String::new())
            }
            None => match &self.oom {
                Some(oom) if verdict.1.is_empty() && is_down(verdict.0) => (verdict.0, oom.clone()),
                _ => verdict,
            },
            Some(problem) => {
                let mut reason = format!("{problem}; kept as found, its parts {}", verdict.0);
                if !verdict.1.is_empty() {
                    reason += &format!(" ({})", verdict.1);
                }
                (DemoStatus::Unknown, reason)
            }
        }
    }
}

/// A process status after which its end may be explained (its memory limit).
pub fn is_down(s: DemoStatus) -> bool {
    matches!(
        s,
        DemoStatus::Exited | DemoStatus::Backoff | DemoStatus::Fatal
    )
}

/// What reads are answered from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub demos: BTreeMap<String, DemoView>,
    pub supervisor_up: bool,
    /// Programs the poller watches closely (starting, backing off, just started).
    pub hot: Vec<String>,
    /// The front door's settings; None when it is off.
    pub front: Option<Settings>,
    /// Whether it serves, and why not; None until first tried (or off).
    pub front_door: Option<protocol::FrontDoorInfo>,
    /// Counts the snapshots published: the front door says which it serves.
    pub seq: u64,
}

impl Snapshot {
    pub fn list(&self) -> Vec<DemoInfo> {
        self.demos
            .iter()
            .map(|(n, d)| d.info_served(n, self.front.as_ref(), self.front_door.as_ref()))
            .collect()
    }
}

/// What the poller saw, and when it asked (`taken`): a reading older than
/// what the actor already knows (it acted since, and read the result) is
/// dropped, so a poll that raced a `stop` never undoes it.
#[derive(Debug, Clone)]
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

impl Observation {
    /// What one `getAllProcessInfo` says: every process, or that supervisord
    /// is gone; another failure says nothing and is handed back.
    pub fn sweep(
        read: Result<Vec<ProcessInfo>, RpcError>,
        taken: Instant,
    ) -> Result<Observation, RpcError> {
        match read {
            Ok(infos) => Ok(Observation::Processes {
                infos,
                complete: true,
                taken,
            }),
            Err(e) if e.is_unreachable() => Ok(Observation::SupervisorDown {
                why: e.to_string(),
                taken,
            }),
            Err(e) => Err(e),
        }
    }
}

pub fn event(demo: Option<&str>, kind: EventKind, detail: impl Into<String>) -> Event {
    Event {
        at: store::now_secs(),
        demo: demo.map(str::to_owned),
        kind,
        detail: detail.into(),
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub demos: BTreeMap<String, DemoView>,
    /// Last known supervisord state of each program, Apache's included.
    procs: HashMap<String, DemoStatus>,
    /// When what `procs` holds of each program was read from supervisord.
    procs_seen: HashMap<String, Instant>,
    supervisor_up: bool,
    /// When `supervisor_up` was last read.
    supervisor_seen: Option<Instant>,
    /// Demos whose program section changed while they ran: their group is
    /// added again at their next stop.
    stale_sections: HashSet<String>,
    /// Until when a program counts as just started.
    hot_until: HashMap<String, Instant>,
    /// The front door's settings, given to each snapshot; None when it is off.
    pub front: Option<Settings>,
    /// Whether the front door serves, given to each snapshot.
    pub front_door: Option<protocol::FrontDoorInfo>,
    /// What was published last: events are the differences from it.
    published: Arc<Snapshot>,
    /// Programs still STARTING for supervisord whose start saw them answer
    /// on their port: RUNNING, until supervisord says anything but STARTING.
    answered: HashSet<String>,
    /// The operation under way on each demo beside the actor: the one
    /// record of work in flight (the requests waiting for it are held by
    /// the actor, `hold.rs`, in arrival order).
    in_flight: HashMap<String, Op>,
    /// The checks at start are not done yet: supervisord may lack a group
    /// it is about to be given, so "unknown to it" means UNKNOWN, not FATAL.
    checks_pending: bool,
    /// Why each program that ended when it should run (FATAL, BACKOFF,
    /// EXITED) is not running, keyed by the reading it was told from.
    endings: HashMap<String, (EndingKey, String)>,
    /// Programs seen ended whose reason is not told yet: the actor reads
    /// their stderr (I/O, not the table's) and calls `set_ending`.
    unexplained: HashMap<String, (EndingKey, ProcessInfo)>,
    /// How each program's last run ended, when supervisord says it ended:
    /// the detail of a `RUNNING->…` event.
    last_end: HashMap<String, String>,
}

/// An operation under way on a demo, beside the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Starting,
    Stopping,
    Destroying,
    Expiring,
    /// A deployed demo's program given to supervisord.
    Installing,
    /// A clone's source, its folder being copied.
    Copying,
    /// Its app's script run again in a fresh folder.
    Redeploying,
}

impl Op {
    /// Whether the demo's requests wait for it (held, in order): the short
    /// operations. The long ones (a copy, a redeploy's script) refuse
    /// them with a word instead, as a client would wait minutes.
    pub fn holds(self) -> bool {
        !matches!(self, Op::Copying | Op::Redeploying)
    }

    /// As said in a refusal: "demo NAME is being …".
    pub fn word(self) -> &'static str {
        match self {
            Op::Starting => "started",
            Op::Stopping => "stopped",
            Op::Destroying => "destroyed",
            Op::Expiring => "expired",
            Op::Installing => "installed",
            Op::Copying => "copied by a clone",
            Op::Redeploying => "replaced by its redeploy",
        }
    }
}

/// What tells one ending from the next: its state, its try's times, its status.
pub type EndingKey = (DemoStatus, i64, i64, i32);

impl State {
    /// The installed demo of that name, or the seed's error.
    pub fn installed(&self, name: &str) -> Result<DemoView, ProtocolError> {
        protocol::names::validate_name(name)?;
        match self.demos.get(name) {
            None => Err(ProtocolError::no_demo(name)),
            Some(d) if d.record.phase == Phase::Deploying => Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} is being deployed; wait for its deploy to end"),
            )),
            Some(_) if self.in_flight.get(name).is_some_and(|op| !op.holds()) => {
                let op = self.op(name).map_or("busy", Op::word);
                Err(ProtocolError::new(
                    ErrorKind::InvalidRequest,
                    format!("demo {name} is being {op}; try again in a moment"),
                ))
            }
            Some(d) => Ok(d.clone()),
        }
    }

    /// Any demo of that name, installed or not: a lookup that cannot panic.
    pub fn demo(&self, name: &str) -> Result<&DemoView, ProtocolError> {
        self.demos.get(name).ok_or_else(ProtocolError::not_found)
    }

    /// The lowest `count` ports of the range that no installed or deploying
    /// demo owns and that `usable` accepts (no other program holds it).
    pub fn free_ports(
        &self,
        (min, max): (u16, u16),
        count: usize,
        usable: impl Fn(u16) -> bool,
    ) -> Option<Vec<u16>> {
        let taken: HashSet<u16> = self.demos.values().flat_map(|d| d.record.ports()).collect();
        let found: Vec<u16> = (min..=max)
            .filter(|p| !taken.contains(p) && usable(*p))
            .take(count)
            .collect();
        (found.len() == count).then_some(found)
    }

    /// The installed demos a cleanup destroys: every filter of `req` matches.
    pub fn cleanup_matches(&self, req: &CleanupRequest, now_secs: u64) -> Vec<String> {
        self.demos
            .keys()
            .filter(|n| self.cleanup_match(n, req, now_secs))
            .cloned()
            .collect()
    }

    /// Whether a cleanup destroys this demo now: asked again at its turn,
    /// since a demo started, stopped or redeployed after the plan may no
    /// longer match.
    pub fn cleanup_match(&self, name: &str, req: &CleanupRequest, now_secs: u64) -> bool {
        self.demos.get(name).is_some_and(|d| {
            d.record.phase == Phase::Installed
                && d.problem.is_none()
                // Kept: no cleanup touches it, whatever the filters say.
                && !d.record.keep
                && req
                    .older_than_secs
                    .is_none_or(|age| now_secs.saturating_sub(d.record.created) >= age)
                && (req.statuses.is_empty() || req.statuses.contains(&d.status))
        })
    }

    /// A shared part that fails: while one does, the statuses of the demos
    /// behind it say nothing of their own health, and cleanup destroys nothing.
    pub fn shared_failure(&self) -> Option<String> {
        if !self.supervisor_up {
            return Some(status::SUPERVISOR_DOWN.to_owned());
        }
        let serving = self.demos.values().any(|d| d.has_vhost && d.enabled);
        (serving && status::apache_failed(self.apache()))
            .then(|| status::apache_failure(self.apache()))
    }

    /// A supervisord group no demo owns (Apache's and the event listener's are showroom's own).
    pub fn is_leftover_group(&self, group: &str) -> bool {
        !is_own_program(group) && !self.demos.contains_key(group)
    }

    /// An Apache link no demo with a vhost owns.
    pub fn is_leftover_copy(&self, name: &str) -> bool {
        !self.demos.get(name).is_some_and(|d| d.has_vhost)
    }

    pub fn set_enabled(&mut self, name: &str, enabled: bool) {
        if let Some(d) = self.demos.get_mut(name) {
            d.enabled = enabled;
        }
    }

    /// Forgets a demo the actor has just removed, and its program.
    pub fn remove_demo(&mut self, name: &str, at: Instant) {
        self.demos.remove(name);
        self.note_info(name, None, at);
        self.stale_sections.remove(name);
    }

    pub fn set_checks_pending(&mut self, pending: bool) {
        self.checks_pending = pending;
    }

    pub fn supervisor_up(&self) -> bool {
        self.supervisor_up
    }

    /// A start saw the demo's process answer on its port before
    /// supervisord's `startsecs` ended.
    pub fn mark_answered(&mut self, name: &str) {
        self.answered.insert(name.to_owned());
    }

    /// An operation on a demo is under way beside the actor from now.
    pub fn begin(&mut self, name: &str, op: Op) {
        self.in_flight.insert(name.to_owned(), op);
    }

    /// The demo's operation ended.
    pub fn end(&mut self, name: &str) {
        self.in_flight.remove(name);
    }

    /// The operation under way on a demo, if any.
    pub fn op(&self, name: &str) -> Option<Op> {
        self.in_flight.get(name).copied()
    }

    /// How many demos have this operation under way.
    pub fn count_ops(&self, op: Op) -> usize {
        self.in_flight.values().filter(|o| **o == op).count()
    }

    /// Whether a request's work is under way (a short operation, not an
    /// expiry): the expiries let it go first.
    pub fn requests_in_flight(&self) -> bool {
        self.in_flight
            .values()
            .any(|op| op.holds() && *op != Op::Expiring)
    }

    /// Whether an operation that holds its demo's requests is under way on any demo.
    pub fn any_holding(&self) -> bool {
        self.in_flight.values().any(|op| op.holds())
    }

    /// The demos to bring back after supervisord was started afresh: installed,
    /// wanted running, and with a part to run. Sorted by name.
    pub fn to_restore(&self) -> Vec<String> {
        self.demos
            .keys()
            .filter(|n| self.wants_restore(n))
            .cloned()
            .collect()
    }

    /// Whether this demo is one to bring back (see `to_restore`), as it is now.
    pub fn wants_restore(&self, name: &str) -> bool {
        self.demos.get(name).is_some_and(|d| {
            d.record.phase == Phase::Installed
                && d.record.wanted == Wanted::Running
                && !d.record.sleep.asleep
                && d.record.port.is_some()
                && (d.has_process || d.has_vhost)
        })
    }

    /// At `now` (seconds since the epoch): the demos whose time is up, and
    /// the earliest time another one's will be. A demo being deployed or
    /// copied is never due; one whose expiry failed waits until its
    /// `not_before`.
    pub fn expiries(
        &self,
        now: u64,
        not_before: &HashMap<String, u64>,
    ) -> (Vec<String>, Option<u64>) {
        let mut due = Vec::new();
        let mut next: Option<u64> = None;
        for (name, d) in &self.demos {
            let Some(at) = d.record.expires_at else {
                continue;
            };
            if d.record.phase != Phase::Installed
                || self.in_flight.contains_key(name)
                || d.record.keep
            {
                continue;
            }
            let at = at.max(not_before.get(name).copied().unwrap_or(0));
            if at <= now {
                due.push(name.clone());
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        (due, next)
    }

    /// The demos whose process is down (EXITED, BACKOFF, FATAL), as last read.
    pub fn down_processes(&self) -> Vec<String> {
        self.demos
            .iter()
            .filter(|(n, d)| d.has_process && self.proc(n).is_some_and(is_down))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Notes why a demo's process is down (its memory limit), or that nothing does.
    pub fn set_oom(&mut self, name: &str, oom: Option<String>) {
        if let Some(d) = self.demos.get_mut(name) {
            d.oom = oom;
        }
    }

    /// A program's state as last read (None: unknown to supervisord).
    pub fn proc(&self, program: &str) -> Option<DemoStatus> {
        self.procs.get(program).copied()
    }

    /// Apache's state in supervisord, as last read.
    pub fn apache(&self) -> Option<DemoStatus> {
        self.proc(APACHE_PROGRAM)
    }

    /// Whether some demo's process runs, as last read.
    pub fn any_process_running(&self) -> bool {
        self.demos
            .iter()
            .any(|(n, d)| d.has_process && self.proc(n) == Some(DemoStatus::Running))
    }

    pub fn mark_hot(&mut self, program: &str, now: Instant) {
        self.hot_until.insert(program.to_owned(), now + HOT_FOR);
    }

    pub fn mark_stale(&mut self, name: &str) {
        self.stale_sections.insert(name.to_owned());
    }

    pub fn is_stale(&self, name: &str) -> bool {
        self.stale_sections.contains(name)
    }

    pub fn clear_stale(&mut self, name: &str) {
        self.stale_sections.remove(name);
    }

    /// Records whether supervisord answered, as read at `at`, unless
    /// something newer is known already; the events say when that changed.
    #[must_use]
    pub fn set_supervisor_up(&mut self, up: bool, why: &str, at: Instant) -> Vec<Event> {
        if self.supervisor_seen.is_some_and(|seen| seen > at) {
            return vec![];
        }
        self.supervisor_seen = Some(at);
        if self.supervisor_up == up {
            return vec![];
        }
        self.supervisor_up = up;
        if up {
            vec![event(None, EventKind::SupervisorUp, why)]
        } else {
            self.procs.clear();
            vec![event(None, EventKind::SupervisorDown, why)]
        }
    }

    /// Records a program's state (None: supervisord does not know it) as
    /// read at `at`, unless something newer is known already; false then.
    pub fn note_proc(&mut self, program: &str, state: Option<DemoStatus>, at: Instant) -> bool {
        if self.procs_seen.get(program).is_some_and(|seen| *seen > at) {
            return false;
        }
        self.procs_seen.insert(program.to_owned(), at);
        if state != Some(DemoStatus::Starting) {
            self.answered.remove(program);
        }
        match state {
            Some(s) => self.procs.insert(program.to_owned(), s),
            None => self.procs.remove(program),
        };
        true
    }

    /// Records one program's reading, its ending included (None: unknown
    /// to supervisord), unless something newer is known already.
    pub fn note_info(&mut self, program: &str, info: Option<&ProcessInfo>, at: Instant) -> bool {
        let state = info.map(|i| status::from_supervisor(&i.statename));
        if !self.note_proc(program, state, at) {
            return false;
        }
        match (info, state) {
            (Some(i), Some(st)) if crate::failure::is_ended(st) => {
                let key = (st, i.start, i.stop, i.exitstatus);
                if self.endings.get(program).map(|(k, _)| k) != Some(&key) {
                    self.unexplained
                        .insert(program.to_owned(), (key, i.clone()));
                }
            }
            _ => {
                self.endings.remove(program);
                self.unexplained.remove(program);
            }
        }
        match info {
            Some(i) if i.stop > 0 => {
                self.last_end.insert(
                    program.to_owned(),
                    crate::failure::how_it_ended(i.exitstatus),
                );
            }
            _ => {
                self.last_end.remove(program);
            }
        }
        true
    }

    /// The demos' programs seen ended whose reason is still to be told, each
    /// with its state; the caller tells each with `set_ending`.
    pub fn take_unexplained(&mut self) -> Vec<(String, EndingKey, ProcessInfo)> {
        self.unexplained
            .drain()
            .filter(|(p, _)| self.demos.contains_key(p))
            .map(|(p, (k, i))| (p, k, i))
            .collect()
    }

    pub fn set_ending(&mut self, program: &str, key: EndingKey, reason: String) {
        self.endings.insert(program.to_owned(), (key, reason));
    }

    /// Takes in what the poller (or a sweep of the actor's) read.
    #[must_use]
    pub fn observed(&mut self, o: Observation, now: Instant) -> Vec<Event> {
        match o {
            Observation::Processes {
                infos,
                complete,
                taken,
            } => {
                if !self.supervisor_up && self.supervisor_seen.is_some_and(|seen| seen > taken) {
                    // Read before supervisord was found gone: nothing in it holds.
                    return vec![];
                }
                let events = self.set_supervisor_up(true, "", taken);
                if complete {
                    let present: HashSet<&str> = infos.iter().map(|i| i.name.as_str()).collect();
                    let gone: Vec<String> = self
                        .procs
                        .keys()
                        .filter(|p| !present.contains(p.as_str()))
                        .cloned()
                        .collect();
                    for p in gone {
                        self.note_info(&p, None, taken);
                    }
                }
                for i in infos {
                    self.note_info(&i.name.clone(), Some(&i), taken);
                }
                self.procs_seen
                    .retain(|_, seen| now.saturating_duration_since(*seen) < SEEN_FOR);
                events
            }
            Observation::SupervisorDown { why, taken } => {
                self.set_supervisor_up(false, &why, taken)
            }
        }
    }

    /// What a `FROM->TO` event says beside the words: why a process is
    /// ended, or how the run that was RUNNING ended.
    fn change_detail(&self, name: &str, from: DemoStatus, d: &DemoView) -> String {
        if crate::failure::is_ended(d.status) && !d.reason.is_empty() {
            return d.reason.clone();
        }
        match (from, d.status) {
            (DemoStatus::Running, DemoStatus::Starting) => self
                .last_end
                .get(name)
                .map(|how| format!("{how}; supervisord starts it again"))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Recomputes every status; when anything changed since the last
    /// publication, returns the new snapshot and a `FROM->TO` event for each
    /// demo whose status changed.
    pub fn publish(&mut self, now: Instant) -> Option<(Arc<Snapshot>, Vec<Event>)> {
        let apache = self.apache();
        let up = self.supervisor_up;
        for (name, d) in self.demos.iter_mut() {
            let process = match self.procs.get(name.as_str()).copied() {
                // Its start saw it answer on its port: it runs, whatever
                // supervisord's `startsecs` still says.
                Some(DemoStatus::Starting) if self.answered.contains(name.as_str()) => {
                    Some(DemoStatus::Running)
                }
                other => other,
            };
            (d.status, d.reason) = if self.in_flight.get(name.as_str()) == Some(&Op::Installing) {
                // Its program is being given to supervisord: still deploying.
                (DemoStatus::Deploying, String::new())
            } else if self.checks_pending && d.has_process && process.is_none() {
                // Not known yet, not failed: the checks at start are under way.
                (DemoStatus::Unknown, String::new())
            } else {
                d.verdict_given(process, apache, up)
            };
            if d.reason.is_empty() && crate::failure::is_ended(d.status) {
                if let Some((_, why)) = self.endings.get(name.as_str()) {
                    d.reason = why.clone();
                }
            }
        }
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
        let mut snap = Snapshot {
            demos: self.demos.clone(),
            supervisor_up: up,
            hot,
            front: self.front.clone(),
            front_door: self.front_door.clone(),
            seq: self.published.seq,
        };
        if *self.published == snap {
            return None;
        }
        snap.seq += 1;
        let events = snap
            .demos
            .iter()
            .filter_map(|(name, d)| {
                let old = self.published.demos.get(name)?;
                (old.status != d.status).then(|| {
                    event(
                        Some(name),
                        EventKind::StateChanged {
                            from: old.status,
                            to: d.status,
                        },
                        // `watch` says why a demo went down when its limit killed it.
                        match &d.oom {
                            Some(oom) if d.reason == *oom => oom.clone(),
                            _ => self.change_detail(name, old.status, d),
                        },
                    )
                })
            })
            .collect();
        self.published = Arc::new(snap);
        Some((self.published.clone(), events))
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
