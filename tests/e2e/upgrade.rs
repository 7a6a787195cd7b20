//! Upgrades lose nothing: state folders made by earlier versions (tests/fixtures/state-vN, made by their own code at another path) are taken over whole, and a folder of a newer format is refused unchanged. Ports 17300-17599.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, fixtures, http_get, Options, Showroom};

/// The place the fixtures were made at: none of it may be needed any more.
const MADE_AT: &str = "/tmp/showroom-fixture-run";

/// A showroom whose state folder is the fixture's, owners and modes as the
/// old version left them; showroomd not started yet.
/// `at`: the state folder's place, when not the test's own folder.
fn on_fixture(fixture: &str, port_min: u16, front_port: u16, at: Option<&Path>) -> Showroom {
    let mut s = Showroom::with(Options {
        port_min: Some(port_min),
        port_max: Some(port_min + 49),
        shipped_apps: vec!["static", "pyhttp", "proxied"],
        front_port,
        ..Options::default()
    });
    s.ok(&["supervisor", "stop"]);
    s.stop_daemon();
    std::fs::remove_dir_all(&s.state).unwrap();
    if let Some(at) = at {
        let config = std::fs::read_to_string(&s.config).unwrap();
        let config = config.replace(&format!("{:?}", s.state), &format!("{at:?}"));
        std::fs::write(&s.config, config).unwrap();
        s.state = at.to_owned();
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    }
    let from = fixtures().join(fixture);
    let cp = Command::new("cp")
        .arg("-a")
        .arg(from.join("state"))
        .arg(&s.state)
        .status()
        .unwrap();
    assert!(cp.success());
    // git keeps neither owners nor modes: the fixture lists them.
    let owners = std::fs::read_to_string(from.join("owners")).unwrap();
    for line in owners.lines() {
        let mut w = line.splitn(4, ' ');
        let (mode, user, group, rel) = (
            w.next().unwrap(),
            w.next().unwrap(),
            w.next().unwrap(),
            w.next().unwrap(),
        );
        let path = s.state.join(rel);
        // git keeps no empty folder (the old version's trash, deploying/):
        // what the list names and git lost is one.
        if std::fs::symlink_metadata(&path).is_err() {
            std::fs::create_dir_all(&path).unwrap();
        }
        let uid = nix::unistd::User::from_name(user).unwrap().map(|u| u.uid);
        let gid = nix::unistd::Group::from_name(group).unwrap().map(|g| g.gid);
        let (Some(uid), Some(gid)) = (uid, gid) else {
            panic!("{user}:{group} of {rel}: no such account here (tests/setup.sh makes showroom-demo)")
        };
        std::os::unix::fs::lchown(&path, Some(uid.as_raw()), Some(gid.as_raw())).unwrap();
        if !path.is_symlink() {
            let mode = u32::from_str_radix(mode, 8).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap();
        }
    }
    s
}

/// What the old version's `list --json` said of each demo is what the new one says.
fn nothing_lost(s: &Showroom, fixture: &str) {
    let before: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(fixture).join("list.json")).unwrap(),
    )
    .unwrap();
    let now = s.json(&["list"]);
    let now = now.as_array().unwrap();
    assert_eq!(now.len(), 3, "{now:?}");
    for old in before.as_array().unwrap() {
        let name = old["name"].as_str().unwrap();
        let new = now
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} lost: {now:?}"));
        for key in ["app", "port", "comment", "created", "params"] {
            assert_eq!(new[key], old[key], "{name}'s {key}");
        }
        let was_running = old["status"] == "RUNNING";
        assert_eq!(
            new["wanted"],
            if was_running { "running" } else { "stopped" },
            "{name} ran before the upgrade: {new}"
        );
    }
}

fn taken_over(fixture: &str, format: u32, port_min: u16, front_port: u16) {
    let mut s = on_fixture(fixture, port_min, front_port, None);
    s.start_daemon();
    nothing_lost(&s, fixture);
    let log = s.daemon_log();
    assert!(
        log.contains(&format!("migrated the state folder from format {format}")),
        "{log}"
    );
    assert!(
        log.contains(&format!("moved from {MADE_AT}/state")),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(s.state.join("FORMAT")).unwrap(),
        "3\n"
    );
    // The demos that ran come back (a fresh supervisord), served as before.
    for name in ["proc", "site"] {
        s.wait_for(&format!("{name} running"), Duration::from_secs(60), || {
            s.status(name) == "RUNNING"
        });
    }
    let page = |name: &str| http_get(s.port_of(name), "/").map(|(_, body)| body);
    assert!(
        page("site").is_some_and(
            |b| b.contains("The fixture&#39;s site") || b.contains("The fixture's site")
        ),
        "the vhost demo's page: {:?}",
        page("site")
    );
    assert!(page("proc").is_some_and(|b| b.contains("<h1>proc</h1>")));
    // Nothing a demo runs names the folder it was made in.
    for name in ["proc", "both"] {
        let start =
            std::fs::read_to_string(s.state.join(format!("demos/{name}/start.sh"))).unwrap();
        assert!(!start.contains(MADE_AT), "{name}'s start.sh: {start}");
    }
    // Apache's logs are the sandbox account's (root's before format 2).
    if nix::unistd::geteuid().is_root() {
        let account = nix::unistd::User::from_name("showroom-demo")
            .unwrap()
            .unwrap()
            .uid
            .as_raw();
        for f in ["access.log", "error.log"] {
            let p = s.state.join("apache/logs").join(f);
            if let Ok(m) = std::fs::metadata(&p) {
                assert_eq!(m.uid(), account, "{} owner", p.display());
            }
        }
    }
    // The stopped process+vhost demo starts in its new place, and a
    // process demo stops and starts again.
    s.ok(&["start", "both"]);
    assert!(
        page("both").is_some_and(|b| b.contains("<h1>both</h1>")),
        "{:?}",
        page("both")
    );
    s.ok(&["stop", "proc"]);
    s.ok(&["start", "proc"]);
    assert!(page("proc").is_some_and(|b| b.contains("<h1>proc</h1>")));
    // A restart is no migration: the format is current now.
    s.stop_daemon();
    s.start_daemon();
    assert_eq!(
        s.daemon_log().matches("migrated the state folder").count(),
        1
    );
    nothing_lost_after_restart(&s);
}

fn nothing_lost_after_restart(s: &Showroom) {
    for name in ["proc", "site", "both"] {
        assert_eq!(s.listed(name)["wanted"], "running", "{name}");
    }
}

/// Stops what was started at the fixture's own place, and removes it.
struct AtMadePlace;
impl Drop for AtMadePlace {
    fn drop(&mut self) {
        crate::harness::stop_showroom_in(Path::new(MADE_AT), &Path::new(MADE_AT).join("state"));
        let _ = std::fs::remove_dir_all(MADE_AT);
    }
}

/// The upgrade as an operator does it: the old supervisord still runs the
/// demos (unsandboxed, as root) when the new showroomd starts.
fn taken_over_from_a_live_supervisord() {
    assert!(
        !Path::new(MADE_AT).exists(),
        "{MADE_AT} exists: tests/fixtures/make_state_fixture.sh is running, or left it"
    );
    let _place = AtMadePlace;
    let at = Path::new(MADE_AT).join("state");
    let mut s = on_fixture("state-v1", 17300, 17390, Some(&at));
    let conf = at.join("supervisor/supervisord.conf");
    let old = Command::new("supervisord")
        .arg("-c")
        .arg(&conf)
        .status()
        .unwrap();
    assert!(old.success(), "the old version's supervisord starts");
    let ctl = |args: &[&str]| {
        Command::new("supervisorctl")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .output()
            .unwrap()
    };
    let t0 = std::time::Instant::now();
    while !String::from_utf8_lossy(&ctl(&["status"]).stdout).contains("proc") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the old supervisord answers"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ctl(&["start", "proc", "apache2"]);
    let old_pid: i32 = std::fs::read_to_string(at.join("supervisor/supervisord.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        http_get(17300, "/").is_some(),
        "the old version serves proc"
    );

    s.start_daemon();
    let log = s.daemon_log();
    assert!(
        log.contains("stopped the supervisord the earlier showroomd ran"),
        "{log}"
    );
    assert!(
        !crate::harness::pid_alive(old_pid),
        "the old supervisord is gone"
    );
    nothing_lost(&s, "state-v1");
    for name in ["proc", "site"] {
        s.wait_for(&format!("{name} running"), Duration::from_secs(60), || {
            s.status(name) == "RUNNING"
        });
    }
    assert!(http_get(17300, "/").is_some_and(|(_, b)| b.contains("<h1>proc</h1>")));
    assert!(http_get(17301, "/").is_some_and(|(_, b)| b.contains("fixture")));
    // proc runs in the sandbox now, as its account, not as root: its own
    // processes, below the wrappers (showroomd's line stamper, setpriv, bwrap).
    if nix::unistd::geteuid().is_root() {
        let pid: i32 = s.supervisorctl(&["pid", "proc"]).trim().parse().unwrap();
        let app: Vec<(i32, String, String)> = descendants(pid)
            .into_iter()
            .map(|p| (p, proc_field(p, "Name:"), proc_field(p, "Uid:")))
            // pasta, the demo's port forwarder, is showroom's (it keeps a
            // few capabilities as root: docs/ARCHITECTURE.md says why).
            .filter(|(_, comm, _)| {
                !["showroomd", "setpriv", "bwrap", "prlimit"].contains(&comm.as_str())
                    && !comm.starts_with("passt")
                    && !comm.starts_with("pasta")
            })
            .collect();
        assert!(
            !app.is_empty(),
            "proc's program {pid} runs nothing of its own"
        );
        for (p, comm, uid) in &app {
            assert_ne!(uid, "0", "proc's process {comm} (pid {p}) runs as root");
        }
    }
}

#[test]
fn format_1_demo_conf_records_are_taken_over() {
    taken_over("state-v1", 1, 17300, 17390);
    // The same ports: one after the other.
    taken_over_from_a_live_supervisord();
}

#[test]
fn format_2_records_and_programs_conf_are_taken_over() {
    taken_over("state-v2", 2, 17400, 17480);
}

/// Every file under `root`: its path, size, mode and modification time.
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.push(format!(
                "{} {} {:o} {}",
                p.display(),
                m.len(),
                m.mode(),
                m.mtime_nsec() + m.mtime() * 1_000_000_000
            ));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_newer_format_is_refused_and_nothing_changes() {
    let mut s = Showroom::with(Options {
        port_min: Some(17500),
        shipped_apps: vec!["static"],
        ..Options::default()
    });
    s.ok(&["deploy", "static", "kept"]);
    s.ok(&["supervisor", "stop"]);
    s.stop_daemon();
    assert_eq!(
        std::fs::read_to_string(s.state.join("FORMAT")).unwrap(),
        "3\n",
        "this showroomd writes format 3"
    );
    std::fs::write(s.state.join("FORMAT"), "4\n").unwrap();
    let before = snapshot(&s.state);
    let out = Command::new(bin("showroomd"))
        .arg("--config")
        .arg(&s.config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a newer format was taken: {stderr}");
    assert!(
        stderr.contains("is format 4") && stderr.contains("formats up to 3"),
        "the refusal names both formats: {stderr}"
    );
    assert_eq!(snapshot(&s.state), before, "the refused folder changed");
    assert!(!s.socket.exists(), "a refused showroomd bound its socket");
}

/// Every process below `pid`, from /proc's parent links.
fn descendants(pid: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let ppid = proc_field(p, "PPid:").parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// The first word of a /proc/PID/status field ("" once the process is gone).
fn proc_field(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}
