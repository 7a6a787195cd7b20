//! Restarting showroomd leaves demos running; a deploy cut short by a crash is rolled back at the next start.

use std::time::Duration;

use crate::harness::Showroom;

#[test]
fn sigterm_and_restart_leave_running_demos_running() {
    let mut s = Showroom::start(20900);
    s.ok(&["deploy", "test1", "a"]);
    s.ok(&["deploy", "test1", "b"]);
    s.ok(&["start", "a"]);
    let before = s.installed();
    let sup_pid = s.supervisord_pid();

    assert_eq!(s.stop_daemon(), Some(0), "a clean exit on SIGTERM");
    assert!(!s.socket.exists(), "the socket goes with the daemon");
    assert_eq!(
        s.statename("a"),
        "RUNNING",
        "the demo ran on without showroomd"
    );
    assert_eq!(s.processes_inside("sleep").len(), 1);

    s.start_daemon();
    assert_eq!(
        s.supervisord_pid(),
        sup_pid,
        "the same supervisord was picked up"
    );
    assert_eq!(s.installed(), before);
    assert_eq!(s.status("a"), "RUNNING");
    assert_eq!(s.status("b"), "STOPPED");
    s.ok(&["stop", "a"]);
    assert!(s.processes_inside("sleep").is_empty());
}

#[test]
fn a_deploy_cut_short_by_a_crash_is_rolled_back_at_the_next_start() {
    let mut s = Showroom::with_apps(21000, &["slow"]);
    s.ok(&["deploy", "test1", "kept"]);
    let mut deploy = std::process::Command::new(crate::harness::bin("showroomctl"))
        .arg("--socket")
        .arg(&s.socket)
        .args(["deploy", "slow", "cut", "--param", "seconds=30"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    s.wait_for(
        "the deploy to be under way",
        Duration::from_secs(10),
        || {
            s.json(&["list"])
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["status"] == "DEPLOYING")
        },
    );
    let record = std::fs::read_to_string(s.state.join("demos/cut/demo.conf")).unwrap();
    assert!(
        record.contains("phase = \"deploying\""),
        "the reservation is on disk: {record}"
    );

    s.kill_daemon();
    // The killed daemon's script would otherwise run on; a crash of the whole host would end it too.
    for p in s
        .processes_inside("sleep")
        .into_iter()
        .chain(s.processes_inside("bash"))
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = deploy.wait();
    s.start_daemon();

    assert_eq!(s.demo_names_on_disk(), ["kept"]);
    let names: Vec<String> = s.installed().into_iter().map(|d| d.0).collect();
    assert_eq!(names, ["kept"]);
    assert!(
        s.daemon_log().contains("rolling back a deploy cut short"),
        "said in the log"
    );
    // Its port is free again.
    s.ok(&["deploy", "test1", "again"]);
    assert_eq!(s.json(&["list"])[0]["port"], 21001);
}

#[test]
fn half_done_states_on_disk_are_repaired_at_start() {
    let mut s = Showroom::start(21100);
    s.ok(&["deploy", "test1", "good"]);
    s.stop_daemon();
    let demos = s.state.join("demos");
    // A folder without a record (a deploy killed right after mkdir), a
    // temporary record file, a half-removed folder in the trash, a dangling link.
    std::fs::create_dir(demos.join("orphan")).unwrap();
    std::fs::write(demos.join("good/.demo.conf.tmp"), "half").unwrap();
    std::fs::create_dir_all(s.state.join("trash/gone.1/www")).unwrap();
    std::os::unix::fs::symlink(
        demos.join("gone/apache2.conf"),
        s.state.join("apache/demos/gone.conf"),
    )
    .unwrap();
    // The program section goes missing too: it is generated again.
    std::fs::remove_file(demos.join("good/supervisor.cfg")).unwrap();

    s.start_daemon();
    assert_eq!(s.demo_names_on_disk(), ["good"]);
    assert!(!demos.join("good/.demo.conf.tmp").exists());
    assert_eq!(std::fs::read_dir(s.state.join("trash")).unwrap().count(), 0);
    assert!(!s.state.join("apache/demos/gone.conf").exists());
    assert!(demos.join("good/supervisor.cfg").exists());
    s.ok(&["start", "good"]);
    assert_eq!(s.status("good"), "RUNNING");
    let log = s.daemon_log();
    for said in [
        "rolling back a deploy cut short before its record",
        "temporary file",
        "interrupted removal",
        "Apache link whose demo is gone",
    ] {
        assert!(log.contains(said), "the log says {said:?}");
    }
}
