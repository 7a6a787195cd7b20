//! Deploys run as jobs: reads and other demos are served meanwhile, output streams, the name is held.

use std::time::Duration;

use crate::harness::{Options, Showroom};

#[test]
fn a_long_deploy_streams_its_output_and_blocks_nobody() {
    let s = Showroom::with_apps(21200, &["slow"]);
    s.ok(&["deploy", "test1", "other"]);
    // In the background, its stdout read line by line, its stderr away from
    // the runner's; killed on drop if an assertion fails first.
    let mut deploy = s.spawn_ctl(&[
        "deploy",
        "slow",
        "long",
        "--param",
        "seconds=6",
        "--comment",
        "a slow one",
    ]);
    let first = deploy.until("a first line of output", Duration::from_secs(30), |_| true);
    assert!(
        first.contains("step 1"),
        "progress arrives as it comes: {first:?}"
    );

    // While the script runs: it is listed as DEPLOYING, its name is held,
    // and reads and other demos' actions are answered.
    let list = s.json(&["list"]);
    let long = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "long")
        .unwrap();
    assert_eq!(long["status"], "DEPLOYING");
    assert_eq!(long["comment"], "a slow one");
    assert_eq!(s.status("long"), "DEPLOYING");
    assert!(s
        .refused(&["deploy", "test1", "long"])
        .contains("this demo already exists"));
    assert!(s.refused(&["start", "long"]).contains("being deployed"));
    s.ok(&["start", "other"]);
    assert_eq!(s.status("other"), "RUNNING");
    assert!(
        deploy.running(),
        "all of that was answered while the deploy still ran"
    );

    deploy.until("deployed long", Duration::from_secs(60), |l| {
        l.contains("deployed long")
    });
    assert_eq!(deploy.wait(Duration::from_secs(30)), Some(0));
    assert!(
        deploy.seen.iter().any(|l| l.contains("step 6")),
        "{:?}",
        deploy.seen
    );
    assert_eq!(s.status("long"), "STOPPED");
    assert_eq!(
        s.ok(&["logs", "long"])
            .lines()
            // After the time each line carries.
            .filter(|l| l
                .split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with("step")))
            .count(),
        6
    );
}

#[test]
fn a_deploy_past_its_timeout_is_killed_and_rolled_back() {
    let s = Showroom::with(Options {
        port_min: Some(21300),
        extra_apps: vec!["slow"],
        deploy_timeout_secs: 2,
        ..Options::default()
    });
    let err = s.refused(&["deploy", "slow", "late", "--param", "seconds=30"]);
    assert!(err.contains("installation ended with an error"), "{err}");
    assert!(err.contains("killed after 2s"), "{err}");
    assert!(err.contains("step 1"), "with the end of its output: {err}");
    assert!(s.demo_names_on_disk().is_empty());
    assert!(
        s.processes_inside("sleep").is_empty(),
        "its whole process group was killed"
    );
    assert_eq!(s.json(&["list"]), serde_json::json!([]));
}
