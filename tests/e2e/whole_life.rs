//! A demo's whole life (issue 13): the demos wanted running come back after a fresh supervisord, a TTL expires one across a restart of showroomd, a clone serves its own copy, an app without a reconfigure step is refused. Ports 27500-27999.

use std::time::Duration;

use crate::harness::{http_get, Options, Showroom};

/// Polls for a 200 from `port` that has `wanted` in it.
#[track_caller]
fn serves(s: &Showroom, port: u16, wanted: &str) {
    crate::shipped_demos::serves_soon(s, port, &[wanted]);
}

#[track_caller]
fn wait_status(s: &Showroom, name: &str, want: &str) {
    s.wait_for(
        &format!("{name} to be {want}"),
        Duration::from_secs(30),
        || s.status(name) == want,
    );
}

/// Each time supervisord starts afresh, exactly the demos wanted running are running, vhosts served.
#[track_caller]
fn check_restored(s: &Showroom, vhost_port: u16, proxied_port: u16) {
    for n in ["a", "v", "p"] {
        wait_status(s, n, "RUNNING");
    }
    assert_eq!(s.status("b"), "STOPPED", "b was wanted stopped");
    assert_eq!(s.statename("b"), "STOPPED");
    serves(s, vhost_port, "hello from v");
    serves(s, proxied_port, "<h1>p</h1>");
}

#[test]
fn a_fresh_supervisord_brings_back_exactly_the_demos_wanted_running() {
    let mut s = Showroom::with(Options {
        port_min: Some(27500),
        shipped_apps: vec!["proxied"],
        ..Options::default()
    });
    for (app, name) in [
        ("test1", "a"),
        ("test1", "b"),
        ("testapache", "v"),
        ("proxied", "p"),
    ] {
        s.ok(&["deploy", app, name]);
    }
    for n in ["a", "b", "v", "p"] {
        s.ok(&["start", n]);
    }
    s.ok(&["stop", "b"]);
    assert_eq!(s.listed("a")["wanted"], "running");
    assert_eq!(s.listed("b")["wanted"], "stopped");
    let (vport, pport) = (s.port_of("v"), s.port_of("p"));

    // A restarted showroomd over a running supervisord changes nothing.
    let sup = s.supervisord_pid();
    assert_eq!(s.stop_daemon(), Some(0));
    s.start_daemon();
    assert_eq!(s.supervisord_pid(), sup);
    assert_eq!(s.log_count("brought back"), 0);
    check_restored(&s, vport, pport);

    // A reboot: showroomd and supervisord both gone, showroomd started again.
    assert_eq!(s.stop_daemon(), Some(0));
    s.supervisorctl(&["shutdown"]);
    s.wait_for("supervisord to be gone", Duration::from_secs(15), || {
        s.supervisord_pid()
            .is_none_or(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_err())
    });
    assert_eq!(
        http_get(vport, "/"),
        None,
        "nothing serves after the reboot"
    );
    s.start_daemon();
    check_restored(&s, vport, pport);
    assert!(
        s.log_count("restore done: every demo wanted running is back") >= 1,
        "{}",
        s.daemon_log()
    );

    // `supervisor stop` then `supervisor start`.
    s.ok(&["supervisor", "stop"]);
    s.ok(&["supervisor", "start"]);
    check_restored(&s, vport, pport);
    assert_eq!(
        s.log_count("restore done: every demo wanted running is back"),
        2
    );
}

#[test]
fn a_ttl_expires_a_demo_across_a_restart_and_expire_never_keeps_one() {
    let mut s = Showroom::start(27600);
    s.ok(&["deploy", "test1", "kept", "--ttl", "4s"]);
    s.ok(&["deploy", "test1", "soon", "--ttl", "1h"]);
    for n in ["kept", "soon"] {
        s.ok(&["start", n]);
    }
    let kept = s.json(&["expire", "kept", "never"]);
    assert_eq!(kept["expires_at"], serde_json::Value::Null);
    assert_eq!(s.listed("kept")["expires_at"], serde_json::Value::Null);
    s.ok(&["deploy", "test1", "x", "--ttl", "8s"]);
    s.ok(&["start", "x"]);
    assert!(s.listed("x")["expires_at"].is_string());
    assert!(s.listed("x")["deploy_secs"].as_f64().unwrap() > 0.0);

    // x's time passes while showroomd is down: it fires at the next start.
    assert_eq!(s.stop_daemon(), Some(0));
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(
        s.statename("x"),
        "RUNNING",
        "nothing expires it without showroomd"
    );
    s.start_daemon();
    wait_status(&s, "x", "STOPPED");
    assert_eq!(s.listed("x")["wanted"], "stopped");
    assert_eq!(s.listed("x")["expires_at"], serde_json::Value::Null);
    assert_eq!(s.log_count("expired: its time was up"), 1);
    assert_eq!(s.status("kept"), "RUNNING");

    // A running showroomd's timer: `expire soon 2s`, seen by `watch`.
    let mut watch = s.spawn_watch(&[]);
    s.ok(&["expire", "soon", "2s"]);
    wait_status(&s, "soon", "STOPPED");
    watch.until("an expired event", Duration::from_secs(10), |l| {
        l.contains("soon") && l.contains("expired")
    });
    assert_eq!(s.status("kept"), "RUNNING");
    assert!(s.ok(&["list"]).contains("EXPIRES"));
}

#[test]
fn a_clone_of_a_running_proxied_demo_serves_its_own_copy_while_the_source_serves_on() {
    let s = Showroom::with(Options {
        port_min: Some(27700),
        shipped_apps: vec!["proxied"],
        ..Options::default()
    });
    s.ok(&["deploy", "proxied", "src", "--comment", "the original"]);
    s.ok(&["start", "src"]);
    let src_port = s.port_of("src");
    serves(&s, src_port, "<h1>src</h1>");

    let out = s.ok(&["clone", "src", "copy"]);
    assert!(out.contains("cloned copy"), "{out}");
    assert_eq!(
        s.status("src"),
        "RUNNING",
        "the source runs again after its copy"
    );
    serves(&s, src_port, "<h1>src</h1>");
    let copy = s.listed("copy");
    assert_eq!(copy["status"], "STOPPED");
    assert_eq!(copy["comment"], "the original");
    assert!(copy["deploy_secs"].as_f64().is_some());
    let copy_port = s.port_of("copy");
    assert_ne!(copy_port, src_port);

    s.ok(&["start", "copy"]);
    serves(&s, copy_port, "<h1>copy</h1>");
    serves(&s, src_port, "<h1>src</h1>");
    let section = std::fs::read_to_string(s.state.join("demos/copy/supervisor.cfg")).unwrap();
    assert!(section.contains("[program:copy]"), "{section}");
}

#[test]
fn a_clone_without_a_reconfigure_step_is_refused_and_a_failed_one_leaves_nothing() {
    let s = Showroom::start(27800);
    s.ok(&["deploy", "test1", "a"]);
    s.ok(&["start", "a"]);
    let err = s.refused(&["clone", "a", "b"]);
    assert!(err.contains("no reconfigure step"), "{err}");
    assert_eq!(s.demo_names_on_disk(), ["a"]);
    assert_eq!(s.json(&["list"]).as_array().unwrap().len(), 1);

    // A reconfigure step that fails: the clone is rolled back, the source runs on.
    std::fs::write(
        s.scripts.join("reconfigure_test1.sh"),
        "echo cannot; exit 3\n",
    )
    .unwrap();
    let err = s.refused(&["clone", "a", "b"]);
    assert!(err.contains("cannot"), "{err}");
    assert_eq!(s.demo_names_on_disk(), ["a"]);
    assert!(!s.supervisorctl(&["status"]).contains("b "));
    wait_status(&s, "a", "RUNNING");
}
