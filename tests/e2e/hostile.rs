//! A hostile demo takes nothing (issue 19, the files, socket, inputs and Apache half): root follows no path a demo controls, the control socket cannot be captured, inputs are bounded, Apache holds against slow clients and comes back by itself. Ports 12000-12999.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{Options, Showroom};

/// A file of root's, 0600, that a demo aims its links at; removed on drop.
struct Target {
    path: PathBuf,
    text: &'static str,
}

impl Target {
    fn new(path: PathBuf) -> Target {
        let text = "root's own, mode 0600\n";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Target { path, text }
    }

    #[track_caller]
    fn untouched(&self, after: &str) {
        let meta = std::fs::symlink_metadata(&self.path).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            0o600,
            "{} changed mode {after}",
            self.path.display()
        );
        assert_eq!(
            meta.uid_gid(),
            (0, 0),
            "{} changed owner {after}",
            self.path.display()
        );
        assert_eq!(
            std::fs::read_to_string(&self.path).unwrap(),
            self.text,
            "{} changed {after}",
            self.path.display()
        );
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

trait UidGid {
    fn uid_gid(&self) -> (u32, u32);
}

impl UidGid for std::fs::Metadata {
    fn uid_gid(&self) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt;
        (self.uid(), self.gid())
    }
}

/// A process's peak and present resident size, in kB, from /proc.
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

const KINDS: &[&str] = &["symlink", "hardlink", "fifo", "socket", "sparse"];
const PLACES: &[&str] = &[
    "start.sh",
    "apache2.conf",
    "demo.conf",
    "supervisor.cfg",
    "log",
    "folder",
];

#[test]
fn links_fifos_sockets_and_huge_files_planted_where_root_looks_change_nothing_outside_and_showroomd_stays_small(
) {
    let mut s = Showroom::with(Options {
        port_min: Some(12000),
        port_max: Some(12099),
        extra_apps: vec!["hostile"],
        ..Options::default()
    });
    // The sandbox hides /tmp (where the test's folder is): a hard link needs
    // a target the script sees, on the same filesystem as the state folder.
    let hidden = Target::new(s.dir.path().join("root-secret"));
    let seen = Target::new(PathBuf::from(format!(
        "/var/tmp/showroom-hostile-{}",
        std::process::id()
    )));
    let same_fs = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&seen.path).unwrap().dev() == std::fs::metadata(&s.state).unwrap().dev()
    };
    let mut running = Vec::new();
    for place in PLACES {
        for kind in KINDS {
            let target = if *kind == "hardlink" && same_fs {
                &seen
            } else {
                &hidden
            };
            let name = format!("{kind}-{}", place.replace('.', "-"));
            let out = s.ctl(&[
                "deploy",
                "hostile",
                &name,
                "--param",
                &format!("kind={kind}"),
                "--param",
                &format!("place={place}"),
                "--param",
                &format!("target={}", target.path.display()),
            ]);
            let what = format!("after {kind} at {place}");
            assert!(
                !out.stderr.contains("PLANTED"),
                "the demo planted {place}: {}",
                out.stderr
            );
            let refused_start =
                *place == "start.sh" && matches!(*kind, "symlink" | "fifo" | "socket");
            if refused_start {
                // Refused with the reason, and rolled back: nothing is left.
                assert_eq!(out.code, 1, "{what}: {}{}", out.stdout, out.stderr);
                assert!(
                    out.stderr.contains("start.sh")
                        && out.stderr.contains("must be a regular file"),
                    "{what}: {}",
                    out.stderr
                );
                assert_eq!(s.status(&name), "DESTROYED", "{what}");
            } else {
                assert_eq!(out.code, 0, "{what}: {}{}", out.stdout, out.stderr);
                if s.state.join("demos").join(&name).join("start.sh").is_file() {
                    // A huge vhost is refused at start; the others run.
                    let started = s.ctl(&["start", &name]);
                    if *place == "apache2.conf" && *kind == "sparse" {
                        assert_eq!(started.code, 1, "{what}");
                        assert!(started.stderr.contains("larger than"), "{}", started.stderr);
                    } else {
                        assert_eq!(started.code, 0, "{what}: {}", started.stderr);
                        running.push(name.clone());
                    }
                }
            }
            hidden.untouched(&what);
            seen.untouched(&what);
        }
    }
    // The demos' processes planted demo.conf and supervisor.cfg again once
    // they ran; showroomd reads both back at its start.
    let demos = s.state.join("demos");
    let unplanted = || -> Vec<String> {
        running
            .iter()
            .filter_map(|n| {
                let place = if n.ends_with("demo-conf") {
                    "demo.conf"
                } else if n.ends_with("supervisor-cfg") {
                    "supervisor.cfg"
                } else {
                    return None;
                };
                // Planted: anything but the small regular file showroom wrote
                // (a refused hard link leaves nothing).
                let copy = std::fs::symlink_metadata(demos.join(n).join(place))
                    .is_ok_and(|m| m.is_file() && m.len() < 1 << 20);
                (copy && !n.starts_with("hardlink")).then(|| n.clone())
            })
            .collect()
    };
    let t0 = std::time::Instant::now();
    while !unplanted().is_empty() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        unplanted(),
        Vec::<String>::new(),
        "the demos' processes did not plant these"
    );
    s.stop_daemon();
    let t0 = std::time::Instant::now();
    s.start_daemon();
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "showroomd took {:?} to answer over the planted files",
        t0.elapsed()
    );
    for n in &running {
        assert_eq!(s.status(n), "RUNNING", "{n}");
    }
    hidden.untouched("after a restart of showroomd");
    seen.untouched("after a restart of showroomd");
    // Every restart reads each start.sh's first bytes: the 2 GB one included.
    let (hwm, rss) = rss_kb(s.daemon_pid().unwrap());
    assert!(
        hwm < 50 * 1024,
        "showroomd's peak RSS is {hwm} kB (now {rss} kB): it read a planted file whole"
    );
    let sparse = s.state.join("demos/sparse-start-sh/start.sh");
    assert_eq!(std::fs::metadata(&sparse).unwrap().len(), 2 << 30);
    assert!(Path::new(&sparse).is_file());
}
