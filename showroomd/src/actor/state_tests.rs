//! The state table's unit tests: the stale-reading guard, the status rules as the table applies them, cleanup's choices, free ports, expiries.

use super::*;
use crate::actor::tests::info;
use DemoStatus::*;

pub(crate) fn record(port: Option<u16>, phase: Phase) -> DemoRecord {
    DemoRecord::bare("app", port, 1_000, phase)
}

fn view(has_process: bool, has_vhost: bool, enabled: bool) -> DemoView {
    DemoView {
        record: record(Some(20000), Phase::Installed),
        has_process,
        has_vhost,
        enabled,
        status: Unknown,
        reason: String::new(),
        problem: None,
        oom: None,
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

    // Vhost only: STOPPED while unlinked, Apache's state while enabled.
    s.demos.insert("v".into(), view(false, true, false));
    s.note_proc(APACHE_PROGRAM, Some(Running), t);
    assert_eq!(status_of(&mut s, "v"), Stopped);
    s.set_enabled("v", true);
    assert_eq!(status_of(&mut s, "v"), Running);
    // Apache failing is a failure of the shared part, not of the demo.
    s.note_proc(APACHE_PROGRAM, Some(Fatal), t);
    assert_eq!(status_of(&mut s, "v"), Unknown);
    assert_eq!(s.demos["v"].reason, "Apache is FATAL");
    s.note_proc(APACHE_PROGRAM, None, t);
    assert_eq!(status_of(&mut s, "v"), Unknown, "enabled, Apache unknown");

    // Both: agreeing parts give their state, disagreeing ones PARTIAL.
    s.demos.insert("b".into(), view(true, true, false));
    s.note_proc(APACHE_PROGRAM, Some(Running), t);
    s.note_proc("b", Some(Running), t);
    assert_eq!(status_of(&mut s, "b"), Partial);
    s.set_enabled("b", true);
    assert_eq!(status_of(&mut s, "b"), Running);
    s.note_proc("b", Some(Stopped), t);
    assert_eq!(status_of(&mut s, "b"), Partial);
    // A process starting, failing or exited speaks for its unlinked vhost.
    s.set_enabled("b", false);
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
    assert_eq!(status_of(&mut s, "v"), Unknown, "enabled vhost");
    assert_eq!(status_of(&mut s, "d"), Deploying);
    s.set_enabled("v", false);
    assert_eq!(
        status_of(&mut s, "v"),
        Stopped,
        "an unlinked vhost needs nobody"
    );
}

#[test]
fn a_failed_apache_blocks_cleanup_and_is_charged_to_no_demo() {
    let t = Instant::now();
    let mut s = State::default();
    up(&mut s, t);
    let mut web = view(true, true, true);
    web.record.created = 0;
    s.demos.insert("web".into(), web);
    let mut proc_only = view(true, false, false);
    proc_only.record.created = 0;
    s.demos.insert("p".into(), proc_only);
    s.note_proc("web", Some(Running), t);
    s.note_proc("p", Some(Fatal), t);
    s.note_proc(APACHE_PROGRAM, Some(Running), t);
    assert_eq!(status_of(&mut s, "web"), Running);
    assert_eq!(s.shared_failure(), None);

    s.note_proc(APACHE_PROGRAM, Some(Fatal), t);
    assert_eq!(status_of(&mut s, "web"), Unknown);
    assert_eq!(s.demos["web"].reason, "Apache is FATAL");
    assert_eq!(s.demos["web"].info("web", None).reason, "Apache is FATAL");
    // A demo's own failure stays its own.
    assert_eq!(status_of(&mut s, "p"), Fatal);
    assert_eq!(s.demos["p"].reason, "");
    assert_eq!(s.shared_failure().as_deref(), Some("Apache is FATAL"));
    let fatal = CleanupRequest {
        older_than_secs: None,
        statuses: vec![Fatal],
        dry_run: true,
    };
    assert_eq!(s.cleanup_matches(&fatal, 10), vec!["p"]);
    assert!(!s.cleanup_matches(&fatal, 10).contains(&"web".to_string()));

    // No vhost enabled: a failed Apache serves nobody and blocks nothing.
    s.set_enabled("web", false);
    assert_eq!(s.shared_failure(), None);
    let _ = s.set_supervisor_up(false, "gone", t + Duration::from_millis(1));
    assert_eq!(s.shared_failure().as_deref(), Some(status::SUPERVISOR_DOWN));
}

#[test]
fn a_demo_kept_without_record_is_unknown_keeps_its_port_and_escapes_cleanup() {
    let t = Instant::now();
    let mut s = State::default();
    up(&mut s, t);
    let mut kept = view(true, false, false);
    kept.record.created = 0;
    kept.problem = Some("its record is missing".into());
    s.demos.insert("kept".into(), kept);
    s.note_proc("kept", Some(Running), t);
    assert_eq!(status_of(&mut s, "kept"), Unknown);
    assert_eq!(
        s.demos["kept"].reason,
        "its record is missing; kept as found, its parts RUNNING"
    );
    for statuses in [vec![], vec![Unknown], vec![Running]] {
        let req = CleanupRequest {
            older_than_secs: Some(1),
            statuses,
            dry_run: false,
        };
        assert!(s.cleanup_matches(&req, 10_000).is_empty());
    }
    assert_eq!(
        s.free_ports((20000, 20001), 1, |_| true),
        Some(vec![20001]),
        "its port is kept"
    );
    assert!(!s.is_leftover_group("kept"));
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
    assert_eq!(s.free_ports((20000, 20001), 1, |_| true), Some(vec![20001]));
    assert!(s.is_leftover_group("gone") && !s.is_leftover_group(APACHE_PROGRAM));
    assert!(!s.is_leftover_group(crate::supervisor::config::EVENTS_PROGRAM));
}

#[test]
fn the_restore_takes_installed_demos_wanted_running_with_a_part_to_run() {
    let mut st = State::default();
    let mut put =
        |name: &str, wanted: Wanted, port: Option<u16>, phase: Phase, parts: (bool, bool)| {
            let mut v = view(parts.0, parts.1, false);
            v.record = DemoRecord {
                wanted,
                ..record(port, phase)
            };
            st.demos.insert(name.into(), v);
        };
    put(
        "proc",
        Wanted::Running,
        Some(1),
        Phase::Installed,
        (true, false),
    );
    put(
        "vhost",
        Wanted::Running,
        Some(2),
        Phase::Installed,
        (false, true),
    );
    put(
        "stopped",
        Wanted::Stopped,
        Some(3),
        Phase::Installed,
        (true, true),
    );
    put(
        "deploying",
        Wanted::Running,
        Some(4),
        Phase::Deploying,
        (true, false),
    );
    put(
        "damaged",
        Wanted::Running,
        None,
        Phase::Installed,
        (true, false),
    );
    put(
        "nothing",
        Wanted::Running,
        Some(5),
        Phase::Installed,
        (false, false),
    );
    assert_eq!(st.to_restore(), vec!["proc", "vhost"]);
}

#[test]
fn expiries_skip_demos_being_deployed_or_copied_and_wait_out_a_retry() {
    let mut st = State::default();
    for (name, at, phase) in [
        ("due", 100, Phase::Installed),
        ("later", 500, Phase::Installed),
        ("deploying", 50, Phase::Deploying),
        ("copied", 50, Phase::Installed),
        ("retried", 50, Phase::Installed),
    ] {
        let mut v = view(true, false, false);
        v.record = DemoRecord {
            expires_at: Some(at),
            ..record(Some(1), phase)
        };
        st.demos.insert(name.into(), v);
    }
    st.begin("copied", super::Op::Copying);
    let retry: HashMap<String, u64> = [("retried".to_string(), 300)].into();
    assert_eq!(
        st.expiries(200, &retry),
        (vec!["due".to_string()], Some(300))
    );
    assert_eq!(st.expiries(99, &retry).0, Vec::<String>::new());
    st.end("copied");
    let (due, next) = st.expiries(400, &HashMap::new());
    assert_eq!(due, vec!["copied", "due", "retried"]);
    assert_eq!(next, Some(500));
}

#[test]
fn a_kept_demo_is_never_cleaned_up_nor_expired() {
    let mut s = State::default();
    let mut kept = view(true, false, false);
    kept.record.keep = true;
    kept.record.expires_at = Some(10);
    s.demos.insert("kept".into(), kept);
    let mut plain = view(true, false, false);
    plain.record.expires_at = Some(10);
    s.demos.insert("plain".into(), plain);
    let all = CleanupRequest {
        older_than_secs: None,
        statuses: vec![],
        dry_run: false,
    };
    assert_eq!(s.cleanup_matches(&all, 10_000), vec!["plain"]);
    assert_eq!(s.expiries(10_000, &HashMap::new()).0, vec!["plain"]);
}

#[test]
fn free_ports_skip_every_port_a_demo_owns_and_those_held_by_others() {
    let mut s = State::default();
    let mut two = view(true, false, false);
    two.record.port2 = Some(20001);
    s.demos.insert("two".into(), two);
    assert_eq!(
        s.free_ports((20000, 20005), 2, |p| p != 20002),
        Some(vec![20003, 20004])
    );
    assert_eq!(s.free_ports((20000, 20002), 1, |p| p != 20002), None);
}

#[test]
fn an_ended_process_gets_its_reason_and_a_running_one_loses_it() {
    let mut s = State::default();
    s.demos.insert("p".into(), view(true, false, false));
    let t = Instant::now();
    let _ = s.set_supervisor_up(true, "", t);
    let mut fatal = info("p", "FATAL");
    fatal.stop = 5;
    assert!(s.note_info("p", Some(&fatal), t));
    let todo = s.take_unexplained();
    assert_eq!(todo.len(), 1);
    s.set_ending("p", todo[0].1, "exited with status 3".into());
    s.publish(Instant::now());
    assert_eq!(s.demos["p"].reason, "exited with status 3");
    // Read again unchanged: nothing to tell anew.
    assert!(s.note_info("p", Some(&fatal), t + Duration::from_millis(1)));
    assert!(s.take_unexplained().is_empty());
    s.note_info(
        "p",
        Some(&info("p", "RUNNING")),
        t + Duration::from_millis(2),
    );
    s.publish(Instant::now());
    assert_eq!(s.demos["p"].reason, "");
}

#[test]
fn an_asleep_demo_is_sleeping_and_not_restored() {
    let mut st = State::default();
    up(&mut st, Instant::now());
    let mut v = view(true, false, false);
    v.record.wanted = Wanted::Running;
    v.record.sleep.asleep = true;
    st.demos.insert("nap".into(), v.clone());
    let _ = st.note_proc("nap", Some(Stopped), Instant::now());
    assert_eq!(status_of(&mut st, "nap"), Sleeping);
    assert!(st.to_restore().is_empty());
    // Not a stopped demo for a cleanup.
    let stopped = CleanupRequest {
        older_than_secs: None,
        statuses: vec![Stopped],
        dry_run: true,
    };
    assert!(st.cleanup_matches(&stopped, 2_000).is_empty());
    // Stopped by the operator: wanted stopped, and STOPPED.
    st.demos.get_mut("nap").unwrap().record.wanted = Wanted::Stopped;
    assert_eq!(status_of(&mut st, "nap"), Stopped);
    // Awake and running: its process's word.
    v.record.sleep.asleep = false;
    st.demos.insert("nap".into(), v);
    let _ = st.note_proc("nap", Some(Running), Instant::now());
    assert_eq!(status_of(&mut st, "nap"), Running);
}
