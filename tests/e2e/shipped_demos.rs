//! The deploy scripts shipped in demos/ (static, pyhttp, proxied): deployed, started, served over HTTP, stopped, destroyed.

use std::time::Duration;

use crate::harness::{http_get, Options, Showroom};

/// Ports 24000-24099; proxied's inner port is its second port (`# PORTS: 2`), from the same range.
const PORT_MIN: u16 = 24000;

/// `port` answers 200 at once (Apache serves a vhost by the time `start`
/// answers), with each of `wanted` in the body.
#[track_caller]
fn serves(port: u16, wanted: &[&str]) {
    check_body(port, http_get(port, "/"), wanted);
}

/// The same for a page a demo's own process serves: supervisord calls it
/// RUNNING once it has lived `startsecs`, which says nothing about its port,
/// so this polls a little for the first 200.
#[track_caller]
pub(crate) fn serves_soon(s: &Showroom, port: u16, wanted: &[&str]) {
    let mut last = None;
    s.wait_for(
        &format!("a 200 on port {port}"),
        Duration::from_secs(15),
        || {
            last = http_get(port, "/");
            matches!(last, Some((200, _)))
        },
    );
    check_body(port, last, wanted);
}

#[track_caller]
fn check_body(port: u16, got: Option<(u16, String)>, wanted: &[&str]) {
    let Some((200, body)) = got else {
        panic!("port {port} should answer 200, got {got:?}");
    };
    for w in wanted {
        assert!(body.contains(w), "port {port} should serve {w:?}:\n{body}");
    }
}

#[track_caller]
fn silent(port: u16) {
    assert_eq!(http_get(port, "/"), None, "port {port} should not answer");
}

#[test]
fn the_shipped_demos_deploy_serve_stop_and_go() {
    let s = Showroom::with(Options {
        port_min: Some(PORT_MIN),
        shipped_apps: vec!["static", "pyhttp", "proxied"],
        ..Options::default()
    });
    let available = s.json(&["available"]);
    assert_eq!(
        available["static"]["params"],
        serde_json::json!(["name", "comment", "title"])
    );
    assert_eq!(
        available["pyhttp"]["params"],
        serde_json::json!(["name", "comment"])
    );
    assert_eq!(
        available["proxied"]["params"],
        serde_json::json!(["name", "comment"])
    );

    s.ok(&[
        "deploy",
        "static",
        "site",
        "--param",
        "title=A shipped static page",
        "--comment",
        "for ACME",
    ]);
    s.ok(&["deploy", "pyhttp", "pyapp"]);
    s.ok(&["deploy", "proxied", "behind"]);
    let (site, pyapp, behind) = (s.port_of("site"), s.port_of("pyapp"), s.port_of("behind"));
    assert_eq!(
        [site, pyapp, behind],
        [PORT_MIN, PORT_MIN + 1, PORT_MIN + 2]
    );
    let inner = s.listed("behind")["port2"]
        .as_u64()
        .expect("proxied has a PORT2") as u16;
    assert_eq!(inner, PORT_MIN + 3, "the next free port of the range");
    for name in ["site", "pyapp", "behind"] {
        assert_eq!(s.status(name), "STOPPED", "{name}");
    }
    for port in [site, pyapp, behind, inner] {
        silent(port);
    }

    for name in ["site", "pyapp", "behind"] {
        s.ok(&["start", name]);
        assert_eq!(s.status(name), "RUNNING", "{name}");
    }
    assert_eq!(s.statename("apache2"), "RUNNING");
    // Answered once they answered on their ports: supervisord's
    // `startsecs` may still run, and ends in RUNNING.
    for name in ["pyapp", "behind"] {
        s.wait_for(
            &format!("{name} RUNNING for supervisord"),
            Duration::from_secs(3),
            || s.statename(name) == "RUNNING",
        );
    }
    serves(
        site,
        &[
            "<title>A shipped static page</title>",
            "<b>site</b>",
            "for ACME",
        ],
    );
    serves_soon(&s, pyapp, &["<title>pyapp</title>", "<h1>pyapp</h1>"]);
    // The app on its inner port, and through Apache's proxy.
    serves_soon(&s, inner, &["<title>behind</title>"]);
    serves(behind, &["<title>behind</title>", "<h1>behind</h1>"]);

    s.ok(&["stop", "pyapp"]);
    assert_eq!(s.status("pyapp"), "STOPPED");
    silent(pyapp);
    serves(site, &["A shipped static page"]);
    serves(behind, &["<h1>behind</h1>"]);

    s.ok(&["stop", "behind"]);
    assert_eq!(s.status("behind"), "STOPPED");
    silent(behind);
    silent(inner);
    serves(site, &["A shipped static page"]);
    assert_eq!(s.statename("apache2"), "RUNNING");

    s.ok(&["stop", "site"]);
    assert_eq!(s.status("site"), "STOPPED");
    assert_eq!(s.statename("apache2"), "STOPPED");
    for port in [site, pyapp, behind, inner] {
        silent(port);
    }
    assert!(s.processes_inside("python3").is_empty());

    for name in ["site", "pyapp", "behind"] {
        s.ok(&["destroy", name]);
        assert_eq!(s.status(name), "DESTROYED", "{name}");
    }
    assert_eq!(s.json(&["list"]), serde_json::json!([]));
    assert!(s.demo_names_on_disk().is_empty());
}
