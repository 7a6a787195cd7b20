//! Idle demos sleep and wake on their first request through the front door (issue 23), with the real supervisord and Apache: the process gone while SLEEPING, a GET and a POST held through the wake and answered by the demo, 50 requests waking it once, a WebSocket keeping it awake, cleanup and restore leaving it asleep, its own port not waking it, a failed wake a 503 with its reason for the operator. Ports 18000-18999.

use std::path::Path;
use std::time::Duration;

use crate::frontdoor::{curl, echoed, port_answers, require};
use crate::harness::{fixtures, Options, Showroom};

/// A showroom with the front door on `front`, demos on the ports below it,
/// and the sleepy app (tests/fixtures/sleep).
fn showroom(base: u16, front: u16) -> Showroom {
    require(&[("curl", "curl"), ("python3", "python3")]);
    let s = Showroom::with(Options {
        port_min: Some(base),
        // The front door takes the range's last port: the demos stop short of it.
        port_max: Some(base + 39),
        front_port: front,
        ..Options::default()
    });
    for f in ["demo_sleepy.sh", "sleepy_app.py"] {
        std::fs::copy(fixtures().join("sleep").join(f), s.scripts.join(f)).unwrap();
    }
    std::fs::copy(
        fixtures().join("frontdoor/echo_app.py"),
        s.scripts.join("echo_app.py"),
    )
    .unwrap();
    s
}

/// How many times the demo's start script ran.
fn boots(s: &Showroom, name: &str) -> usize {
    std::fs::read_to_string(s.state.join("demos").join(name).join("boots"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Deploys a sleepy demo that sleeps after `idle` and starts it; its URL.
fn sleepy(s: &Showroom, name: &str, idle: &str, fail_from: u32, front: u16) -> String {
    s.ok(&[
        "deploy",
        "sleepy",
        name,
        "--param",
        &format!("fail_from={fail_from}"),
        "--sleep-after",
        idle,
    ]);
    s.ok(&["start", name]);
    format!("http://{name}.localhost:{front}/")
}

#[track_caller]
fn wait_status(s: &Showroom, name: &str, want: &str, limit: Duration) {
    s.wait_for(&format!("{name} to be {want}"), limit, || {
        s.status(name) == want
    });
}

/// Ports 18000-18049: asleep, its process gone and its own port closed (and
/// nothing there wakes it), untouched by `cleanup --status STOPPED`; a GET,
/// a POST with a body and 50 requests at once each held through a wake and
/// answered by the demo itself, one start each time.
#[test]
fn sleep_a_request_wakes_it_and_gets_the_real_answer() {
    let front = 18049;
    let s = showroom(18000, front);
    let url = sleepy(&s, "nap", "3s", 0, front);
    let port = s.port_of("nap");
    // A start answers once the app answers on its port (not after a fixed
    // wait): the very first request gets the demo's own 200.
    let got = curl(&url, &[]);
    assert_eq!(got.code, 200, "{}", got.body);
    assert_eq!(echoed(&got)["app"], "sleepy");
    assert_eq!(s.listed("nap")["status"], "RUNNING");
    let mut watch = s.spawn_watch(&[]);

    wait_status(&s, "nap", "SLEEPING", Duration::from_secs(20));
    watch.until("watch to tell SLEEPING", Duration::from_secs(5), |l| {
        l.contains("nap") && l.contains("SLEEPING")
    });
    // Its forwarder (pasta) ends a moment after the demo's process.
    s.wait_for(
        "a sleeping demo's port to close",
        Duration::from_secs(5),
        || !port_answers(port),
    );
    assert_eq!(s.statename("nap"), "STOPPED");
    assert_eq!(s.listed("nap")["wanted"], "running");
    assert!(s.ok(&["list"]).contains("SLEEPING"));
    // Its own port does not wake it, nor does a cleanup of stopped demos take it.
    assert_eq!(crate::harness::http_get(port, "/"), None);
    let cleaned = s.ok(&["cleanup", "--status", "STOPPED"]);
    assert!(!cleaned.contains("nap"), "{cleaned}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.status("nap"), "SLEEPING");
    assert_eq!(boots(&s, "nap"), 1);

    // A plain GET through the front door: the demo's own answer, not a waiting page.
    // A client's own naming header is replaced by the front door's, and
    // the demo sees neither.
    let got = echoed(&curl(&url, &["-H", "X-Showroom-Wake: nosuch"]));
    assert_eq!(got["app"], "sleepy");
    assert_eq!(got["path"], "/");
    assert!(got["headers"].get("x-showroom-wake").is_none(), "{got}");
    assert_eq!(boots(&s, "nap"), 2);
    wait_status(&s, "nap", "RUNNING", Duration::from_secs(10));

    // A POST whose body is held through the wake arrives whole.
    wait_status(&s, "nap", "SLEEPING", Duration::from_secs(20));
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = s.dir.path().join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let got = curl(
        &url,
        &[
            "--data-binary",
            &format!("@{}", file.display()),
            "-H",
            "Content-Type: application/octet-stream",
        ],
    );
    let posted = echoed(&got);
    assert_eq!(posted["length"], body.len());
    assert_eq!(posted["sha256"], sha256(&file));
    assert_eq!(boots(&s, "nap"), 3);

    // 50 requests at once for one sleeping demo: one start, 50 answers.
    wait_status(&s, "nap", "SLEEPING", Duration::from_secs(20));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let u = format!("{url}n{i}");
            std::thread::spawn(move || curl(&u, &[]))
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let got = echoed(&t.join().unwrap());
        assert_eq!(got["path"], format!("/n{i}"));
    }
    assert_eq!(boots(&s, "nap"), 4, "50 requests started it once");
    // Answered once its port did, maybe before supervisord's startsecs.
    wait_status(&s, "nap", "RUNNING", Duration::from_secs(10));
}

fn sha256(file: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Ports 18050-18099: a WebSocket open through the front door keeps the
/// demo awake past its idle time; once it closes the demo sleeps. A restore
/// after a fresh supervisord leaves a sleeping demo asleep; `stop` makes it
/// stopped.
#[test]
fn sleep_a_websocket_keeps_it_awake_and_a_restore_leaves_it_asleep() {
    let front = 18099;
    let s = showroom(18050, front);
    // Wanted running and never asleep: what a restore brings back. Started
    // first, so that the WebSocket opens well within the other's idle time.
    s.ok(&["deploy", "sleepy", "up", "--param", "fail_from=0"]);
    s.ok(&["start", "up"]);
    sleepy(&s, "ws", "3s", 0, front);
    let host = format!("ws.localhost:{front}");
    let held = std::process::Command::new("python3")
        .arg(fixtures().join("sleep/sleepy_app.py"))
        .args(["wsheld", &front.to_string(), &host, "10"])
        .output()
        .unwrap();
    assert!(
        held.status.success(),
        "{}",
        String::from_utf8_lossy(&held.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&held.stdout),
        "echo: one\necho: two\n"
    );
    assert_eq!(
        boots(&s, "ws"),
        1,
        "it stayed awake while the WebSocket was open"
    );
    wait_status(&s, "ws", "SLEEPING", Duration::from_secs(20));

    s.ok(&["supervisor", "stop"]);
    s.ok(&["supervisor", "start"]);
    s.wait_for("the restore to end", Duration::from_secs(20), || {
        s.log_count("restore done") >= 1
    });
    assert_eq!(s.status("up"), "RUNNING");
    assert_eq!(s.status("ws"), "SLEEPING");
    assert_eq!(boots(&s, "ws"), 1);
    s.ok(&["stop", "ws"]);
    assert_eq!(s.status("ws"), "STOPPED");
    assert_eq!(s.listed("ws")["wanted"], "stopped");
}

/// Ports 18100-18149: a demo whose start fails when woken: the visitor
/// gets a 503 page, the operator the failure's reason.
#[test]
fn sleep_a_failed_wake_is_a_503_and_its_reason_for_the_operator() {
    let front = 18149;
    let s = showroom(18100, front);
    let url = sleepy(&s, "bad", "3s", 2, front);
    wait_status(&s, "bad", "SLEEPING", Duration::from_secs(20));
    let got = curl(&url, &[]);
    assert_eq!(got.code, 503, "{}", got.body);
    assert!(got.body.contains("could not be woken"), "{}", got.body);
    assert!(!got.body.contains("database"), "{}", got.body);
    // Its start failed as any start does: supervisord gives up after its retries.
    wait_status(&s, "bad", "FATAL", Duration::from_secs(30));
    // As for a failed start: the daemon's log says it, the demo's log why.
    let log = s.daemon_log();
    assert!(
        log.contains("a request for a sleeping demo got a 503")
            && log.contains("ABNORMAL_TERMINATION"),
        "{log}"
    );
    let why = s.ok(&["logs", "bad"]);
    assert!(why.contains("its database is gone"), "{why}");
}

/// Ports 18150-18199: supervisord calls a process RUNNING after its 1 s
/// `startsecs`, a clock; an app that takes 2.5 s of work to listen is
/// started when it answers, so the first request after `start` (and after a
/// wake) is the demo's own 200, never the front door's 502. One that never
/// listens (the seed's `sleep`) is started at RUNNING all the same.
#[test]
fn sleep_a_start_ends_when_an_app_slower_than_startsecs_answers() {
    let front = 18199;
    let s = showroom(18150, front);
    std::fs::write(
        s.scripts.join("demo_slowboot.sh"),
        r#"#!/bin/bash
# An app that works 2.5 s before it listens (as imports, a cache warmed).
set -euo pipefail
cp "$(dirname "$0")/sleepy_app.py" "$(dirname "$0")/echo_app.py" .
cat > start.sh <<SH
#!/bin/sh
python3 -c 'import time
t = time.monotonic()
while time.monotonic() - t < 2.5: pass'
exec python3 "${PWD}/sleepy_app.py" serve ${PORT} slowboot
SH
"#,
    )
    .unwrap();
    s.ok(&["deploy", "slowboot", "slow", "--sleep-after", "3s"]);
    let url = format!("http://slow.localhost:{front}/");
    let began = std::time::Instant::now();
    s.ok(&["start", "slow"]);
    let took = began.elapsed();
    let got = curl(&url, &[]);
    assert_eq!(got.code, 200, "after {took:?}: {}", got.body);
    assert_eq!(echoed(&got)["app"], "slowboot");
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    assert_eq!(s.status("slow"), "RUNNING");
    // The same through a wake: the held request gets the demo's answer.
    wait_status(&s, "slow", "SLEEPING", Duration::from_secs(20));
    let got = curl(&url, &[]);
    assert_eq!(got.code, 200, "{}", got.body);
    assert_eq!(echoed(&got)["app"], "slowboot");

    // The seed's test1 listens nowhere: its start ends at RUNNING (1 s),
    // not after ready_wait_secs (10 s).
    std::fs::copy(
        fixtures().join("seed/demo_test1.sh"),
        s.scripts.join("demo_test1.sh"),
    )
    .unwrap();
    s.ok(&["deploy", "test1", "quiet"]);
    let began = std::time::Instant::now();
    s.ok(&["start", "quiet"]);
    let took = began.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(s.status("quiet"), "RUNNING");
}
