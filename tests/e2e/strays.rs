//! What showroomd runs itself (a deploy script, a clone's reconfigure step) is never taken for a stray left by a supervisord that is gone (ports 11100-11199).

use std::time::Duration;

use crate::harness::Showroom;

/// `supervisor start` while supervisord runs looks for strays (processes a
/// supervisord killed outright left): a deploy script showroomd itself
/// runs is none, and the deploy ends well. Before, it was killed
/// (SIGKILL) and the deploy rolled back.
#[test]
fn supervisor_start_during_a_deploy_kills_nothing_of_showroomds_own() {
    let s = Showroom::with_apps(11100, &["slow"]);
    let mut deploy = s.spawn_ctl(&["deploy", "slow", "d", "--param", "seconds=3"]);
    deploy.until("the script runs", Duration::from_secs(10), |out| {
        out.contains("step 1")
    });
    s.ok(&["supervisor", "start"]);
    assert_eq!(
        deploy.wait(Duration::from_secs(30)),
        Some(0),
        "the deploy ends well:\n{}",
        s.daemon_log()
    );
    assert_eq!(s.status("d"), "STOPPED");
    assert_eq!(s.log_count("killed a process left running"), 0);
}
