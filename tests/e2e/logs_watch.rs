//! `logs` (deploy log and process output, `--follow`) and `watch` (every state change, in order).

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Bg, Showroom};

/// N of a `tick N` line, after the time showroom puts before it.
fn tick(line: &str) -> Option<u64> {
    line.split_once("tick ")?.1.trim().parse().ok()
}

#[test]
fn logs_show_the_deploy_and_the_output_and_follow_streams() {
    let s = Showroom::with_apps(22600, &["chatty"]);
    s.ok(&["deploy", "chatty", "talk"]);
    let before_start = s.ok(&["logs", "talk"]);
    // Each deploy line with its time (HH:MM:SS on a terminal) first.
    let untimed: Vec<&str> = before_start
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((t, rest)) if t.len() == 8 && t.as_bytes()[2] == b':' => rest,
            _ => l,
        })
        .collect();
    assert_eq!(
        untimed,
        ["==> deploy <==", "preparing talk", "prepared talk"],
        "only the deploy log before a start: {before_start}"
    );
    s.ok(&["start", "talk"]);
    s.wait_for("a few ticks", Duration::from_secs(20), || {
        s.ok(&["logs", "talk"]).contains("tick 12")
    });
    let out = s.ok(&["logs", "talk", "--lines", "2"]);
    let sections: Vec<&str> = out.lines().filter(|l| l.starts_with("==> ")).collect();
    assert_eq!(
        sections,
        ["==> deploy <==", "==> stdout <==", "==> stderr <=="],
        "{out}"
    );
    let ticks: Vec<u64> = out.lines().filter_map(tick).collect();
    assert_eq!(ticks.len(), 2, "--lines 2 keeps the last two: {out}");
    assert_eq!(ticks[1], ticks[0] + 1);
    assert!(out.contains("chatty starting"));

    let json = s.ok(&["logs", "talk", "--json", "--lines", "1"]);
    let chunks: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sources: Vec<&str> = chunks
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["deploy", "stdout", "stderr"]);
    assert_eq!(
        chunks[0]["text"], "prepared talk",
        "--lines applies to each log, one object a line"
    );
    assert!(chunks[0]["at"].as_str().unwrap().ends_with('Z'));

    // --follow: the recent lines, then new ones as they are written, until interrupted.
    let mut follow = s.spawn_ctl(&["logs", "talk", "--follow", "--lines", "1"]);
    let first = follow.until("a tick", Duration::from_secs(10), |l| tick(l).is_some());
    let first = tick(&first).unwrap();
    let later = follow.until("five ticks later", Duration::from_secs(20), |l| {
        tick(l).is_some_and(|n| n >= first + 5)
    });
    let seen: Vec<u64> = follow.seen.iter().filter_map(|l| tick(l)).collect();
    assert_eq!(
        seen,
        (first..=tick(&later).unwrap()).collect::<Vec<_>>(),
        "every line, once, in order"
    );
    assert!(follow.running(), "--follow keeps going");
    follow.interrupt();

    assert!(s
        .refused(&["logs", "nosuchdemo"])
        .contains("this demo does not exist"));
    let bad_name = s.refused(&["logs", "../etc"]);
    assert!(bad_name.contains("name"), "{bad_name}");
    // A destroyed demo's deploy log stays readable until a cleanup.
    s.ok(&["destroy", "talk"]);
    assert!(s.ok(&["logs", "talk"]).contains("prepared talk"));
}

/// Reads `watch --json` lines until each `(demo, event suffix)` has been seen, in this order.
fn expect(watch: &mut Bg, events: &[(Option<&str>, &str)]) -> Vec<Value> {
    let mut found = vec![];
    for &(demo, event) in events {
        let line = watch.until(&format!("{demo:?} {event}"), Duration::from_secs(30), |l| {
            let v: Value = serde_json::from_str(l).expect("one JSON object a line");
            v["demo"].as_str() == demo && v["event"].as_str().unwrap().ends_with(event)
        });
        found.push(serde_json::from_str(&line).unwrap());
    }
    found
}

#[test]
fn watch_prints_every_change_in_order() {
    let s = Showroom::start(22700);
    let subscribed = s.log_count("a watcher subscribed");
    let mut plain = s.spawn_ctl(&["watch"]);
    let mut watch = s.spawn_ctl(&["watch", "--json"]);
    s.wait_for(
        "both watchers to subscribe",
        Duration::from_secs(10),
        || s.log_count("a watcher subscribed") == subscribed + 2,
    );

    s.ok(&["deploy", "test1", "good"]);
    s.ok(&["start", "good"]);
    s.ok(&["deploy", "error2", "bad"]);
    s.refused(&["start", "bad"]);
    // FATAL is told by the poller, without a request: wait for it on the stream itself.
    let mut events = expect(
        &mut watch,
        &[
            (Some("good"), "deploy-started"),
            (Some("good"), "deployed"),
            (Some("good"), "started"),
            (Some("bad"), "deploy-started"),
            (Some("bad"), "deployed"),
            (Some("bad"), "start-failed"),
            (Some("bad"), "->FATAL"),
        ],
    );
    s.ok(&["stop", "good"]);
    s.ok(&["destroy", "bad"]);
    s.refused(&["deploy", "error", "broken"]);
    s.ok(&["supervisor", "stop"]);
    s.ok(&["supervisor", "start"]);
    events.extend(expect(
        &mut watch,
        &[
            (Some("good"), "stopped"),
            (Some("bad"), "destroyed"),
            (Some("broken"), "deploy-failed"),
            (None, "supervisord-down"),
            (None, "supervisord-up"),
        ],
    ));
    // The FATAL transition came from the poller, through BACKOFF.
    assert!(
        watch
            .seen
            .iter()
            .any(|l| l.contains("\"bad\"") && l.contains("->BACKOFF")),
        "{:#?}",
        watch.seen
    );
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // The plain form: time, demo, event, one a line, as an operator reads it.
    let line = plain.until("good started", Duration::from_secs(10), |l| {
        l.contains(" good started")
    });
    assert!(line.starts_with("20") && line.contains('T'), "{line}");
    plain.until("supervisord up", Duration::from_secs(10), |l| {
        l.contains(" - supervisord-up")
    });
    assert!(
        watch.running() && plain.running(),
        "watch runs until interrupted"
    );
}
