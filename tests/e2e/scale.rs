//! Many demos on one host: supervisord's events reach `watch` without polling, a stop is answered in the middle of a burst of deploys, a restart lists every demo with its status (ports 28500-28999).

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
    let mut watch = s.spawn_ctl(&["watch"]);
    // watch has subscribed once it printed nothing and runs; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
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
    let s = Showroom::start(28600);
    s.ok(&["deploy", "test1", "other"]);
    s.ok(&["start", "other"]);
    let names: Vec<String> = (0..10).map(|i| format!("burst{i}")).collect();
    let mut deploys: Vec<_> = names
        .iter()
        .map(|n| s.spawn_ctl(&["deploy", "test1", n]))
        .collect();
    s.wait_for("the burst to be under way", Duration::from_secs(20), || {
        s.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["status"] == "DEPLOYING")
    });
    assert_eq!(s.ok(&["stop", "other"]).trim(), "stopped other");
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
