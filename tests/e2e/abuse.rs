//! Issue 10's abuse cases: output no deploy must choke on, clients that never read, thousands of held connections, and the small refusals (duplicate params, control characters, unknown apps). Ports 21400-21799 (sandbox.rs has 26500-26899).

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use protocol::codec::encode;
use protocol::{DeployRequest, ErrorKind, Request, Response};

use crate::harness::{hold_connections, Options, Showroom};
use crate::protocol_level::{hello, read_response, send_raw};

/// Sends a deploy on a connection of its own and returns it unread.
pub(crate) fn deploy_raw(
    s: &Showroom,
    app: &str,
    name: &str,
    params: &[(&str, &str)],
) -> UnixStream {
    let mut sock = hello(s);
    let req = Request::Deploy(DeployRequest {
        app: app.into(),
        name: name.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        comment: String::new(),
        ttl_secs: None,
        memory: None,
        procs: None,
        sleep_after_secs: None,
    });
    send_raw(&mut sock, &encode(&req).unwrap());
    sock
}

/// A deploy sent straight to the daemon, as by a client that checks
/// nothing, and the refusal it must get.
#[track_caller]
pub(crate) fn deploy_refused_raw(
    s: &Showroom,
    app: &str,
    name: &str,
    params: &[(&str, &str)],
) -> protocol::ProtocolError {
    match read_response(&mut deploy_raw(s, app, name, params)) {
        Some(Response::Error(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn long_lines_progress_bars_and_binary_output_never_hold_a_deploy_up() {
    let s = Showroom::with(Options {
        port_min: Some(21400),
        extra_apps: vec!["longline", "progress", "binary", "flood"],
        deploy_timeout_secs: 60,
        extra_config: "deploy_log_max_bytes = 65536\n".into(),
        ..Options::default()
    });
    for app in ["longline", "progress", "binary"] {
        let t0 = Instant::now();
        s.ok(&["deploy", app, app]);
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "deploying {app} took {:?}, near its 60 s timeout",
            t0.elapsed()
        );
    }
    let log = s.ok(&["logs", "longline"]);
    assert!(
        log.contains("cut"),
        "the long line is said to be cut:\n{log:.300}"
    );
    assert!(s.ok(&["logs", "progress"]).contains("progress done"));
    assert!(s.ok(&["logs", "binary"]).contains("binary done"));

    // 200,000 lines against a 64 KiB cap: the log keeps its end, and says what it cut.
    s.ok(&["deploy", "flood", "big", "--param", "lines=200000"]);
    let log = std::fs::read(s.state.join("logs/deploy/big.log")).unwrap();
    assert!(log.len() <= 65536, "the log is capped: {} bytes", log.len());
    let text = String::from_utf8_lossy(&log);
    // Each line after its time.
    let last: Vec<&str> = text.lines().rev().take(3).collect();
    assert!(
        last[2].ends_with("Z 199999")
            && last[1].ends_with("Z 200000")
            && last[0].ends_with("Z the last line"),
        "{:.200}",
        &text[text.len() - 150..]
    );
    assert!(text.starts_with("showroomd: "), "{:.200}", text);
    assert!(
        text.lines().next().unwrap().contains("cut"),
        "{:.200}",
        text
    );
}

#[test]
fn a_client_that_never_reads_stalls_neither_its_deploy_nor_the_others_nor_the_shutdown() {
    let mut s = Showroom::with(Options {
        port_min: Some(21500),
        extra_apps: vec!["flood"],
        deploy_timeout_secs: 8,
        // One slot: a job stalled by its client would block every other deploy.
        extra_config: "max_deploy_jobs = 1\n".into(),
        ..Options::default()
    });
    // 3.4 MB of short lines, far more than the socket and showroomd's queue hold.
    let mut flooded = deploy_raw(&s, "flood", "flooded", &[]);
    s.wait_for("the unread deploy to end", Duration::from_secs(30), || {
        !matches!(s.status("flooded").as_str(), "DEPLOYING" | "DESTROYED")
    });
    // Other deploys get the slot.
    let t0 = Instant::now();
    s.ok(&["deploy", "test1", "other"]);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    // The demo is no longer held by its deploy.
    s.ok(&["destroy", "flooded"]);

    // The client, reading at last, is told how much it lost.
    let mut dropped = None;
    loop {
        match read_response(&mut flooded) {
            Some(Response::Progress(l)) if l.contains("dropped") => dropped = Some(l),
            Some(Response::Progress(_)) => {}
            Some(Response::Deployed(d)) => {
                assert_eq!(d.name, "flooded");
                break;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    let dropped = dropped.expect("a line says how many lines were dropped");
    assert!(dropped.contains("read too slowly"), "{dropped}");

    // A deploy that outlives its deadline while nobody reads it is killed at the deadline.
    let _overdue = deploy_raw(&s, "flood", "overdue", &[("sleep", "300")]);
    s.wait_for(
        "the overdue deploy to start",
        Duration::from_secs(10),
        || s.status("overdue") == "DEPLOYING",
    );
    let t0 = Instant::now();
    s.wait_for(
        "the overdue deploy to be killed",
        Duration::from_secs(30),
        || s.status("overdue") == "DESTROYED",
    );
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert!(s.log_count("killed after 8s") >= 1, "{}", s.daemon_log());

    // One more, still running and unread at SIGTERM: showroomd stops within its grace (5 s) and a little.
    let _unread = deploy_raw(&s, "flood", "unread", &[("sleep", "300")]);
    s.wait_for("the last deploy to start", Duration::from_secs(10), || {
        s.status("unread") == "DEPLOYING"
    });
    let t0 = Instant::now();
    assert_eq!(s.stop_daemon(), Some(0));
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "SIGTERM took {:?}",
        t0.elapsed()
    );
}

#[test]
fn two_thousand_held_connections_leave_showroomd_serving_and_supervisord_up() {
    // A system service starts with a soft limit of 1024 descriptors: 2000
    // connections exhausted it before showroomd raised it and capped them.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, 1024.min(hard), hard).unwrap();
    let s = Showroom::with(Options {
        port_min: Some(21600),
        extra_config: "idle_timeout_secs = 4\n".into(),
        ..Options::default()
    });
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    s.ok(&["deploy", "test1", "kept"]);
    s.ok(&["start", "kept"]);
    assert_eq!(s.status("kept"), "RUNNING");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = rt.block_on(hold_connections(&s.socket, 2000));
    assert!(
        held.len() > 1000,
        "only {} connections were taken",
        held.len()
    );
    // A sweep (every 3 s) falls in this window: supervisord must never seem down.
    for _ in 0..4 {
        let t0 = Instant::now();
        let o = s.ctl(&["list"]);
        assert_eq!(o.code, 0, "list: {}{}", o.stdout, o.stderr);
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "list took {:?}",
            t0.elapsed()
        );
        assert_eq!(s.status("kept"), "RUNNING");
        std::thread::sleep(Duration::from_secs(1));
    }
    // What showroomd logs when supervisord stops answering (`Actor::send`).
    assert_eq!(
        s.log_count("supervisord is not answering"),
        0,
        "{}",
        s.daemon_log()
    );
    assert_eq!(s.log_count("accept failed"), 0);

    // A watcher is not idle: it outlives the idle limit; a silent connection does not.
    let mut watch = s.spawn_ctl(&["watch"]);
    let mut silent = hello(&s);
    std::thread::sleep(Duration::from_secs(6));
    assert!(watch.running(), "watch was cut as idle");
    crate::protocol_level::assert_closed_within(
        &mut silent,
        Duration::from_secs(5),
        "an idle connection past the idle limit",
    );
    s.ok(&["stop", "kept"]);
    watch.until("the stop event", Duration::from_secs(10), |l| {
        l.contains("stopped")
    });
    drop(held);
}

#[test]
fn duplicate_params_control_characters_unknown_apps_and_bad_script_names_are_refused_clearly() {
    let mut s = Showroom::with(Options {
        port_min: Some(21700),
        extra_apps: vec!["slow"],
        ..Options::default()
    });
    // A duplicate param: refused by showroomctl, and by showroomd when sent raw.
    let err = s.refused(&[
        "deploy",
        "test1",
        "dup",
        "--param",
        "comment=a",
        "--param",
        "comment=b",
    ]);
    assert!(err.contains("twice"), "{err}");
    let e = deploy_refused_raw(&s, "test1", "dup", &[("comment", "a"), ("comment", "b")]);
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("twice"), "{}", e.message);
    assert_eq!(s.status("dup"), "DESTROYED");

    // A newline in a comment, by --comment or by the comment param.
    for args in [
        &["deploy", "test1", "nl", "--comment", "one\ntwo"][..],
        &["deploy", "test1", "nl", "--param", "comment=one\rtwo"][..],
    ] {
        let err = s.refused(args);
        assert!(err.contains("control character"), "{err}");
    }
    assert_eq!(s.status("nl"), "DESTROYED");

    // A record that holds one anyway (written by an older showroom) stays on one table row.
    s.ok(&["deploy", "test1", "esc", "--comment", "fine"]);
    s.stop_daemon();
    let record = s.state.join("records/esc.toml");
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(
        &record,
        text.replace("\"fine\"", "\"one\\ntwo\\u001b[31m\""),
    )
    .unwrap();
    s.start_daemon();
    let table = s.ok(&["list"]);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains("one\\ntwo\\u{1b}[31m"), "{table}");

    // `available` offers only what `deploy` accepts.
    for bad in [
        "demo_a b.sh",
        "demo_apache2.sh",
        "demo_.hidden.sh",
        "demo_-x.sh",
    ] {
        std::fs::write(s.scripts.join(bad), "#!/bin/bash\necho\n").unwrap();
    }
    let apps = s.json(&["available"]);
    let apps = apps.as_object().unwrap();
    assert!(apps.contains_key("test1") && apps.contains_key("slow"));
    for app in apps.keys() {
        assert!(
            protocol::names::validate_name(app).is_ok(),
            "available lists {app:?}, which deploy refuses"
        );
    }

    // An unknown app: the seed's words, then which scripts exist and where.
    let err = s.refused(&["deploy", "nosuch", "x"]);
    let mut lines = err.lines();
    assert_eq!(lines.next(), Some("showroomctl: this demo does not exist"));
    let rest: String = lines.collect::<Vec<_>>().join("\n");
    assert!(rest.contains("test1") && rest.contains("slow"), "{err}");
    assert!(rest.contains(&*s.scripts.to_string_lossy()), "{err}");

    // The README names the file where a running deploy's process group is kept.
    let readme = std::fs::read_to_string(crate::harness::repo_root().join("README.md")).unwrap();
    assert!(readme.contains("STATE/logs/deploy/NAME.pgid"));
    let mut slow = s.spawn_ctl(&["deploy", "slow", "pg", "--param", "seconds=3"]);
    s.wait_for("the pgid file", Duration::from_secs(10), || {
        s.state.join("logs/deploy/pg.pgid").is_file()
    });
    assert_eq!(slow.wait(Duration::from_secs(30)), Some(0));
}
