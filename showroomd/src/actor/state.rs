//! The actor's state table: the demos, what supervisord last said of each program and when, whether it answers, which programs are hot, which sections wait for a stop. No I/O: methods return the events and the snapshot to publish.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{CleanupRequest, DemoInfo, DemoStatus, ErrorKind, Event, EventKind, ProtocolError};

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

    /// The status word given its program's state (None: supervisord does
    /// not know it), Apache's, and whether supervisord answers.
    pub fn status_given(
        &self,
        process: Option<DemoStatus>,
        apache: Option<DemoStatus>,
        supervisor_up: bool,
    ) -> DemoStatus {
        status::demo_status(Parts {
            deploying: self.record.phase == Phase::Deploying,
            has_port: self.record.port.is_some(),
            process: self.has_process.then_some(process),
            vhost_linked: self.has_vhost.then_some(self.linked),
            apache,
            supervisor_up,
        })
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
    /// What was published last: events are the differences from it.
    published: Arc<Snapshot>,
    /// The checks at start are not done yet: supervisord may lack a group
    /// it is about to be given, so "unknown to it" means UNKNOWN, not FATAL.
    checks_pending: bool,
}

impl State {
    /// The installed demo of that name, or the seed's error.
    pub fn installed(&self, name: &str) -> Result<DemoView, ProtocolError> {
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

    /// Lowest port of the range that no installed or deploying demo holds.
    pub fn free_port(&self, min: u16, max: u16) -> Option<u16> {
        let taken: HashSet<u16> = self.demos.values().filter_map(|d| d.record.port).collect();
        (min..=max).find(|p| !taken.contains(p))
    }

    /// The installed demos a cleanup destroys: every filter of `req` matches.
    pub fn cleanup_matches(&self, req: &CleanupRequest, now_secs: u64) -> Vec<String> {
        self.demos
            .iter()
            .filter(|(_, d)| d.record.phase == Phase::Installed)
            .filter(|(_, d)| {
                req.older_than_secs
                    .is_none_or(|age| now_secs.saturating_sub(d.record.created) >= age)
            })
            .filter(|(_, d)| req.statuses.is_empty() || req.statuses.contains(&d.status))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A supervisord group no demo owns (Apache's and the event listener's are showroom's own).
    pub fn is_leftover_group(&self, group: &str) -> bool {
        !is_own_program(group) && !self.demos.contains_key(group)
    }

    /// An Apache link no demo with a vhost owns.
    pub fn is_leftover_link(&self, name: &str) -> bool {
        !self.demos.get(name).is_some_and(|d| d.has_vhost)
    }

    pub fn set_linked(&mut self, name: &str, linked: bool) {
        if let Some(d) = self.demos.get_mut(name) {
            d.linked = linked;
        }
    }

    /// Forgets a demo the actor has just removed, and its program.
    pub fn remove_demo(&mut self, name: &str, at: Instant) {
        self.demos.remove(name);
        self.note_proc(name, None, at);
        self.stale_sections.remove(name);
    }

    pub fn set_checks_pending(&mut self, pending: bool) {
        self.checks_pending = pending;
    }

    pub fn supervisor_up(&self) -> bool {
        self.supervisor_up
    }

    /// A program's state as last read (None: unknown to supervisord).
    pub fn proc(&self, program: &str) -> Option<DemoStatus> {
        self.procs.get(program).copied()
    }

    /// Apache's state in supervisord, as last read.
    pub fn apache(&self) -> Option<DemoStatus> {
        self.proc(APACHE_PROGRAM)
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
        match state {
            Some(s) => self.procs.insert(program.to_owned(), s),
            None => self.procs.remove(program),
        };
        true
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
                        self.note_proc(&p, None, taken);
                    }
                }
                for i in infos {
                    self.note_proc(&i.name, Some(status::from_supervisor(&i.statename)), taken);
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

    /// Recomputes every status; when anything changed since the last
    /// publication, returns the new snapshot and a `FROM->TO` event for each
    /// demo whose status changed.
    pub fn publish(&mut self, now: Instant) -> Option<(Arc<Snapshot>, Vec<Event>)> {
        let apache = self.apache();
        let up = self.supervisor_up;
        for (name, d) in self.demos.iter_mut() {
            let process = self.procs.get(name.as_str()).copied();
            d.status = if self.checks_pending && d.has_process && process.is_none() {
                DemoStatus::Unknown
            } else {
                d.status_given(process, apache, up)
            };
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
        let snap = Snapshot {
            demos: self.demos.clone(),
            supervisor_up: up,
            hot,
        };
        if *self.published == snap {
            return None;
        }
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
                        "",
                    )
                })
            })
            .collect();
        self.published = Arc::new(snap);
        Some((self.published.clone(), events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::info;
    use DemoStatus::*;

    pub(crate) fn record(port: Option<u16>, phase: Phase) -> DemoRecord {
        DemoRecord {
            app: "app".into(),
            port,
            comment: String::new(),
            created: 1_000,
            phase,
            params: Default::default(),
        }
    }

    fn view(has_process: bool, has_vhost: bool, linked: bool) -> DemoView {
        DemoView {
            record: record(Some(20000), Phase::Installed),
            has_process,
            has_vhost,
            linked,
            status: Unknown,
        }
    }

    fn kinds(events: &[Event]) -> Vec<EventKind> {
        events.iter().map(|e| e.kind.clone()).collect()
    }

    fn status_of(s: &mut State, name: &str) -> DemoStatus {
        s.publish(Instant::now());
        s.demos[name].status
    }

    fn up(s: &mut State, at: Instant) {
        let _ = s.set_supervisor_up(true, "", at);
    }

    #[test]
    fn a_poll_read_before_a_stop_does_not_undo_it() {
        let mut s = State::default();
        s.demos.insert("a".into(), view(true, false, false));
        let polled = Instant::now();
        // The actor stops the demo and reads the result after the poller asked.
        let stopped = polled + Duration::from_millis(10);
        up(&mut s, stopped);
        assert!(s.note_proc("a", Some(Stopped), stopped));
        let late = Observation::Processes {
            infos: vec![info("a", "RUNNING")],
            complete: true,
            taken: polled,
        };
        let _ = s.observed(late, stopped);
        assert_eq!(s.proc("a"), Some(Stopped));
        assert_eq!(status_of(&mut s, "a"), Stopped);
        // A newer reading does count.
        let newer = Observation::Processes {
            infos: vec![info("a", "RUNNING")],
            complete: false,
            taken: stopped + Duration::from_millis(1),
        };
        let _ = s.observed(newer, stopped);
        assert_eq!(s.proc("a"), Some(Running));
    }

    #[test]
    fn a_reading_from_before_supervisord_went_down_is_dropped() {
        let mut s = State::default();
        let t0 = Instant::now();
        up(&mut s, t0);
        let down = s.set_supervisor_up(false, "gone", t0 + Duration::from_millis(5));
        assert_eq!(kinds(&down), vec![EventKind::SupervisorDown]);
        let old = Observation::Processes {
            infos: vec![info("a", "RUNNING")],
            complete: true,
            taken: t0 + Duration::from_millis(1),
        };
        assert!(s.observed(old, t0).is_empty());
        assert!(!s.supervisor_up());
        assert_eq!(s.proc("a"), None);
        // An older "it is up" does not bring it back either.
        assert!(s.set_supervisor_up(true, "", t0).is_empty());
        assert!(!s.supervisor_up());
    }

    #[test]
    fn a_complete_sweep_forgets_programs_gone_from_it() {
        let mut s = State::default();
        let t0 = Instant::now();
        s.note_proc("a", Some(Running), t0);
        s.note_proc("b", Some(Running), t0);
        let sweep = Observation::Processes {
            infos: vec![info("b", "RUNNING")],
            complete: true,
            taken: t0 + Duration::from_millis(1),
        };
        let events = s.observed(sweep, t0);
        assert_eq!(kinds(&events), vec![EventKind::SupervisorUp]);
        assert_eq!(s.proc("a"), None);
        assert_eq!(s.proc("b"), Some(Running));
    }

    /// Every status rule of the README and docs/ARCHITECTURE.md, as the
    /// actor applies them to what it last read.
    #[test]
    fn status_rules_as_the_actor_applies_them() {
        let t = Instant::now();
        let mut s = State::default();
        up(&mut s, t);
        // Process only: its state.
        s.demos.insert("p".into(), view(true, false, false));
        for (word, st) in [
            ("STOPPED", Stopped),
            ("STARTING", Starting),
            ("RUNNING", Running),
            ("BACKOFF", Backoff),
            ("STOPPING", Stopping),
            ("EXITED", Exited),
            ("FATAL", Fatal),
        ] {
            s.note_proc("p", Some(status::from_supervisor(word)), t);
            assert_eq!(status_of(&mut s, "p"), st, "{word}");
        }
        // A program supervisord does not know cannot start: FATAL.
        s.note_proc("p", None, t);
        assert_eq!(status_of(&mut s, "p"), Fatal);

        // Vhost only: STOPPED while unlinked, Apache's state while linked.
        s.demos.insert("v".into(), view(false, true, false));
        s.note_proc(APACHE_PROGRAM, Some(Running), t);
        assert_eq!(status_of(&mut s, "v"), Stopped);
        s.set_linked("v", true);
        assert_eq!(status_of(&mut s, "v"), Running);
        s.note_proc(APACHE_PROGRAM, Some(Fatal), t);
        assert_eq!(status_of(&mut s, "v"), Fatal);
        s.note_proc(APACHE_PROGRAM, None, t);
        assert_eq!(status_of(&mut s, "v"), Unknown, "linked, Apache unknown");

        // Both: agreeing parts give their state, disagreeing ones PARTIAL.
        s.demos.insert("b".into(), view(true, true, false));
        s.note_proc(APACHE_PROGRAM, Some(Running), t);
        s.note_proc("b", Some(Running), t);
        assert_eq!(status_of(&mut s, "b"), Partial);
        s.set_linked("b", true);
        assert_eq!(status_of(&mut s, "b"), Running);
        s.note_proc("b", Some(Stopped), t);
        assert_eq!(status_of(&mut s, "b"), Partial);
        // A process starting, failing or exited speaks for its unlinked vhost.
        s.set_linked("b", false);
        for st in [Starting, Backoff, Fatal, Exited, Stopping] {
            s.note_proc("b", Some(st), t);
            assert_eq!(status_of(&mut s, "b"), st);
        }
        s.note_proc("b", Some(Stopped), t);
        assert_eq!(status_of(&mut s, "b"), Stopped);

        // No port (a damaged record): FATAL. Deploying: DEPLOYING, whatever else.
        s.demos.insert(
            "n".into(),
            DemoView {
                record: record(None, Phase::Installed),
                ..view(true, false, false)
            },
        );
        assert_eq!(status_of(&mut s, "n"), Fatal);
        s.demos.insert(
            "d".into(),
            DemoView {
                record: record(Some(20001), Phase::Deploying),
                ..view(false, false, false)
            },
        );
        assert_eq!(status_of(&mut s, "d"), Deploying);
        // No part at all: FATAL.
        s.demos.insert("e".into(), view(false, false, false));
        assert_eq!(status_of(&mut s, "e"), Fatal);

        // supervisord silent: UNKNOWN for whatever depends on it.
        let _ = s.set_supervisor_up(false, "gone", t + Duration::from_millis(1));
        assert_eq!(status_of(&mut s, "p"), Unknown);
        assert_eq!(status_of(&mut s, "v"), Unknown, "linked vhost");
        assert_eq!(status_of(&mut s, "d"), Deploying);
        s.set_linked("v", false);
        assert_eq!(
            status_of(&mut s, "v"),
            Stopped,
            "an unlinked vhost needs nobody"
        );
    }

    #[test]
    fn backoff_to_fatal_is_one_event() {
        let mut s = State::default();
        let t = Instant::now();
        up(&mut s, t);
        s.demos.insert("a".into(), view(true, false, false));
        s.note_proc("a", Some(Backoff), t);
        s.publish(t);
        let _ = s.observed(
            Observation::Processes {
                infos: vec![info("a", "FATAL")],
                complete: false,
                taken: t + Duration::from_millis(1),
            },
            t,
        );
        let (snap, events) = s.publish(t).expect("a change");
        assert_eq!(snap.demos["a"].status, Fatal);
        assert_eq!(
            kinds(&events),
            vec![EventKind::StateChanged {
                from: Backoff,
                to: Fatal
            }]
        );
        assert_eq!(events[0].demo.as_deref(), Some("a"));
        assert!(s.publish(t).is_none(), "nothing new, nothing published");
    }

    #[test]
    fn hot_programs_are_the_moving_and_the_just_started() {
        let mut s = State::default();
        let t = Instant::now();
        s.note_proc("b", Some(Backoff), t);
        s.note_proc("r", Some(Running), t);
        s.mark_hot("r", t);
        let (snap, _) = s.publish(t).unwrap();
        assert_eq!(snap.hot, vec!["b".to_string(), "r".to_string()]);
        let (snap, _) = s.publish(t + HOT_FOR + Duration::from_secs(1)).unwrap();
        assert_eq!(snap.hot, vec!["b".to_string()]);
    }

    #[test]
    fn cleanup_picks_installed_demos_matching_every_filter() {
        let mut s = State::default();
        let mut old = view(true, false, false);
        old.record.created = 0;
        old.status = Fatal;
        s.demos.insert("old".into(), old);
        let mut young = view(true, false, false);
        young.record.created = 9_000;
        young.status = Fatal;
        s.demos.insert("young".into(), young);
        let mut deploying = view(false, false, false);
        deploying.record.phase = Phase::Deploying;
        deploying.record.created = 0;
        s.demos.insert("deploying".into(), deploying);
        let req = |older: Option<u64>, statuses: Vec<DemoStatus>| CleanupRequest {
            older_than_secs: older,
            statuses,
            dry_run: true,
        };
        assert_eq!(
            s.cleanup_matches(&req(None, vec![]), 10_000),
            vec!["old", "young"]
        );
        assert_eq!(
            s.cleanup_matches(&req(Some(5_000), vec![]), 10_000),
            vec!["old"]
        );
        assert!(s
            .cleanup_matches(&req(None, vec![Running]), 10_000)
            .is_empty());
        assert_eq!(s.free_port(20000, 20001), Some(20001));
        assert!(s.is_leftover_group("gone") && !s.is_leftover_group(APACHE_PROGRAM));
        assert!(!s.is_leftover_group(crate::supervisor::config::EVENTS_PROGRAM));
    }
}
