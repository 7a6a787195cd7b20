//! The seed's doctest up to "Apache support", replayed line by line through showroomctl.

use std::time::Duration;

use crate::harness::{Options, Showroom};

fn supervisor_running(s: &Showroom) -> bool {
    s.json(&["supervisor", "status"])["running"]
        .as_bool()
        .expect("running is a boolean")
}

#[test]
fn seed_supervisor_control_available_deploy_destroy_start_stop() {
    // The seed's port numbers are showroomd's defaults.
    let s = Showroom::with(Options::default());

    // supervisor control: showroomd starts it; take it down to replay the seed from there.
    s.ok(&["supervisor", "stop"]);
    assert!(!supervisor_running(&s));
    s.ok(&["supervisor", "start"]);
    assert!(supervisor_running(&s));
    s.ok(&["supervisor", "stop"]);
    assert!(!supervisor_running(&s));
    s.ok(&["supervisor", "start"]);
    assert!(supervisor_running(&s));

    // Available demos, as a dict of dicts each with a params list.
    let available = s.json(&["available"]);
    let apps: Vec<&String> = available.as_object().unwrap().keys().collect();
    assert_eq!(
        apps,
        [
            "error",
            "error2",
            "error3",
            "error4",
            "test1",
            "test2",
            "testapache",
            "testapachebad"
        ]
    );
    for (app, def) in available.as_object().unwrap() {
        assert!(def.is_object(), "{app}");
        assert_eq!(
            def["params"],
            serde_json::json!(["name", "comment"]),
            "{app}"
        );
    }

    // No installed demos.
    assert_eq!(s.json(&["list"]), serde_json::json!([]));

    // Deploying a demo, and the files it leaves.
    s.ok(&["deploy", "test1", "test1"]);
    assert_eq!(s.demo_names_on_disk(), ["test1"]);
    let mut files: Vec<String> = std::fs::read_dir(s.state.join("demos/test1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["demo.conf", "foobar", "start.sh", "supervisor.cfg"]);

    // Same name again; an app that does not exist.
    assert!(s
        .refused(&["deploy", "test1", "test1"])
        .contains("this demo already exists"));
    assert!(s
        .refused(&["deploy", "foo", "bar"])
        .contains("this demo does not exist"));

    let stopped =
        |name: &str, port: u64| (name.to_owned(), port, "STOPPED".to_owned(), String::new());
    assert_eq!(s.installed(), [stopped("test1", 20000)]);

    s.ok(&["deploy", "test1", "test1bis"]);
    assert_eq!(
        s.installed(),
        [stopped("test1", 20000), stopped("test1bis", 20001)]
    );

    // A deploy that fails leaves no folder.
    let err = s.refused(&["deploy", "error", "demoerror"]);
    assert!(err.contains("installation ended with an error"), "{err}");
    assert!(
        err.contains("something went wrong"),
        "the end of the script's output: {err}"
    );
    assert_eq!(s.demo_names_on_disk(), ["test1", "test1bis"]);

    // A demo that does not exist can be asked about.
    assert_eq!(s.status("nonexisting"), "DESTROYED");

    // Removing a demo; its port comes back.
    s.ok(&["destroy", "test1"]);
    assert_eq!(s.installed(), [stopped("test1bis", 20001)]);
    s.ok(&["deploy", "test1", "test1"]);
    assert_eq!(
        s.installed(),
        [stopped("test1", 20000), stopped("test1bis", 20001)]
    );

    assert!(s
        .refused(&["destroy", "foobar"])
        .contains("this demo does not exist"));

    s.ok(&["destroy", "test1"]);
    s.ok(&["destroy", "test1bis"]);
    assert_eq!(s.json(&["list"]), serde_json::json!([]));
    assert!(s.demo_names_on_disk().is_empty());

    // Start, stop, status.
    s.ok(&["deploy", "test1", "test1"]);
    assert_eq!(s.status("test1"), "STOPPED");
    assert_eq!(s.status("nonexisting"), "DESTROYED");
    assert!(s.refused(&["status", ""]).contains("empty demo name"));

    s.ok(&["start", "test1"]);
    assert_eq!(s.status("test1"), "RUNNING");
    assert_eq!(
        s.processes_inside("sleep").len(),
        1,
        "test1's start.sh runs `sleep`"
    );
    s.ok(&["stop", "test1"]);
    assert_eq!(s.status("test1"), "STOPPED");
    assert_eq!(s.statename("test1"), "STOPPED");
    assert!(
        s.processes_inside("sleep").is_empty(),
        "a start script without exec leaves no child behind"
    );
    s.ok(&["destroy", "test1"]);

    // A demo whose startup script fails.
    s.ok(&["deploy", "error2", "error2"]);
    let err = s.refused(&["start", "error2"]);
    assert!(err.contains("ABNORMAL_TERMINATION: error2"), "{err}");
    assert!(
        err.contains("SPAWN_ERROR"),
        "supervisord's own fault beside it: {err}"
    );
    let st = s.status("error2");
    assert!(["BACKOFF", "STARTING"].contains(&st.as_str()), "{st}");
    s.wait_for(
        "error2 to leave BACKOFF/STARTING",
        Duration::from_secs(30),
        || !["BACKOFF", "STARTING"].contains(&s.status("error2").as_str()),
    );
    assert_eq!(s.status("error2"), "FATAL");
    assert_eq!(s.statename("error2"), "FATAL");
    s.ok(&["destroy", "error2"]);

    assert!(s.processes_inside("sleep").is_empty());
}

#[test]
fn the_poller_reports_fatal_in_list_and_the_log_without_a_request() {
    let s = Showroom::start(20200);
    s.ok(&["deploy", "error2", "broken"]);
    s.refused(&["start", "broken"]);
    // Only `list` (answered from the actor's snapshot) from here: no status request looks at supervisord.
    s.wait_for("list to show FATAL", Duration::from_secs(30), || {
        s.json(&["list"])[0]["status"] == "FATAL"
    });
    let log = s.daemon_log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("broken") && l.contains("to=FATAL")),
        "a warn line for the transition into FATAL:\n{log}"
    );
    assert!(log
        .lines()
        .any(|l| l.contains("WARN") && l.contains("to=BACKOFF")));
}
