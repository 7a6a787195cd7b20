//! Day two (issue 21), the daemon's half: a failure says why wherever it is seen, a port another program holds is never handed out, restart, redeploy, keep, and `# PORTS: 2`. Ports 15000-15999.

use std::net::TcpListener;
use std::time::Duration;

use crate::harness::{http_get, Options, Showroom};
use crate::shipped_demos::serves_soon;

fn showroom(port_min: u16, apps: &[&'static str]) -> Showroom {
    Showroom::with(Options {
        port_min: Some(port_min),
        port_max: Some(port_min + 49),
        extra_apps: apps.to_vec(),
        ..Options::default()
    })
}

#[test]
fn a_crash_at_start_says_why_in_the_error_the_list_status_and_watch() {
    let s = showroom(15000, &["nodb"]);
    s.ok(&["deploy", "nodb", "crash1"]);
    let watch = s.spawn_watch(&[]);
    let err = s.refused(&["start", "crash1"]);
    // The seed's words first, then why.
    assert!(
        err.starts_with("showroomctl: ABNORMAL_TERMINATION: crash1"),
        "{err}"
    );
    for said in [
        "crash1 exited with status 3 after",
        "FATAL: DATABASE_URL is not set",
        "first try of 4",
        "SPAWN_ERROR",
    ] {
        assert!(err.contains(said), "{said:?} in:\n{err}");
    }
    assert!(
        err.trim_end().ends_with("more: showroomctl logs crash1"),
        "{err}"
    );

    s.wait_for("crash1 to be FATAL", Duration::from_secs(30), || {
        s.listed("crash1")["status"] == "FATAL"
    });
    let reason = s.listed("crash1")["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("exited with status 3")
            && reason.contains("gave up after 4 tries")
            && reason.ends_with("FATAL: DATABASE_URL is not set"),
        "{reason}"
    );
    let table = s.ok(&["list"]);
    assert!(table.contains("REASON"), "{table}");
    assert!(table.contains("DATABASE_URL is not set"), "{table}");

    // `status`: the bare word on stdout, which scripts read; why on stderr.
    let out = s.ctl(&["status", "crash1"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "FATAL\n");
    assert!(
        out.stderr.contains("FATAL: DATABASE_URL is not set")
            && out.stderr.contains("showroomctl logs crash1"),
        "{}",
        out.stderr
    );

    // watch: the failed start and the move into FATAL say how it ended.
    let mut watch = watch;
    let failed = watch.until("start-failed in watch", Duration::from_secs(10), |l| {
        l.contains("crash1 start-failed")
    });
    assert!(failed.contains("exited with status 3"), "{failed}");
    let fatal = watch.until(
        "the move into FATAL in watch",
        Duration::from_secs(10),
        |l| l.contains("crash1 ") && l.contains("->FATAL"),
    );
    assert!(
        fatal.contains("gave up after 4 tries: FATAL: DATABASE_URL is not set"),
        "{fatal}"
    );
}

#[test]
fn a_port_another_program_holds_is_never_handed_out_and_a_start_on_one_names_it() {
    let s = showroom(15050, &["versioned"]);
    // Another program on the first port (IPv4), and one on the second (IPv6 loopback only).
    let v4 = TcpListener::bind(("0.0.0.0", 15050)).unwrap();
    let v6 = TcpListener::bind(("::1", 15051)).expect("IPv6 loopback");
    s.ok(&["deploy", "versioned", "a"]);
    assert_eq!(s.port_of("a"), 15052, "15050 and 15051 are held by others");
    drop((v4, v6));
    s.ok(&["deploy", "versioned", "b"]);
    assert_eq!(s.port_of("b"), 15050, "free again, so handed out");

    // A port taken after the deploy: the start says by whom.
    let thief = TcpListener::bind(("127.0.0.1", 15050)).unwrap();
    let err = s.refused(&["start", "b"]);
    assert!(err.contains("ABNORMAL_TERMINATION: b"), "{err}");
    assert!(
        err.contains("port 15050 is held by another program: pid")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(thief);
    s.ok(&["stop", "b"]);
    s.ok(&["start", "b"]);
    serves_soon(&s, 15050, &["b version 1"]);
    s.ok(&["stop", "b"]);
}

#[test]
fn restart_stops_and_starts_and_answers_once_running() {
    let s = showroom(15100, &["versioned"]);
    s.ok(&["deploy", "versioned", "r"]);
    let refused = s.refused(&["restart", "nosuch"]);
    assert!(refused.contains("this demo does not exist"), "{refused}");
    s.ok(&["start", "r"]);
    let pid = |s: &Showroom| {
        s.supervisorctl(&["pid", "r"])
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let before = pid(&s);
    let out = s.ok(&["restart", "r"]);
    assert!(out.contains("restarted r"), "{out}");
    // Answered once it answers on its port: supervisord's `startsecs` may
    // still run (STARTING), and ends in RUNNING.
    assert_eq!(s.status("r"), "RUNNING");
    s.wait_for("supervisord to say RUNNING", Duration::from_secs(3), || {
        s.statename("r") == "RUNNING"
    });
    assert_ne!(pid(&s), before, "a new process");
    assert_eq!(s.listed("r")["wanted"], "running");
    serves_soon(&s, 15100, &["r version 1"]);
    // A stopped demo restarts too: it runs afterwards.
    s.ok(&["stop", "r"]);
    s.ok(&["restart", "r"]);
    assert_eq!(s.status("r"), "RUNNING");
    s.ok(&["stop", "r"]);
}

#[test]
fn redeploy_replaces_the_folder_keeping_name_port_and_state_and_a_failed_one_changes_nothing() {
    let s = showroom(15150, &["versioned"]);
    s.ok(&["deploy", "versioned", "other"]);
    s.ok(&[
        "deploy",
        "versioned",
        "site",
        "--param",
        "version=1",
        "--comment",
        "for ACME",
        "--ttl",
        "3d",
    ]);
    let err = s.refused(&["deploy", "versioned", "site"]);
    assert!(err.contains("this demo already exists"), "{err}");
    assert!(err.contains("showroomctl redeploy site"), "{err}");
    s.ok(&["start", "site"]);
    let port = s.port_of("site");
    serves_soon(&s, port, &["site version 1"]);
    let before = s.listed("site");
    std::fs::write(s.state.join("demos/site/leftover"), "old data").unwrap();

    let out = s.ok(&["redeploy", "site", "--param", "version=2"]);
    assert!(out.contains("| version 2 of site on port"), "{out}");
    assert!(out.contains("redeployed site"), "{out}");
    let after = s.listed("site");
    assert_eq!(after["port"], before["port"], "same port");
    assert_eq!(after["comment"], "for ACME");
    assert_eq!(after["expires_at"], before["expires_at"], "same expiry");
    assert_eq!(after["wanted"], "running");
    assert_eq!(after["params"]["version"], "2");
    assert_eq!(after["status"], "RUNNING", "started again, as it ran");
    serves_soon(&s, port, &["site version 2"]);
    assert!(
        !s.state.join("demos/site/leftover").exists(),
        "a fresh folder"
    );
    assert_eq!(
        s.demo_names_on_disk(),
        ["other", "site"],
        "nothing left beside"
    );

    // A script that fails: the demo serves on, unchanged.
    let err = s.refused(&[
        "redeploy",
        "site",
        "--param",
        "fail=yes",
        "--param",
        "version=3",
    ]);
    assert!(err.contains("installation ended with an error"), "{err}");
    assert!(err.contains("cannot fetch version 3"), "{err}");
    assert!(err.contains("unchanged"), "{err}");
    let kept = s.listed("site");
    assert_eq!(kept["params"], after["params"]);
    assert_eq!(kept["status"], "RUNNING");
    // Started again once it answered: supervisord's `startsecs` may still run.
    s.wait_for("supervisord to say RUNNING", Duration::from_secs(3), || {
        s.statename("site") == "RUNNING"
    });
    serves_soon(&s, port, &["site version 2"]);
    assert_eq!(s.demo_names_on_disk(), ["other", "site"]);

    // A stopped demo is redeployed stopped.
    s.ok(&[
        "redeploy",
        "other",
        "--param",
        "version=5",
        "--comment",
        "new",
    ]);
    let other = s.listed("other");
    assert_eq!(other["status"], "STOPPED");
    assert_eq!(other["comment"], "new");
    assert_eq!(http_get(other["port"].as_u64().unwrap() as u16, "/"), None);
    s.ok(&["stop", "site"]);
}

#[test]
fn a_kept_demo_survives_cleanup_all_and_its_expiry() {
    let s = showroom(15200, &[]);
    for n in ["kept", "plain", "soon"] {
        s.ok(&["deploy", "test1", n]);
    }
    let out = s.ok(&["keep", "kept"]);
    assert!(out.contains("kept kept"), "{out}");
    assert_eq!(s.listed("kept")["keep"], true);
    assert_eq!(s.listed("plain")["keep"], false);
    assert!(s.ok(&["list"]).contains("kept"));

    let report = s.json(&["cleanup", "--all"]);
    assert_eq!(report["destroyed"], serde_json::json!(["plain", "soon"]));
    assert_eq!(s.installed().len(), 1);
    assert_eq!(s.status("kept"), "STOPPED");

    // Its expiry passes: nothing happens to it; a demo not kept is stopped.
    s.ok(&["deploy", "test1", "soon"]);
    s.ok(&["start", "kept"]);
    s.ok(&["start", "soon"]);
    s.ok(&["expire", "kept", "1s"]);
    s.ok(&["expire", "soon", "1s"]);
    s.wait_for("soon to expire", Duration::from_secs(30), || {
        s.listed("soon")["wanted"] == "stopped"
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.status("kept"), "RUNNING");
    assert_eq!(s.listed("kept")["wanted"], "running");

    // --off: cleanups apply again.
    s.ok(&["keep", "kept", "--off"]);
    assert_eq!(s.listed("kept")["keep"], false);
    s.ok(&["cleanup", "--all"]);
    assert!(s.installed().is_empty());
}

#[test]
fn an_app_with_two_ports_gets_both_reserved_given_to_script_and_process_and_freed() {
    let s = showroom(15250, &["twoports", "versioned"]);
    let out = s.ok(&["deploy", "twoports", "two"]);
    assert!(out.contains("script: PORT=15250 PORT2=15251"), "{out}");
    let two = s.listed("two");
    assert_eq!(
        (two["port"].as_u64(), two["port2"].as_u64()),
        (Some(15250), Some(15251))
    );
    s.ok(&["deploy", "versioned", "next"]);
    assert_eq!(s.port_of("next"), 15252, "PORT2 is reserved");
    let section = std::fs::read_to_string(s.state.join("supervisor/programs.conf")).unwrap();
    assert!(section.contains("PORT2=\"15251\""), "{section}");

    s.ok(&["start", "two"]);
    serves_soon(&s, 15250, &["<h1>two</h1>"]);
    serves_soon(&s, 15251, &["<h1>two</h1>"]);
    // A redeploy keeps both.
    s.ok(&["redeploy", "two"]);
    let again = s.listed("two");
    assert_eq!(
        (again["port"].as_u64(), again["port2"].as_u64()),
        (Some(15250), Some(15251))
    );
    serves_soon(&s, 15251, &["<h1>two</h1>"]);
    s.ok(&["destroy", "two"]);
    assert_eq!(http_get(15251, "/"), None);
    s.ok(&["deploy", "twoports", "again"]);
    let again = s.listed("again");
    assert_eq!(
        (again["port"].as_u64(), again["port2"].as_u64()),
        (Some(15250), Some(15251)),
        "both freed with the demo"
    );
}

#[test]
fn a_showroomd_killed_during_a_redeploy_leaves_the_old_demo_whole() {
    let mut s = showroom(15300, &["versioned"]);
    s.ok(&["deploy", "versioned", "site", "--param", "version=1"]);
    s.ok(&["start", "site"]);
    serves_soon(&s, 15300, &["site version 1"]);
    let _redeploy = s.spawn_ctl(&[
        "redeploy",
        "site",
        "--param",
        "version=2",
        "--param",
        "delay=60",
    ]);
    s.wait_for("the redeploy to begin", Duration::from_secs(10), || {
        s.log_count("redeploy started") == 1
    });
    assert!(s.state.join("demos/.site.redeploy").is_dir());
    s.kill_daemon();
    s.start_daemon();
    assert_eq!(
        s.log_count("rolled back the redeploy of site cut short before its swap"),
        1,
        "said in the log"
    );
    assert_eq!(s.demo_names_on_disk(), ["site"], "the fresh folder is gone");
    assert!(!s.state.join("deploying/.site.redeploy").exists());
    let site = s.listed("site");
    assert_eq!(site["params"]["version"], "1");
    // Brought back by the checks at start, beside the actor: RUNNING once
    // it answers on its port.
    s.wait_for("site RUNNING again", Duration::from_secs(10), || {
        s.listed("site")["status"] == "RUNNING"
    });
    serves_soon(&s, 15300, &["site version 1"]);
    // And a redeploy runs again afterwards.
    s.ok(&["redeploy", "site", "--param", "version=3"]);
    serves_soon(&s, 15300, &["site version 3"]);
    s.ok(&["stop", "site"]);
}

#[test]
fn logs_carry_times_mark_starts_and_stops_keep_three_deploys_and_show_a_vhosts_own_lines() {
    let s = showroom(15350, &["versioned"]);
    s.ok(&["deploy", "versioned", "app", "--param", "version=1"]);
    s.ok(&["redeploy", "app", "--param", "version=2"]);
    s.ok(&["redeploy", "app", "--param", "version=3"]);
    s.ok(&["redeploy", "app", "--param", "version=4"]);
    s.ok(&["start", "app"]);
    // python's own access line, on its stderr.
    serves_soon(&s, 15350, &["app version 4"]);
    s.ok(&["restart", "app"]);
    s.ok(&["stop", "app"]);

    // --json: one object a line, with its time.
    let json = s.ok(&["logs", "app", "--json"]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let deploy: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["source"] == "deploy").collect();
    assert_eq!(deploy.len(), 1, "{json}");
    assert_eq!(deploy[0]["text"], "version 4 of app on port 15350");
    let at = deploy[0]["at"].as_str().unwrap();
    assert!(at.len() == 20 && at.ends_with('Z'), "RFC 3339: {at}");
    let marks: Vec<&str> = lines
        .iter()
        .filter(|l| l["source"] == "stdout")
        .filter_map(|l| l["text"].as_str())
        .filter(|t| t.starts_with("--- "))
        .collect();
    assert_eq!(
        marks,
        [
            "--- started ---",
            "--- stopped for a restart ---",
            "--- started ---",
            "--- stopped ---"
        ],
        "{json}"
    );
    // Every line has its time: showroom's marks and the process's own output.
    let served = lines
        .iter()
        .find(|l| {
            l["source"] == "stderr"
                && l["text"]
                    .as_str()
                    .unwrap()
                    .contains("\"GET / HTTP/1.0\" 200")
        })
        .unwrap_or_else(|| panic!("python's own line: {json}"));
    assert!(served["at"].is_string(), "{served}");
    assert!(lines.iter().all(|l| l["at"].is_string()), "{json}");

    // On a terminal: the local short time first.
    let plain = s.ok(&["logs", "app"]);
    let started = plain
        .lines()
        .find(|l| l.ends_with("--- started ---"))
        .unwrap();
    let time = started.split(' ').next().unwrap();
    assert!(time.len() == 8 && time.as_bytes()[2] == b':', "{started}");

    // The last three deploy logs are kept.
    for (n, version) in [(1, "4"), (2, "3"), (3, "2")] {
        let log = s.ok(&["logs", "app", "--deploy", &n.to_string()]);
        assert!(
            log.contains(&format!("version {version} of app")),
            "--deploy {n}: {log}"
        );
    }
    let err = s.refused(&["logs", "app", "--deploy", "4"]);
    assert!(err.contains("has no deploy log 4"), "{err}");

    // A vhost demo: its own access lines.
    s.ok(&["deploy", "testapache", "web"]);
    s.ok(&["start", "web"]);
    let port = s.port_of("web");
    let got = http_get(port, "/from-the-test");
    assert!(matches!(got, Some((404, _))), "{got:?}");
    s.wait_for("the access line", Duration::from_secs(10), || {
        s.ok(&["logs", "web"])
            .contains("\"GET /from-the-test HTTP/1.0\" 404")
    });
    let json = s.ok(&["logs", "web", "--json"]);
    let access = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["source"] == "vhost-access")
        .expect("an access line");
    assert!(access["at"].is_string(), "{access}");
    assert!(access["text"]
        .as_str()
        .unwrap()
        .contains("GET /from-the-test"));
    s.ok(&["stop", "web"]);
}
