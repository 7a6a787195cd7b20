//! Issue 10's actor-side items: nothing a demo owns is lost to a failure of a shared part, a lost or damaged record, or a file a demo writes in its folder.

use std::time::Duration;

use crate::cleanup::STALE;
use crate::harness::Showroom;
use crate::seed_apache::serves;

/// Item 1: the shared Apache fails (its restart finds a port taken and it
/// goes FATAL): its demos are not FATAL, and the daily cleanup destroys
/// nothing while it is so.
#[test]
fn nothing_lost_a_failed_apache_is_not_charged_to_its_demos_and_cleanup_waits() {
    let s = Showroom::start(25500);
    for name in ["web1", "web2"] {
        s.ok(&["deploy", "testapache", name]);
        s.ok(&["start", name]);
    }
    s.ok(&["deploy", "test1", "proc"]);
    s.ok(&["start", "proc"]);
    // Apache's restart fails on a port another program holds. (Before the
    // sandbox, a killed master's own workers held them; in its PID namespace
    // they now die with it, so the port is taken here by hand.)
    s.supervisorctl(&["stop", "apache2"]);
    let _squatter = std::net::TcpListener::bind(("0.0.0.0", s.port_of("web1"))).unwrap();
    let _ = s.supervisorctl(&["start", "apache2"]);
    s.wait_for("Apache to go FATAL", Duration::from_secs(40), || {
        s.statename("apache2") == "FATAL"
    });

    for name in ["web1", "web2"] {
        assert_eq!(s.status(name), "UNKNOWN", "{name} is not charged");
        s.wait_for("the poller to see it", Duration::from_secs(10), || {
            s.listed(name)["reason"] == "Apache is FATAL"
        });
    }
    assert_eq!(s.status("proc"), "RUNNING");
    let table = s.ok(&["list"]);
    assert!(
        table.contains("REASON") && table.contains("Apache is FATAL"),
        "{table}"
    );

    for args in [
        &STALE[..],
        &["cleanup", "--status", "FATAL"],
        &["cleanup", "--status", "UNKNOWN", "--dry-run"],
        &["cleanup", "--all"],
    ] {
        let err = s.refused(args);
        assert!(
            err.contains("cleanup destroys nothing while Apache is FATAL (a shared part)"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(s.demo_names_on_disk(), ["proc", "web1", "web2"]);
    assert_eq!(s.installed().len(), 3);
}

/// What is taken from a running demo's records before showroomd starts again.
enum Damage {
    /// Only the copy in its folder: restored from the record.
    CopyLost,
    /// The record and its copy deleted.
    BothLost,
    /// The record and its copy overwritten with garbage.
    BothDamaged,
}

/// Items 2 and 3: a running demo holding data, its record lost or damaged
/// across a restart of showroomd.
fn a_demo_survives(port_min: u16, damage: Damage) {
    let mut s = Showroom::start(port_min);
    s.ok(&["deploy", "test2", "keep"]);
    s.ok(&["start", "keep"]);
    let port = s.port_of("keep");
    let data = s.state.join("demos/keep/data.db");
    std::fs::write(&data, "precious").unwrap();
    let pid = s.supervisorctl(&["pid", "keep"]);
    assert_eq!(s.stop_daemon(), Some(0));

    let copy = s.state.join("demos/keep/demo.conf");
    let record = s.state.join("records/keep.toml");
    match damage {
        Damage::CopyLost => std::fs::remove_file(&copy).unwrap(),
        Damage::BothLost => {
            std::fs::remove_file(&copy).unwrap();
            let _ = std::fs::remove_file(&record);
        }
        Damage::BothDamaged => {
            std::fs::write(&copy, "garbage = [").unwrap();
            if record.exists() {
                std::fs::write(&record, "garbage = [").unwrap();
            }
        }
    }
    s.start_daemon();

    assert_eq!(std::fs::read_to_string(&data).unwrap(), "precious");
    assert_eq!(s.supervisorctl(&["pid", "keep"]), pid, "the same process");
    assert_eq!(s.statename("keep"), "RUNNING");
    serves(port, "test2 keep");
    let d = s.listed("keep");
    assert_eq!(d["port"], port, "its port is kept: {d}");
    assert!(!d["created"].as_str().unwrap().starts_with("1970"), "{d}");
    match damage {
        Damage::CopyLost => {
            assert_eq!(d["status"], "RUNNING", "{d}");
            assert_eq!(d["reason"], "", "{d}");
            assert!(copy.is_file());
            assert!(s.daemon_log().contains("restored the copy of its record"));
        }
        Damage::BothLost | Damage::BothDamaged => {
            let why = match damage {
                Damage::BothLost => "its record is missing",
                _ => "its record is unreadable",
            };
            assert_eq!(d["status"], "UNKNOWN", "{d}");
            assert!(d["reason"].as_str().unwrap().starts_with(why), "{d}");
            assert!(!s.daemon_log().contains("rolling back"));
            let err = s.refused(&["start", "keep"]);
            assert!(err.contains(why), "{err}");
        }
    }

    // The next deploy gets another port; no cleanup takes the demo.
    s.ok(&["deploy", "test1", "next"]);
    assert_ne!(s.port_of("next"), port);
    s.ok(&["cleanup", "--status", "UNKNOWN"]);
    s.ok(&["cleanup", "--older-than", "1s", "--status", "FATAL"]);
    if !matches!(damage, Damage::CopyLost) {
        s.ok(&["cleanup", "--all"]);
        assert_eq!(s.demo_names_on_disk(), ["keep"]);
    }
    assert!(data.is_file());
    assert_eq!(s.supervisorctl(&["pid", "keep"]), pid);
    serves(port, "test2 keep");

    // An explicit destroy does take it.
    s.ok(&["destroy", "keep"]);
    assert!(!s.state.join("demos/keep").exists());
    assert_eq!(s.status("keep"), "DESTROYED");
    assert!(s
        .processes_inside("sleep")
        .iter()
        .all(|p| p.to_string() != pid.trim()));
}

#[test]
fn nothing_lost_a_lost_copy_of_the_record_is_restored() {
    a_demo_survives(25600, Damage::CopyLost);
}

#[test]
fn nothing_lost_a_lost_record_keeps_the_demo_its_data_process_and_port() {
    a_demo_survives(25700, Damage::BothLost);
}

#[test]
fn nothing_lost_a_damaged_record_keeps_the_demo_its_data_process_and_port() {
    a_demo_survives(25800, Damage::BothDamaged);
}

/// Item 8: a `supervisor.cfg` a demo writes in its folder is never loaded
/// by supervisord, so it breaks no later deploy.
#[test]
fn nothing_lost_a_supervisor_cfg_a_demo_writes_changes_nothing_supervisord_loads() {
    let s = Showroom::start(25900);
    s.ok(&["deploy", "test1", "a"]);
    std::fs::write(
        s.state.join("demos/a/supervisor.cfg"),
        "[program:evil]\ncommand=/bin/sleep 1000\nautostart=true\n[broken\n",
    )
    .unwrap();
    s.ok(&["deploy", "test1", "b"]);
    s.ok(&["start", "b"]);
    s.ok(&["start", "a"]);
    assert_eq!(s.status("a"), "RUNNING");
    assert_eq!(s.status("b"), "RUNNING");
    assert!(!s.supervisorctl(&["status"]).contains("evil"));
    s.ok(&["stop", "a"]);
    s.ok(&["destroy", "b"]);
}

/// Item 7: a running demo's `apache2.conf` rewritten bad blocks no other
/// vhost start (Apache serves the copy checked at its start), and its own
/// next start is refused naming it.
#[test]
fn nothing_lost_a_vhost_rewritten_bad_blocks_no_other_start() {
    let s = Showroom::start(25950);
    s.ok(&["deploy", "testapache", "bad"]);
    s.ok(&["start", "bad"]);
    let pbad = s.port_of("bad");
    std::fs::write(
        s.state.join("demos/bad/apache2.conf"),
        format!("Listen {pbad}\n<VirtualHost *:{pbad}>\n    BrokenOnPurpose on\n</VirtualHost>\n"),
    )
    .unwrap();
    s.ok(&["deploy", "testapache", "good"]);
    s.ok(&["start", "good"]);
    serves(s.port_of("good"), "hello from good");
    serves(pbad, "hello from bad");
    assert_eq!(s.status("bad"), "RUNNING");

    s.ok(&["stop", "bad"]);
    let err = s.refused(&["start", "bad"]);
    assert!(
        err.contains("demo bad") && err.contains("BrokenOnPurpose"),
        "{err}"
    );
    serves(s.port_of("good"), "hello from good");
    assert_eq!(s.status("good"), "RUNNING");
}
