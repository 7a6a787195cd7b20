//! A panic in showroomd ends it with an error, logged with its message and place, rather than leaving a daemon that answers "shutting down" for ever (ports 11000-11099).

use std::path::Path;
use std::time::Duration;

use crate::harness::Showroom;

#[test]
fn a_panic_in_the_actor_ends_showroomd_with_an_error_and_says_where() {
    let mut s = Showroom::start(11000);
    s.ok(&["deploy", "test1", "a"]);
    s.ok(&["start", "a"]);
    assert_eq!(s.stop_daemon(), Some(0));
    // Debug builds only: a `stop` of this demo panics in the actor.
    s.start_daemon_env(&[("SHOWROOMD_TEST_PANIC_ON_STOP", Path::new("a"))]);

    let out = s.ctl(&["stop", "a"]);
    assert_ne!(out.code, 0, "the stop that panicked is not answered done");
    let status = s
        .wait_daemon_exit(Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "showroomd still runs 10 s after its actor panicked:\n{}",
                s.daemon_log()
            )
        });
    assert!(!status.success(), "a panic ends with an error: {status}");
    let log = s.daemon_log();
    assert!(
        log.contains("showroomd panicked")
            && log.contains("test-only panic in the actor")
            && log.contains("actor/mod.rs"),
        "the log says the panic's message and where it happened:\n{log}"
    );
    assert_eq!(
        s.ctl(&["list"]).code,
        3,
        "no daemon answers after it: systemd sees it gone and starts it again"
    );

    // The next start picks up what the panic left: the demo ran on.
    s.start_daemon();
    assert_eq!(s.status("a"), "RUNNING");
}
