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
    // Without the sandbox the script outlives the daemon (with it, it dies
    // with it: sandbox/mod.rs): the next start must find and end it.
    let mut s = Showroom::with(crate::harness::Options {
        port_min: Some(21000),
        extra_apps: vec!["slow"],
        extra_config: "sandbox = false\n".into(),
        ..Default::default()
    });
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
                && !s.processes_inside("sleep").is_empty()
        },
    );
    let record = std::fs::read_to_string(s.state.join("demos/cut/demo.conf")).unwrap();
    assert!(
        record.contains("phase = \"deploying\""),
        "the reservation is on disk: {record}"
    );

    s.kill_daemon();
    let _ = deploy.wait();
    assert!(
        !s.processes_inside("bash").is_empty(),
        "the killed daemon's deploy script runs on"
    );
    s.start_daemon();

    // The next start ends the script along with its reservation.
    s.wait_for("the script to be gone", Duration::from_secs(5), || {
        s.processes_inside("bash").is_empty() && s.processes_inside("sleep").is_empty()
    });
    assert!(s.daemon_log().contains("killed its deploy script"));
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
    // A folder with a deploy marker and no record (a deploy killed right
    // after mkdir), a folder with neither (not provably showroom's: kept), a
    // temporary record file, a half-removed folder in the trash, a dangling link.
    std::fs::create_dir(demos.join("cut")).unwrap();
    std::fs::write(s.state.join("deploying/cut"), "").unwrap();
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
    assert_eq!(s.demo_names_on_disk(), ["good", "orphan"]);
    assert!(!s.state.join("deploying/cut").exists());
    assert_eq!(s.status("orphan"), "UNKNOWN");
    assert!(!demos.join("good/.demo.conf.tmp").exists());
    assert_eq!(std::fs::read_dir(s.state.join("trash")).unwrap().count(), 0);
    assert!(!s.state.join("apache/demos/gone.conf").exists());
    assert!(demos.join("good/supervisor.cfg").exists());
    s.ok(&["start", "good"]);
    assert_eq!(s.status("good"), "RUNNING");
    let log = s.daemon_log();
    for said in [
        "rolling back a deploy cut short",
        "its record is missing: kept as found",
        "temporary file",
        "interrupted removal",
        "Apache link whose demo is gone",
    ] {
        assert!(log.contains(said), "the log says {said:?}");
    }
}

#[test]
fn a_second_daemon_on_the_same_state_folder_changes_nothing() {
    let s = Showroom::with_apps(25100, &["slow"]);
    let mut deploy = s.spawn_ctl(&["deploy", "slow", "busy", "--param", "seconds=20"]);
    deploy.until("the deploy's first line", Duration::from_secs(10), |l| {
        l.contains("step 1")
    });
    // Same state, another socket: it must not repair (roll back) the live deploy.
    let other_socket = s.dir.path().join("other.sock");
    let out = run_limited(
        std::process::Command::new(crate::harness::bin("showroomd"))
            .arg("--config")
            .arg(&s.config)
            .arg("--socket")
            .arg(&other_socket),
        Duration::from_secs(20),
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("already running on the state folder"),
        "{}",
        out.stderr
    );
    assert!(!other_socket.exists());
    assert_eq!(s.status("busy"), "DEPLOYING");
    assert!(s.state.join("demos/busy/demo.conf").exists());
    assert!(!s.daemon_log().contains("rolling back"));
}

#[test]
fn a_fresh_supervisord_leaves_a_vhost_wanted_stopped_disabled_and_start_brings_it_back() {
    let s = Showroom::start(25200);
    s.ok(&["deploy", "testapache", "web"]);
    s.ok(&["start", "web"]);
    s.ok(&["stop", "web"]);
    let port = s.json(&["list"])[0]["port"].as_u64().unwrap() as u16;
    s.ok(&["deploy", "testapache", "kept"]);
    s.ok(&["start", "kept"]);
    let kept = s.port_of("kept");
    assert_eq!(crate::harness::http_get(kept, "/").map(|r| r.0), Some(200));

    s.ok(&["supervisor", "stop"]);
    s.ok(&["supervisor", "start"]);
    // Every program of a fresh supervisord is stopped: the vhosts go with
    // them, and only the one wanted running comes back.
    s.wait_for("kept to come back", Duration::from_secs(10), || {
        s.status("kept") == "RUNNING"
    });
    assert_eq!(crate::harness::http_get(kept, "/").map(|r| r.0), Some(200));
    assert_eq!(s.status("web"), "STOPPED");
    assert!(!s.state.join("apache/demos/web.conf").exists());
    assert_eq!(crate::harness::http_get(port, "/"), None);
    s.ok(&["start", "web"]);
    assert_eq!(s.status("web"), "RUNNING");
    assert_eq!(s.statename("apache2"), "RUNNING");
    assert_eq!(crate::harness::http_get(port, "/").map(|r| r.0), Some(200));
}

#[test]
fn apache_is_brought_in_line_with_the_links_at_start() {
    let mut s = Showroom::start(25300);
    s.ok(&["deploy", "testapache", "web"]);
    s.ok(&["start", "web"]);
    let port = s.json(&["list"])[0]["port"].as_u64().unwrap() as u16;
    assert_eq!(s.stop_daemon(), Some(0));
    // A crash between removing the link and reloading Apache.
    std::fs::remove_file(s.state.join("apache/demos/web.conf")).unwrap();
    assert_eq!(crate::harness::http_get(port, "/").map(|r| r.0), Some(200));

    s.start_daemon();
    assert_eq!(s.statename("apache2"), "STOPPED", "no vhost is enabled");
    assert_eq!(crate::harness::http_get(port, "/"), None);
    assert_eq!(s.status("web"), "STOPPED");
    s.ok(&["start", "web"]);
    assert_eq!(crate::harness::http_get(port, "/").map(|r| r.0), Some(200));
}

/// Runs a command to its end, killed (and failing the test) past `limit`;
/// its output is captured, never the test runner's.
fn run_limited(cmd: &mut std::process::Command, limit: Duration) -> crate::harness::Out {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning");
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    crate::harness::Out {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}
