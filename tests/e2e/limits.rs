//! Limits per demo (issue 19): memory and processes held by the kernel, a bounded /tmp, a cap on open files, each shown in `list --json`; a demo its memory limit killed says so in `list`, `status` and `watch`. Ports 13300-13599.

use std::time::Duration;

use crate::harness::{http_get, Options, Showroom};

/// Writes a deploy script `demo_APP.sh` taking the usual params.
fn script(s: &Showroom, app: &str, body: &str) {
    crate::netns::script(s, app, "name, comment", body);
}

/// A demo whose process is the Python program `code`.
fn py_app(s: &Showroom, app: &str, code: &str) {
    script(
        s,
        app,
        &format!(
            "cat > app.py <<'PY'\n{code}\nPY\nprintf '#!/bin/sh\\nexec python3 %s/app.py\\n' \"$PWD\" > start.sh\n"
        ),
    );
}

#[test]
fn a_demo_past_its_memory_limit_is_killed_and_says_why() {
    let s = Showroom::start(13300);
    assert_eq!(
        s.log_count("demo limits: cgroup v1"),
        1,
        "showroomd says which mechanism it uses:\n{}",
        s.daemon_log()
    );
    py_app(
        &s,
        "hog",
        "import time\nb = b'x' * (256 << 20)\ntime.sleep(600)",
    );
    s.ok(&["deploy", "hog", "hog", "--memory", "64M", "--procs", "100"]);
    let limits = s.listed("hog")["limits"].clone();
    assert_eq!(limits["memory"], 64 << 20, "{limits}");
    assert_eq!(limits["procs"], 100, "{limits}");
    assert_eq!(limits["nofile"], 4096, "the config's default: {limits}");
    let mut watch = s.spawn_watch(&[]);
    let refused = s.refused(&["start", "hog"]);
    assert!(refused.contains("hog"), "{refused}");
    s.wait_for("hog to give up", Duration::from_secs(30), || {
        s.status("hog") == "FATAL"
    });
    let reason = "out of memory (limit 64M)";
    let st = s.ctl(&["status", "hog"]);
    assert_eq!(st.stdout.trim(), "FATAL", "stdout stays the bare word");
    assert!(st.stderr.contains(reason), "{}", st.stderr);
    assert_eq!(s.listed("hog")["reason"], reason);
    let table = s.ok(&["list"]);
    assert!(
        table.contains("REASON") && table.contains(reason),
        "{table}"
    );
    watch.until("watch to say why", Duration::from_secs(10), |l| {
        l.contains("hog") && l.contains(reason)
    });
    // The kernel held it: the host was never asked for 256 MB on its behalf.
    assert!(s.processes_inside("python3").is_empty());
    // A demo with room enough runs as it is.
    s.ok(&["destroy", "hog"]);
    s.ok(&["deploy", "hog", "roomy", "--memory", "512M"]);
    s.ok(&["start", "roomy"]);
    assert_eq!(s.status("roomy"), "RUNNING");
    let st = s.ctl(&["status", "roomy"]);
    assert!(
        st.stderr.is_empty(),
        "no reason beside RUNNING: {}",
        st.stderr
    );
}

#[test]
fn a_fork_loop_stops_at_its_process_limit_while_the_host_and_another_demo_work() {
    let s = Showroom::start(13400);
    script(
        &s,
        "web",
        "mkdir -p www\necho 'still here' > www/index.html\n\
         printf '#!/bin/sh\\nexec python3 -m http.server %s --directory %s/www\\n' \"$PORT\" \"$PWD\" > start.sh\n",
    );
    s.ok(&["deploy", "web", "other"]);
    s.ok(&["start", "other"]);
    let other = s.port_of("other");
    py_app(
        &s,
        "forker",
        "import os, time\nn = 0\nfor i in range(400):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(600)\n        os._exit(0)\n    n += 1\nprint('forked', n, flush=True)\ntime.sleep(600)",
    );
    s.ok(&["deploy", "forker", "forker", "--procs", "40"]);
    s.ok(&["start", "forker"]);
    let forker_dir = s.state.join("demos/forker");
    s.wait_for("the fork loop to end", Duration::from_secs(30), || {
        std::fs::read_to_string(s.state.join("supervisor/logs/forker.stdout.log"))
            .is_ok_and(|t| t.contains("forked"))
            || s.status("forker") != "RUNNING"
    });
    let forked = crate::harness::processes_inside(&forker_dir, "python3").len();
    assert!(
        (2..40).contains(&forked),
        "the loop stopped short of its limit of 40 processes: {forked} of its own"
    );
    // The host forks as ever, and the other demo answers.
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
    s.wait_for("the other demo to answer", Duration::from_secs(10), || {
        http_get(other, "/").is_some_and(|(c, b)| c == 200 && b.trim() == "still here")
    });
    assert_eq!(s.status("other"), "RUNNING");
    s.ok(&["stop", "forker"]);
    assert!(crate::harness::processes_inside(&forker_dir, "python3").is_empty());
}

#[test]
fn tmp_is_bounded_and_open_files_are_capped() {
    let s = Showroom::with(Options {
        port_min: Some(13500),
        extra_config: "demo_tmp_size = \"16M\"\ndemo_nofile = 256\n".into(),
        ..Options::default()
    });
    script(
        &s,
        "filler",
        "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>dd.err || echo \"dd: $(head -1 dd.err)\"\n\
         echo \"tmp holds $(du -m /tmp/fill | cut -f1) MB\"\n\
         echo \"open files: $(ulimit -n)\"\n",
    );
    let out = s.ok(&["deploy", "filler", "filler"]);
    assert!(out.contains("No space left on device"), "{out}");
    let held: u64 = out
        .split("tmp holds ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(held <= 16, "/tmp held {held} MB past its 16 MB: {out}");
    assert!(out.contains("open files: 256"), "{out}");
    let limits = s.listed("filler")["limits"].clone();
    assert_eq!(limits["tmp_size"], 16 << 20, "{limits}");
    assert_eq!(limits["nofile"], 256, "{limits}");
    // A size no one can read is refused before anything runs.
    let e = s.ctl(&["deploy", "filler", "bad", "--memory", "lots"]);
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert!(e.stderr.contains("not a size"), "{}", e.stderr);
}
