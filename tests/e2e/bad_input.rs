//! Bad input gets a clear error and changes nothing; the daemon keeps serving.

use crate::harness::Showroom;

#[test]
fn bad_names_and_unknown_apps_are_refused_and_change_nothing() {
    let s = Showroom::start(20300);
    s.ok(&["deploy", "test1", "keep"]);
    let before = s.installed();
    let long = "x".repeat(65);
    for name in [
        "a/b",
        "..",
        "../escape",
        "a\u{1}b",
        "apache2",
        ".hidden",
        "with space",
        long.as_str(),
    ] {
        let err = s.refused(&["deploy", "test1", name]);
        assert!(err.contains("invalid demo name"), "{name:?}: {err}");
        for verb in ["start", "stop", "destroy", "status"] {
            let err = s.refused(&[verb, name]);
            assert!(err.contains("invalid demo name"), "{verb} {name:?}: {err}");
        }
    }
    assert!(s
        .refused(&["deploy", "test1", ""])
        .contains("empty demo name"));
    assert!(s
        .refused(&["deploy", "../seed/demo_test1", "x"])
        .contains("this demo does not exist"));
    assert!(s
        .refused(&["deploy", "nope", "x"])
        .contains("this demo does not exist"));
    for verb in ["start", "stop", "destroy"] {
        assert!(
            s.refused(&[verb, "ghost"])
                .contains("this demo does not exist"),
            "{verb}"
        );
    }
    let err = s.refused(&["deploy", "test1", "x", "--param", "typo=1"]);
    assert!(err.contains("takes no param \"typo\""), "{err}");
    assert!(s
        .refused(&["deploy", "test1", "x", "--param", "PORT=1"])
        .contains("takes no param"));

    assert_eq!(s.installed(), before, "nothing changed");
    assert_eq!(s.demo_names_on_disk(), ["keep"]);
    assert!(!s.dir.path().join("escape").exists());
}

#[test]
fn usage_errors_exit_2_and_a_missing_daemon_exits_3() {
    let s = Showroom::start(20400);
    assert_eq!(s.ctl(&["frobnicate"]).code, 2);
    assert_eq!(s.ctl(&["deploy", "only-app"]).code, 2);
    assert_eq!(s.ctl(&["cleanup", "--older-than", "soon"]).code, 2);
    // --json is accepted after the command too.
    assert!(s.json(&["list"]).is_array());

    let nowhere = s.dir.path().join("nobody-here.sock");
    let o = std::process::Command::new(crate::harness::bin("showroomctl"))
        .arg("--socket")
        .arg(&nowhere)
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach showroomd at {}: is it running?",
            nowhere.display()
        )),
        "{err}"
    );
}

#[test]
fn a_dead_supervisord_gives_clear_errors_and_unknown_then_comes_back() {
    let s = Showroom::start(20500);
    s.ok(&["deploy", "test1", "t"]);
    s.ok(&["start", "t"]);
    // supervisord dies hard; its demo is orphaned, so stop it by hand too.
    s.kill_supervisord_and_its_demos();
    s.wait_for(
        "supervisord to be gone",
        std::time::Duration::from_secs(10),
        || {
            !s.json(&["supervisor", "status"])["running"]
                .as_bool()
                .unwrap()
        },
    );
    assert_eq!(s.status("t"), "UNKNOWN");
    s.wait_for(
        "list to show UNKNOWN",
        std::time::Duration::from_secs(10),
        || s.json(&["list"])[0]["status"] == "UNKNOWN",
    );
    let err = s.refused(&["deploy", "test1", "other"]);
    assert!(err.contains("supervisord is not running"), "{err}");
    assert!(s
        .refused(&["start", "t"])
        .contains("supervisord is not running"));
    assert_eq!(
        s.demo_names_on_disk(),
        ["t"],
        "the refused deploy left nothing"
    );

    // t was wanted running: the fresh supervisord brings it back.
    s.ok(&["supervisor", "start"]);
    s.wait_for("t to come back", std::time::Duration::from_secs(10), || {
        s.status("t") == "RUNNING"
    });
    s.ok(&["stop", "t"]);
    s.ok(&["start", "t"]);
    assert_eq!(s.status("t"), "RUNNING");
}
