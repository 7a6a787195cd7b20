//! Deploys run as jobs: reads and other demos are served meanwhile, output streams, the name is held.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::{bin, Options, Showroom};

#[test]
fn a_long_deploy_streams_its_output_and_blocks_nobody() {
    let s = Showroom::with_apps(21200, &["slow"]);
    s.ok(&["deploy", "test1", "other"]);
    let mut deploy = Command::new(bin("showroomctl"))
        .arg("--socket")
        .arg(&s.socket)
        .args([
            "deploy",
            "slow",
            "long",
            "--param",
            "seconds=6",
            "--comment",
            "a slow one",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(deploy.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
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
        deploy.try_wait().unwrap().is_none(),
        "all of that was answered while the deploy still ran"
    );

    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(deploy.wait().unwrap().success());
    assert!(
        rest.contains("step 6") && rest.contains("deployed long"),
        "{rest}"
    );
    assert_eq!(s.status("long"), "STOPPED");
    assert_eq!(
        s.ok(&["logs", "long"])
            .lines()
            .filter(|l| l.starts_with("step"))
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
