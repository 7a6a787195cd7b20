//! What the system service relies on: units that `systemd-analyze verify` accepts, the readiness protocol, and access by peer credentials.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, pid_alive, Options, Out, Showroom};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn systemd_analyze_verifies_every_unit() {
    let found = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(
        found,
        "systemd-analyze is required: apt-get install systemd"
    );
    // The units name /usr/local/bin; verify checks that ExecStart exists, so point it at the built binaries.
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = bin("showroomd").parent().unwrap().to_owned();
    let units = [
        "showroomd.service",
        "showroom-cleanup.service",
        "showroom-cleanup.timer",
    ];
    for unit in units {
        let text = std::fs::read_to_string(repo_file(&format!("systemd/{unit}"))).unwrap();
        assert!(
            !text.contains("ExecStart") || text.contains("/usr/local/bin/"),
            "{unit}"
        );
        let text = text.replace("/usr/local/bin/", &format!("{}/", bin_dir.display()));
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let out: Out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    // verify reports bad keys as warnings with exit 0: any line naming our files is a failure.
    let ours: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| units.iter().any(|u| l.contains(u)))
        .collect();
    assert!(
        out.code == 0 && ours.is_empty(),
        "systemd-analyze verify: exit {}\n{}",
        out.code,
        out.stderr
    );

    let service = std::fs::read_to_string(repo_file("systemd/showroomd.service")).unwrap();
    for must in [
        "Type=notify",
        "KillMode=process",
        "StateDirectory=showroom",
        "RuntimeDirectory=showroom",
        "User=showroom",
    ] {
        assert!(
            service.lines().any(|l| l == must),
            "showroomd.service needs {must}"
        );
    }
}

#[test]
fn readiness_and_stopping_reach_notify_socket() {
    let mut s = Showroom::start(22800);
    // supervisord down first, so that the daemon given NOTIFY_SOCKET is the
    // one that starts it: else the environment check below could not fail.
    let first_supervisord = s.supervisord_pid().expect("supervisord's pid");
    s.ok(&["supervisor", "stop"]);
    assert_eq!(s.json(&["supervisor", "status"])["running"], false);
    s.stop_daemon();
    assert!(
        s.supervisord_pid().is_none_or(|p| !pid_alive(p)),
        "supervisord stays down while no showroomd runs"
    );
    let started_before = s.log_count("supervisord started");
    let notify_path = s.dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    s.start_daemon_env(&[("NOTIFY_SOCKET", &notify_path)]);
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 within 30 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // Ready means usable: supervisord answers through showroomd.
    assert_eq!(s.json(&["supervisor", "status"])["running"], true);
    // supervisord (and so the demos) must not inherit systemd's socket, which
    // the daemon that started it had.
    let environ = |pid: i32| {
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap())
            .into_owned()
    };
    let daemon = s.daemon_pid().unwrap() as i32;
    assert!(
        environ(daemon).contains("NOTIFY_SOCKET="),
        "showroomd itself runs with NOTIFY_SOCKET"
    );
    let pid = s.supervisord_pid().unwrap();
    assert_ne!(
        pid, first_supervisord,
        "supervisord was started again, by the daemon with NOTIFY_SOCKET"
    );
    assert_eq!(
        s.log_count("supervisord started"),
        started_before + 1,
        "the showroomd with NOTIFY_SOCKET started supervisord:\n{}",
        s.daemon_log()
    );
    assert!(
        !environ(pid).contains("NOTIFY_SOCKET"),
        "supervisord inherited NOTIFY_SOCKET"
    );

    assert_eq!(s.stop_daemon(), Some(0));
    let n = notify.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1");
}

/// showroomctl run as another user (the suite runs as root, as CI does).
fn ctl_as(s: &Showroom, ctl: &Path, uid: u32, gid: u32, args: &[&str]) -> Out {
    Command::new(ctl)
        .arg("--socket")
        .arg(&s.socket)
        .args(args)
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .output()
        .expect("running showroomctl as another user")
        .into()
}

#[test]
fn mutating_requests_need_root_the_daemon_user_or_an_operator() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test runs showroomctl as other users: run the suite as root (CI does)"
    );
    let s = Showroom::with(Options {
        port_min: Some(22900),
        // The socket open to all, so that only the peer-credential check decides.
        extra_config: "socket_mode = 0o666\noperator_group = \"nogroup\"\n".into(),
        ..Options::default()
    });
    // A copy the other users can run, wherever the checkout lives.
    let ctl = s.dir.path().join("showroomctl");
    std::fs::copy(bin("showroomctl"), &ctl).unwrap();
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.ok(&["deploy", "test1", "mine"]);

    // A uid with no account: reads work, changes are refused and logged.
    let stranger = 54321;
    let list = ctl_as(&s, &ctl, stranger, stranger, &["list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("mine"));
    for args in [
        &["deploy", "test1", "theirs"][..],
        &["start", "mine"],
        &["destroy", "mine"],
        &["cleanup", "--all"],
        &["supervisor", "stop"],
    ] {
        let o = ctl_as(&s, &ctl, stranger, stranger, args);
        assert_eq!(o.code, 1, "{args:?}: {}{}", o.stdout, o.stderr);
        assert!(
            o.stderr.contains("permission denied"),
            "{args:?}: {}",
            o.stderr
        );
    }
    assert!(
        s.daemon_log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("uid=54321") && l.contains("refused")),
        "a log line names the uid:\n{}",
        s.daemon_log()
    );
    // A dry run changes nothing, so readers may ask for one.
    let dry = ctl_as(
        &s,
        &ctl,
        stranger,
        stranger,
        &["cleanup", "--all", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.stdout.trim(), "would destroy mine");
    assert_eq!(s.installed().len(), 1);
    assert_eq!(s.status("mine"), "STOPPED");
    assert_eq!(s.json(&["supervisor", "status"])["running"], true);

    // nobody, whose group is the operator group, may.
    let nobody = 65534;
    let o = ctl_as(&s, &ctl, nobody, nobody, &["start", "mine"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(s.status("mine"), "RUNNING");
}
