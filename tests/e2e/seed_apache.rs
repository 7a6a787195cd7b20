//! The seed's "Apache support" and "Apache + a process" sections, replayed through showroomctl, with HTTP checks on each vhost.

use std::time::Duration;

use crate::harness::{http_get, Hammer, Options, Showroom};

#[track_caller]
pub(crate) fn serves(port: u16, body: &str) {
    match http_get(port, "/") {
        Some((200, b)) => assert_eq!(b.trim(), body, "port {port}"),
        other => panic!("port {port} should serve {body:?}, got {other:?}"),
    }
}

#[track_caller]
fn silent(port: u16) {
    assert_eq!(http_get(port, "/"), None, "port {port} should not answer");
}

/// With the front door on, its port the last of the test's hundred: the
/// seed's checks of Apache's state still hold (Apache runs only while a
/// vhost is enabled or a demo's process runs).
fn with_front_door(base: u16) -> Showroom {
    Showroom::with(Options {
        port_min: Some(base),
        port_max: Some(base + 98),
        front_port: base + 99,
        ..Options::default()
    })
}

#[test]
fn seed_apache_support() {
    apache_support(&Showroom::start(22000));
}

/// Ports 29300-29399.
#[test]
fn seed_apache_support_with_the_front_door_on() {
    apache_support(&with_front_door(29300));
}

fn apache_support(s: &Showroom) {
    // A vhost only: its link decides its status.
    s.ok(&["deploy", "testapache", "test"]);
    let port = s.port_of("test");
    assert_eq!(s.status("test"), "STOPPED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    s.ok(&["start", "test"]);
    assert_eq!(s.status("test"), "RUNNING");
    assert_eq!(s.statename("apache2"), "RUNNING");
    assert!(
        s.state
            .join("apache/demos/test.conf")
            .symlink_metadata()
            .is_ok(),
        "linked"
    );
    serves(port, "hello from test");
    s.ok(&["stop", "test"]);
    assert_eq!(s.status("test"), "STOPPED");
    silent(port);
    s.ok(&["destroy", "test"]);
    assert_eq!(s.statename("apache2"), "STOPPED");

    // An erroneous vhost: the app is not started, and start says why.
    s.ok(&["deploy", "testapachebad", "test"]);
    assert_eq!(s.status("test"), "STOPPED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    let err = s.refused(&["start", "test"]);
    assert!(
        err.contains("ThisIsNotADirective"),
        "Apache's own message: {err}"
    );
    assert!(err.contains("line 3"), "with the line: {err}");
    assert_eq!(s.status("test"), "STOPPED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    // "we don't start the app": its process (a `sleep 99999999`) never ran.
    assert_eq!(s.statename("test"), "STOPPED", "its process is not started");
    assert!(
        s.processes_inside("sleep").is_empty(),
        "no sleep 99999999 runs after a refused start"
    );
    assert!(
        s.state
            .join("apache/demos/test.conf")
            .symlink_metadata()
            .is_err(),
        "left unlinked"
    );
    s.ok(&["stop", "test"]);
    assert_eq!(s.status("test"), "STOPPED");
    s.ok(&["destroy", "test"]);
    assert_eq!(s.statename("apache2"), "STOPPED");
    assert!(s.processes_inside("sleep").is_empty());

    // Two good ones and a bad one.
    s.ok(&["deploy", "testapache", "test"]);
    s.ok(&["deploy", "testapache", "test2"]);
    s.ok(&["start", "test"]);
    s.ok(&["start", "test2"]);
    let (p1, p2) = (s.port_of("test"), s.port_of("test2"));
    assert_eq!(s.status("test"), "RUNNING");
    assert_eq!(s.status("test2"), "RUNNING");
    assert_eq!(s.statename("apache2"), "RUNNING");
    serves(p1, "hello from test");
    serves(p2, "hello from test2");
    s.ok(&["deploy", "testapachebad", "test3"]);
    assert_eq!(s.status("test3"), "STOPPED");
    assert_eq!(s.statename("apache2"), "RUNNING");
    // Beyond the seed: starting the bad one is refused and takes nothing down.
    let apache_pid = s.supervisorctl(&["pid", "apache2"]);
    s.refused(&["start", "test3"]);
    assert_eq!(
        s.supervisorctl(&["pid", "apache2"]),
        apache_pid,
        "Apache untouched"
    );
    assert_eq!(s.status("test"), "RUNNING");
    assert_eq!(s.status("test2"), "RUNNING");
    serves(p1, "hello from test");
    serves(p2, "hello from test2");
    s.ok(&["destroy", "test"]);
    assert_eq!(s.status("test"), "DESTROYED");
    assert_eq!(s.status("test2"), "RUNNING");
    assert_eq!(s.statename("apache2"), "RUNNING");
    silent(p1);
    serves(p2, "hello from test2");
    s.ok(&["destroy", "test2"]);
    assert_eq!(s.status("test2"), "DESTROYED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    s.ok(&["destroy", "test3"]);
}

#[test]
fn seed_apache_and_a_process() {
    apache_and_a_process(&Showroom::start(22100));
}

/// Ports 29400-29499.
#[test]
fn seed_apache_and_a_process_with_the_front_door_on() {
    apache_and_a_process(&with_front_door(29400));
}

fn apache_and_a_process(s: &Showroom) {
    s.ok(&["deploy", "test2", "test2"]);
    s.ok(&["start", "test2"]);
    let port = s.port_of("test2");
    assert_eq!(s.status("test2"), "RUNNING");
    assert_eq!(s.statename("apache2"), "RUNNING");
    serves(port, "test2 test2");
    s.ok(&["stop", "test2"]);
    assert_eq!(s.status("test2"), "STOPPED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    silent(port);
    s.ok(&["destroy", "test2"]);

    // The same with two demos.
    s.ok(&["deploy", "test2", "test2"]);
    s.ok(&["deploy", "test2", "test2bis"]);
    assert_eq!(s.statename("apache2"), "STOPPED");
    let (p2, p2bis) = (s.port_of("test2"), s.port_of("test2bis"));
    s.ok(&["start", "test2"]);
    s.ok(&["start", "test2bis"]);
    assert_eq!(s.status("test2"), "RUNNING");
    assert_eq!(s.status("test2bis"), "RUNNING");
    serves(p2, "test2 test2");
    serves(p2bis, "test2 test2bis");
    s.wait_for("Apache to leave STARTING", Duration::from_secs(10), || {
        s.statename("apache2") != "STARTING"
    });
    s.ok(&["stop", "test2"]);
    assert_eq!(s.statename("apache2"), "RUNNING");
    silent(p2);
    serves(p2bis, "test2 test2bis");
    s.ok(&["stop", "test2bis"]);
    assert_eq!(s.statename("apache2"), "STOPPED");
    assert_eq!(s.status("test2"), "STOPPED");
    assert_eq!(s.status("test2bis"), "STOPPED");
    silent(p2);
    silent(p2bis);
    s.ok(&["destroy", "test2"]);
    s.ok(&["destroy", "test2bis"]);

    // A bad vhost and a good startup script.
    s.ok(&["deploy", "error3", "error3"]);
    assert_eq!(s.statename("apache2"), "STOPPED");
    let err = s.refused(&["start", "error3"]);
    assert!(err.contains("NotADirectiveEither"), "{err}");
    assert_eq!(s.status("error3"), "STOPPED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    assert_eq!(s.statename("error3"), "STOPPED");
    s.ok(&["destroy", "error3"]);

    // A good vhost and a bad startup script.
    s.ok(&["deploy", "error4", "error4"]);
    let p4 = s.port_of("error4");
    assert_eq!(s.statename("apache2"), "STOPPED");
    let err = s.refused(&["start", "error4"]);
    assert!(err.contains("ABNORMAL_TERMINATION: error4"), "{err}");
    // The process failed, so its vhost is not enabled: nothing serves its port.
    silent(p4);
    assert!(
        s.state
            .join("apache/demos/error4.conf")
            .symlink_metadata()
            .is_err(),
        "error4's vhost left unlinked"
    );
    let st = s.status("error4");
    assert!(["STARTING", "BACKOFF"].contains(&st.as_str()), "{st}");
    assert_eq!(s.statename("apache2"), "STOPPED");
    assert!(["STARTING", "BACKOFF"].contains(&s.statename("error4").as_str()));
    s.wait_for(
        "error4 to leave STARTING/BACKOFF",
        Duration::from_secs(30),
        || !["STARTING", "BACKOFF"].contains(&s.statename("error4").as_str()),
    );
    assert_eq!(s.statename("error4"), "FATAL");
    assert_eq!(s.status("error4"), "FATAL");
    s.ok(&["destroy", "error4"]);

    assert!(s.processes_inside("sleep").is_empty());
}

#[test]
fn a_port_taken_by_another_program_is_refused_and_the_others_keep_serving() {
    let s = Showroom::start(22200);
    s.ok(&["deploy", "testapache", "good"]);
    s.ok(&["start", "good"]);
    let good = s.port_of("good");
    s.ok(&["deploy", "testapache", "unlucky"]);
    assert_eq!(s.port_of("unlucky"), good + 1);
    // Something else takes its port after its deploy (a held port is never
    // handed out: tests/e2e/daytwo.rs).
    let squatter = std::net::TcpListener::bind(("0.0.0.0", good + 1)).unwrap();
    let err = s.refused(&["start", "unlucky"]);
    assert!(err.contains("taken by another program"), "{err}");
    assert_eq!(s.status("unlucky"), "STOPPED");
    assert_eq!(s.statename("apache2"), "RUNNING");
    serves(good, "hello from good");
    drop(squatter);
    s.ok(&["start", "unlucky"]);
    serves(good + 1, "hello from unlucky");
}

#[test]
fn reloads_drop_no_request_of_the_demos_already_served() {
    let s = Showroom::start(22300);
    for i in 0..3 {
        let name = format!("d{i}");
        s.ok(&["deploy", "testapache", &name]);
        s.ok(&["start", &name]);
    }
    let hammered = s.port_of("d0");
    s.ok(&["deploy", "testapache", "newcomer"]);
    s.ok(&["deploy", "testapachebad", "bad"]);
    let hammer = Hammer::start(hammered);
    s.ok(&["start", "newcomer"]);
    s.refused(&["start", "bad"]);
    s.ok(&["stop", "d1"]);
    s.ok(&["destroy", "d2"]);
    s.ok(&["stop", "newcomer"]);
    let (ok, failed) = hammer.finish();
    assert!(ok > 0);
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests to d0 failed during the reloads",
        ok + failed
    );
}

#[test]
fn a_vhost_rewritten_after_its_start_keeps_its_checked_copy_and_a_taken_port_is_pruned() {
    let s = Showroom::start(25400);
    for name in ["a", "b", "c"] {
        s.ok(&["deploy", "testapache", name]);
        s.ok(&["start", name]);
    }
    let (pa, pb, pc) = (s.port_of("a"), s.port_of("b"), s.port_of("c"));
    // The demo owns its folder: nothing stops it from breaking its own file,
    // but Apache serves the copy checked at its start.
    std::fs::write(
        s.state.join("demos/c/apache2.conf"),
        format!("Listen {pc}\n<VirtualHost *:{pc}>\n    BrokenOnPurpose on\n</VirtualHost>\n"),
    )
    .unwrap();
    s.ok(&["stop", "a"]);
    silent(pa);
    serves(pb, "hello from b");
    serves(pc, "hello from c");
    assert_eq!(s.status("c"), "RUNNING");
    // Its next start is refused with Apache's words, naming it.
    s.ok(&["stop", "c"]);
    let err = s.refused(&["start", "c"]);
    assert!(
        err.contains("demo c") && err.contains("BrokenOnPurpose"),
        "{err}"
    );
    serves(pb, "hello from b");

    // A vhost that went bad after its start (another program took its port
    // while Apache held none) is disabled at the next apply, naming it, and
    // the demo being started starts.
    s.supervisorctl(&["stop", "apache2"]);
    silent(pb);
    assert_eq!(
        s.status("b"),
        "UNKNOWN",
        "Apache stopped is not b's failure"
    );
    let squatter = std::net::TcpListener::bind(("0.0.0.0", pb)).unwrap();
    s.ok(&["start", "a"]);
    serves(pa, "hello from a");
    assert_eq!(s.status("b"), "STOPPED", "b's vhost was disabled");
    assert!(!s.state.join("apache/demos/b.conf").exists());
    assert!(s
        .daemon_log()
        .lines()
        .any(|l| l.contains("disabled a vhost Apache cannot serve")
            && l.contains("demo=b")
            && l.contains(&format!("port {pb}"))));
    drop(squatter);
    s.ok(&["start", "b"]);
    serves(pb, "hello from b");
}
