//! Many demos on one host: supervisord's events reach `watch` without polling, a stop is answered in the middle of a burst of deploys, a restart lists every demo with its status, a dead supervisord is seen at once, starts sent together all end in order (ports 28500-28999).

use std::time::Duration;

use crate::harness::{Options, Showroom};

/// Polling that would never see a change within a test: only events can.
fn unpolled(port_min: u16) -> Showroom {
    Showroom::with(Options {
        port_min: Some(port_min),
        sweep_secs: 3600,
        ..Options::default()
    })
}

#[test]
fn an_event_reaches_watch_for_a_demo_nobody_polls() {
    let s = unpolled(28500);
    s.ok(&["deploy", "test1", "steady"]);
    s.ok(&["start", "steady"]);
    // Past the time a just-started program is polled (HOT_FOR): nobody asks about it now.
    std::thread::sleep(Duration::from_secs(7));
    let mut watch = s.spawn_watch(&[]);
    let pid: i32 = s
        .supervisorctl(&["pid", "steady"])
        .trim()
        .parse()
        .expect("a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // supervisord restarts it (autorestart=unexpected): RUNNING goes to
    // EXITED, STARTING or BACKOFF first, whichever the fresh reading finds.
    watch.until("watch shows the crash", Duration::from_secs(20), |out| {
        out.contains("steady RUNNING->")
    });
}

#[test]
fn a_burst_of_deploys_and_a_stop_in_the_middle_all_end_correctly() {
    let s = Showroom::with_apps(28600, &["slow"]);
    s.ok(&["deploy", "test1", "other"]);
    s.ok(&["start", "other"]);
    let names: Vec<String> = (0..10).map(|i| format!("burst{i}")).collect();
    // Scripts of 3 s: the burst lasts long enough for "in the middle" to mean something.
    let mut deploys: Vec<_> = names
        .iter()
        .map(|n| s.spawn_ctl(&["deploy", "slow", n, "--param", "seconds=3"]))
        .collect();
    s.wait_for("the burst to be under way", Duration::from_secs(20), || {
        s.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["status"] == "DEPLOYING")
    });
    assert_eq!(s.ok(&["stop", "other"]).trim(), "stopped other");
    let still = deploys
        .iter_mut()
        .map(|d| d.running())
        .filter(|r| *r)
        .count();
    assert!(
        still > 0,
        "the stop was answered only once every deploy of the burst had ended"
    );
    for (n, d) in names.iter().zip(deploys.iter_mut()) {
        assert_eq!(d.wait(Duration::from_secs(120)), Some(0), "deploy {n}");
    }
    let listed = s.installed();
    assert_eq!(listed.len(), 11, "{listed:?}");
    for (name, _, status, _) in &listed {
        assert_eq!(status, "STOPPED", "{name}");
    }
    let mut ports: Vec<u64> = listed.iter().map(|d| d.1).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 11, "no two demos share a port");
    assert_eq!(s.statename("other"), "STOPPED");
    s.ok(&["start", "burst5"]);
    assert_eq!(s.status("burst5"), "RUNNING");
}

#[test]
fn a_restart_over_many_demos_lists_them_all_with_the_right_status() {
    let mut s = Showroom::start(28700);
    let names: Vec<String> = (0..30).map(|i| format!("many{i:02}")).collect();
    let mut deploys: Vec<_> = names
        .iter()
        .map(|n| s.spawn_ctl(&["deploy", "test1", n]))
        .collect();
    for (n, d) in names.iter().zip(deploys.iter_mut()) {
        assert_eq!(d.wait(Duration::from_secs(180)), Some(0), "deploy {n}");
    }
    let running: Vec<&String> = names.iter().step_by(2).collect();
    for n in &running {
        s.ok(&["start", n]);
    }
    let want = |name: &str| {
        if running.iter().any(|r| *r == name) {
            "RUNNING"
        } else {
            "STOPPED"
        }
    };
    assert_eq!(s.stop_daemon(), Some(0));
    s.start_daemon();
    // The first answer: every demo, each with its status or, while the
    // checks at start run, UNKNOWN; never a wrong one.
    let first = s.installed();
    assert_eq!(
        first.iter().map(|d| d.0.clone()).collect::<Vec<_>>(),
        names,
        "every demo listed"
    );
    for (name, _, status, _) in &first {
        assert!(
            status == want(name) || status == "UNKNOWN",
            "{name} listed {status} right after the restart"
        );
    }
    s.wait_for("the checks at start", Duration::from_secs(30), || {
        s.installed().iter().all(|d| d.2 == want(&d.0))
    });
}

#[test]
fn a_dead_supervisord_is_seen_at_once_with_no_polling() {
    let s = unpolled(28800);
    s.ok(&["deploy", "test1", "orphan"]);
    s.ok(&["start", "orphan"]);
    // Past the time a just-started program is polled (HOT_FOR).
    std::thread::sleep(Duration::from_secs(7));
    s.kill_supervisord_and_its_demos();
    // Its event listener's connection ends with it: no sweep is due for an
    // hour, and the liveness check while a listener is connected is rare.
    s.wait_for("list to show UNKNOWN", Duration::from_secs(5), || {
        s.json(&["list"])[0]["status"] == "UNKNOWN"
    });
    let err = s.refused(&["start", "orphan"]);
    assert!(err.contains("supervisord is not running"), "{err}");
}

#[test]
fn starts_sent_together_all_end_and_each_demo_keeps_its_order() {
    let s = Showroom::start(28900);
    let names: Vec<String> = (0..4).map(|i| format!("go{i}")).collect();
    for n in names
        .iter()
        .chain(["busy".to_owned(), "flip".to_owned()].iter())
    {
        s.ok(&["deploy", "test1", n]);
    }
    s.ok(&["start", "busy"]);
    let mut starts: Vec<_> = names.iter().map(|n| s.spawn_ctl(&["start", n])).collect();
    // A start and then a stop of one demo, sent one after the other without
    // waiting: served in that order, so it ends stopped.
    let mut flip_start = s.spawn_ctl(&["start", "flip"]);
    // STARTING lasts its startsecs (1 s): the start is waiting for it.
    s.wait_for(
        "flip's process to be starting",
        Duration::from_secs(10),
        || s.statename("flip") == "STARTING",
    );
    let mut flip_stop = s.spawn_ctl(&["stop", "flip"]);
    assert_eq!(s.ok(&["stop", "busy"]).trim(), "stopped busy");
    for (n, st) in names.iter().zip(starts.iter_mut()) {
        assert_eq!(st.wait(Duration::from_secs(60)), Some(0), "start {n}");
    }
    assert_eq!(flip_start.wait(Duration::from_secs(60)), Some(0));
    assert_eq!(flip_stop.wait(Duration::from_secs(60)), Some(0));
    for n in &names {
        assert_eq!(s.status(n), "RUNNING", "{n}");
        // Answered once it answered on its port: supervisord's `startsecs`
        // may still run, and ends in RUNNING.
        s.wait_for(
            &format!("{n} RUNNING for supervisord"),
            Duration::from_secs(3),
            || s.statename(n) == "RUNNING",
        );
    }
    assert_eq!(s.status("busy"), "STOPPED");
    assert_eq!(s.status("flip"), "STOPPED");
    assert_eq!(s.statename("flip"), "STOPPED");
    let flip = s.listed("flip");
    assert_eq!(flip["wanted"], "stopped", "{flip}");
}
