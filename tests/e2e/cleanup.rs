//! `cleanup` as cron runs it: filters, dry runs, leftovers of earlier failures, DEPLOYING left alone, exit 1 while supervisord is down.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::Showroom;

/// Makes a demo look deployed `days` ago: its record's creation time, read again at the next start.
fn age_record(s: &Showroom, name: &str, days: u64) {
    let path = s.state.join("records").join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let aged: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("created =") {
                format!("created = {}", now - days * 86_400)
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_ne!(aged.join("\n"), text.trim_end(), "a created line in {text}");
    std::fs::write(&path, aged.join("\n") + "\n").unwrap();
}

/// What the daily timer runs.
pub(crate) const STALE: [&str; 7] = [
    "cleanup",
    "--older-than",
    "7d",
    "--status",
    "STOPPED",
    "--status",
    "FATAL",
];

fn names(s: &Showroom) -> Vec<String> {
    s.installed().into_iter().map(|d| d.0).collect()
}

fn lines(text: &str) -> Vec<&str> {
    let mut v: Vec<&str> = text.lines().collect();
    v.sort();
    v
}

#[test]
fn cleanup_filters_dry_runs_and_removes_leftovers() {
    let mut s = Showroom::start(22400);
    s.ok(&["deploy", "test1", "old"]);
    s.ok(&["deploy", "test1", "young"]);
    s.ok(&["deploy", "test1", "oldrunning"]);
    s.ok(&["start", "oldrunning"]);
    s.ok(&["deploy", "error2", "oldbroken"]);
    s.refused(&["start", "oldbroken"]);
    s.wait_for("oldbroken FATAL", Duration::from_secs(30), || {
        s.status("oldbroken") == "FATAL"
    });
    s.stop_daemon();
    for name in ["old", "oldrunning", "oldbroken"] {
        age_record(&s, name, 8);
    }
    s.start_daemon();

    // Leftovers of earlier failures, made after the restart (which would
    // repair the last two): the deploy log of a destroyed demo, an Apache
    // link without a demo, a supervisord group without a folder.
    s.ok(&["deploy", "test1", "gone"]);
    s.ok(&["destroy", "gone"]);
    let deploy_log = s.state.join("logs/deploy/gone.log");
    assert!(deploy_log.is_file(), "deploy logs stay until a cleanup");
    let link = s.state.join("apache/demos/ghost.conf");
    std::os::unix::fs::symlink(s.state.join("demos/ghost/apache2.conf"), &link).unwrap();
    // supervisord reads showroom's one file only: the ghost is put there by
    // hand, read in, and the file set back.
    let programs = s.state.join("supervisor/programs.conf");
    let before = std::fs::read_to_string(&programs).unwrap();
    std::fs::write(
        &programs,
        format!("{before}\n[program:ghost]\ncommand=/bin/sleep 1000\nautostart=false\n"),
    )
    .unwrap();
    s.supervisorctl(&["update"]);
    std::fs::write(&programs, before).unwrap();
    assert!(s.supervisorctl(&["status"]).contains("ghost"));

    let expected = vec![
        "would destroy old",
        "would destroy oldbroken",
        "would remove leftover Apache copy ghost.conf",
        "would remove leftover deploy log gone.log",
        "would remove leftover supervisord group ghost",
    ];
    let dry = s.ok(&[&STALE[..], &["--dry-run"]].concat());
    assert_eq!(lines(&dry), expected, "{dry}");
    // A dry run changes nothing.
    assert_eq!(names(&s), ["old", "oldbroken", "oldrunning", "young"]);
    assert!(link.symlink_metadata().is_ok() && deploy_log.is_file());
    assert!(s.supervisorctl(&["status"]).contains("ghost"));

    let j = s.json(&["cleanup", "--status", "RUNNING", "--dry-run"]);
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["destroyed"], serde_json::json!(["oldrunning"]));
    assert_eq!(j["leftovers"].as_array().unwrap().len(), 3);
    let j = s.json(&["cleanup", "--older-than", "30d", "--dry-run"]);
    assert_eq!(j["destroyed"], serde_json::json!([]));

    let done = s.ok(&STALE);
    let expected_done: Vec<String> = expected
        .iter()
        .map(|l| {
            l.replace("would destroy", "destroyed")
                .replace("would remove", "removed")
        })
        .collect();
    assert_eq!(lines(&done), expected_done, "{done}");
    assert_eq!(names(&s), ["oldrunning", "young"]);
    assert_eq!(s.status("old"), "DESTROYED");
    assert_eq!(s.demo_names_on_disk(), ["oldrunning", "young"]);
    assert!(link.symlink_metadata().is_err() && !deploy_log.exists());
    let sup = s.supervisorctl(&["status"]);
    assert!(!sup.contains("ghost") && !sup.contains("old "), "{sup}");
    assert_eq!(s.status("oldrunning"), "RUNNING");
    assert_eq!(
        s.ok(&["cleanup", "--status", "FATAL"]),
        "nothing to clean up"
    );
}

#[test]
fn cleanup_never_touches_a_deploy_and_refuses_while_supervisord_is_down() {
    let s = Showroom::with_apps(22500, &["slow"]);
    s.ok(&["deploy", "test1", "a"]);
    s.ok(&["deploy", "test1", "b"]);
    let mut deploy = s.spawn_ctl(&["deploy", "slow", "busy", "--param", "seconds=4"]);
    deploy.until("the first step", Duration::from_secs(20), |l| {
        l.contains("step 1")
    });
    assert_eq!(s.status("busy"), "DEPLOYING");
    let done = s.ok(&["cleanup", "--all"]);
    assert_eq!(lines(&done), ["destroyed a", "destroyed b"]);
    deploy.until("the end of the deploy", Duration::from_secs(30), |l| {
        l.contains("deployed busy")
    });
    assert_eq!(names(&s), ["busy"]);
    assert_eq!(s.status("busy"), "STOPPED");

    // A bare cleanup would destroy everything: it is a usage error.
    let bare = s.ctl(&["cleanup"]);
    assert_eq!(bare.code, 2, "{}", bare.stderr);
    assert!(bare.stderr.contains("--all"), "{}", bare.stderr);

    // supervisord down, a shared part: nothing is destroyed, and it is said.
    s.ok(&["supervisor", "stop"]);
    let failed = s.ctl(&["cleanup", "--all"]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed.stderr.contains(
            "cleanup destroys nothing while supervisord is not answering (a shared part)"
        ),
        "{}",
        failed.stderr
    );
    s.ok(&["supervisor", "start"]);
    assert_eq!(
        names(&s),
        ["busy"],
        "the failed destroy left the demo whole"
    );
    assert_eq!(s.status("busy"), "STOPPED");
}
