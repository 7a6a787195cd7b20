//! The front door through the real showroomd: demos deployed and started with showroomctl, reached by name through the shared Apache (HTTP, WebSocket, HTTPS), stopped and unknown names, the index in headless Chromium, a redeploy keeping its URL. Ports 29000-29299.

use std::path::Path;
use std::time::Duration;

use crate::frontdoor::{
    artefacts, assert_stopped_page, chromium, curl, echoed, get_by_name, require, screenshot,
    wildcard_cert, ws_echo, Got,
};
use crate::harness::{fixtures, http_get, Options, Showroom};

/// A showroom with the front door on `front` (and `tls`, with a self-signed
/// wildcard certificate for `domain`, when given), demos on the ports below
/// it, and the echo demo (tests/fixtures/frontdoor) besides the seed's apps.
fn showroom(base: u16, front: u16, extra_config: String, shipped: &[&'static str]) -> Showroom {
    require(&[("curl", "curl"), ("python3", "python3")]);
    let s = Showroom::with(Options {
        port_min: Some(base),
        port_max: Some(base + 89),
        front_port: front,
        extra_config,
        shipped_apps: shipped.to_vec(),
        ..Options::default()
    });
    for f in ["demo_echo.sh", "echo_app.py"] {
        std::fs::copy(fixtures().join("frontdoor").join(f), s.scripts.join(f)).unwrap();
    }
    s
}

/// The URL `list` gives a demo.
#[track_caller]
fn url_of(s: &Showroom, name: &str) -> String {
    let list = s.json(&["list"]);
    let d = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{name} is listed: {list}"));
    d["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has a URL: {d}"))
        .to_owned()
}

/// Polls `url` until it answers `code` (a graceful reload takes a moment to reach every worker).
#[track_caller]
pub(crate) fn answers(s: &Showroom, url: &str, code: u16, extra: &[&str]) -> Got {
    let mut last = None;
    s.wait_for(
        &format!("{url} to answer {code}"),
        Duration::from_secs(10),
        || {
            let got = curl(url, extra);
            let done = got.code == code;
            last = Some(got);
            done
        },
    );
    last.unwrap()
}

/// Ports 29000-29099: a process demo, a vhost demo and a demo with both,
/// by name; stopped and unknown names; a WebSocket; a redeploy; Apache down
/// once no demo runs.
#[test]
fn front_door_live_serves_each_kind_of_demo_by_name() {
    let front = 29099;
    let s = showroom(29000, front, String::new(), &[]);

    let out = s.ok(&["deploy", "echo", "app", "--comment", "a process"]);
    assert!(
        out.contains(&format!(
            "once started, served at http://app.localhost:{front}/"
        )),
        "{out}"
    );
    s.ok(&["deploy", "testapache", "site"]);
    s.ok(&["deploy", "test2", "both"]);
    // No demo runs: the demos' Apache is stopped (the seed's rule), and the
    // front door, an Apache of its own, answers all the same.
    assert_eq!(s.statename("apache2"), "STOPPED");
    assert_eq!(s.statename("showroom-frontdoor"), "RUNNING");
    assert_eq!(http_get(front, "/").map(|(c, _)| c), Some(200));

    let started = s.ok(&["start", "app"]);
    assert_eq!(
        started,
        format!("started app\nserved at http://app.localhost:{front}/")
    );
    assert_eq!(
        s.statename("apache2"),
        "STOPPED",
        "a process demo needs no demo Apache: the front door serves it by name"
    );
    let app = url_of(&s, "app");
    let seen = echoed(&answers(&s, &format!("{app}some/path?q=1"), 200, &[]));
    assert_eq!(seen["app"], "app");
    assert_eq!(seen["path"], "/some/path?q=1");
    assert_eq!(seen["headers"]["host"], format!("app.localhost:{front}"));
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    // Its own port as before.
    assert_eq!(
        echoed(&curl(
            &format!("http://127.0.0.1:{}/", s.port_of("app")),
            &[]
        ))["app"],
        "app"
    );
    // A live page: a WebSocket through the front door to the demo's process.
    assert_eq!(
        ws_echo(front, &format!("app.localhost:{front}"), "hello", None),
        "echo: hello"
    );

    // A vhost demo and a demo with both, by name and on their own ports.
    let json = s.json(&["start", "site"]);
    assert_eq!(json["url"], format!("http://site.localhost:{front}/"));
    s.ok(&["start", "both"]);
    let got = answers(&s, &url_of(&s, "site"), 200, &[]);
    assert_eq!(got.body.trim(), "hello from site");
    let got = answers(&s, &url_of(&s, "both"), 200, &[]);
    assert_eq!(got.body.trim(), "test2 both");
    assert_eq!(
        http_get(s.port_of("site"), "/").map(|(c, b)| (c, b.trim().to_owned())),
        Some((200, "hello from site".into()))
    );

    // `list` shows each URL.
    let table = s.ok(&["list"]);
    assert!(table.lines().next().unwrap().ends_with("URL"), "{table}");
    assert!(
        table.contains(&format!("http://both.localhost:{front}/")),
        "{table}"
    );

    // Stopped: 503 and a page that says so; unknown: 404.
    s.ok(&["stop", "app"]);
    assert_stopped_page("app", &answers(&s, &app, 503, &[]));
    let got = curl(&format!("http://nosuch.localhost:{front}/"), &[]);
    assert_eq!(got.code, 404, "{}", got.body);
    assert!(got.body.contains("No such demo"));

    // The index: every demo, linked by name.
    let got = curl(&format!("http://localhost:{front}/"), &[]);
    assert_eq!(got.code, 200);
    for name in ["app", "site", "both"] {
        let link = format!("<a href=\"http://{name}.localhost:{front}/\">{name}</a>");
        assert!(
            got.body.contains(&link),
            "index lacks {link}:\n{}",
            got.body
        );
    }
    assert!(got.body.contains("a process"));

    // Redeployed on another port (its old one taken meanwhile), same URL.
    let site = url_of(&s, "site");
    let old_port = s.port_of("site");
    s.ok(&["destroy", "site"]);
    answers(&s, &site, 404, &[]);
    s.ok(&["deploy", "testapache", "filler"]);
    assert_eq!(s.port_of("filler"), old_port, "filler took site's old port");
    s.ok(&["deploy", "testapache", "site"]);
    assert_ne!(s.port_of("site"), old_port);
    assert_eq!(url_of(&s, "site"), site);
    answers(&s, &site, 503, &[]);
    s.ok(&["start", "site"]);
    let got = answers(&s, &site, 200, &[]);
    assert_eq!(got.body.trim(), "hello from site");

    // Nothing runs any more: the demos' Apache stops, the front door answers on.
    for name in ["site", "both"] {
        s.ok(&["stop", name]);
    }
    assert_eq!(s.statename("apache2"), "STOPPED");
    assert_eq!(http_get(front, "/").map(|(c, _)| c), Some(200));
    assert_stopped_page("site", &answers(&s, &url_of(&s, "site"), 503, &[]));
    assert_eq!(
        s.log_count("the front door's new config was not put live"),
        0,
        "{}",
        s.daemon_log()
    );
}

/// Ports 29100-29199: HTTPS with a self-signed wildcard for a two-label
/// domain (clients refuse `*.localhost`), HTTP redirected, wss.
#[test]
fn front_door_live_serves_https_and_redirects_http() {
    require(&[("openssl", "openssl")]);
    let (front, tls) = (29198, 29199);
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = wildcard_cert(certs.path(), "showroom.localhost");
    let config = format!(
        "domain = \"showroom.localhost\"\ntls_port = {tls}\ntls_cert = {cert:?}\ntls_key = {key:?}\n"
    );
    let s = showroom(29100, front, config, &[]);
    let ca = cert.to_str().unwrap();

    s.ok(&["deploy", "echo", "app"]);
    let started = s.ok(&["start", "app"]);
    let url = format!("https://app.showroom.localhost:{tls}/");
    assert!(started.ends_with(&format!("served at {url}")), "{started}");
    let seen = echoed(&answers(&s, &format!("{url}p?q=1"), 200, &["--cacert", ca]));
    assert_eq!(seen["path"], "/p?q=1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert_eq!(
        seen["headers"]["host"],
        format!("app.showroom.localhost:{tls}")
    );

    let got = curl(&format!("http://app.showroom.localhost:{front}/p?q=1"), &[]);
    assert_eq!(got.code, 301, "{}", got.body);
    assert_eq!(got.location, format!("{url}p?q=1"));
    let got = curl(
        &format!("http://app.showroom.localhost:{front}/"),
        &["-L", "--cacert", ca],
    );
    assert_eq!(echoed(&got)["app"], "app");
    assert_eq!(
        ws_echo(
            tls,
            &format!("app.showroom.localhost:{tls}"),
            "secure",
            Some(Path::new(ca))
        ),
        "echo: secure"
    );
    let got = curl(
        &format!("https://showroom.localhost:{tls}/"),
        &["--cacert", ca],
    );
    assert!(
        got.body.contains(&format!("<a href=\"{url}\">app</a>")),
        "{}",
        got.body
    );
}

/// Ports 29200-29299: the index rendered by a real browser, and a demo
/// reached by its name; screenshots kept as test artefacts.
#[test]
fn front_door_live_index_in_chromium() {
    require(&[("chromium", "chromium")]);
    let front = 29299;
    let s = showroom(29200, front, String::new(), &["static"]);
    s.ok(&[
        "deploy",
        "static",
        "hello",
        "--param",
        "title=Hello through the front door",
        "--comment",
        "the sample demo",
    ]);
    s.ok(&[
        "deploy",
        "echo",
        "resting",
        "--comment",
        "stopped for the night",
    ]);
    s.ok(&["start", "hello"]);
    let hello = url_of(&s, "hello");
    answers(&s, &hello, 200, &[]);
    let profile = s.dir.path().join("chromium");

    let index = format!("http://localhost:{front}/");
    let dom = chromium(&profile, &["--dump-dom"], &index);
    for needle in [
        format!("<a href=\"http://hello.localhost:{front}/\">hello</a>"),
        format!("<a href=\"http://resting.localhost:{front}/\">resting</a>"),
        "the sample demo".into(),
        "stopped for the night".into(),
        "<span class=\"status\">RUNNING</span>".into(),
        "<span class=\"status\">STOPPED</span>".into(),
    ] {
        assert!(
            dom.contains(&needle),
            "the rendered index lacks {needle}:\n{dom}"
        );
    }
    assert_eq!(
        dom.matches(" ago</time>").count(),
        2,
        "its script ran: {dom}"
    );
    let dom = chromium(&profile, &["--dump-dom"], &hello);
    assert!(
        dom.contains("<h1>Hello through the front door</h1>"),
        "{dom}"
    );

    let out = artefacts();
    let (index_png, demo_png) = (
        out.join("showroomd-index.png"),
        out.join("showroomd-demo-by-name.png"),
    );
    screenshot(&profile, &index, &index_png);
    screenshot(&profile, &hello, &demo_png);
    eprintln!(
        "screenshots: {} and {}",
        index_png.display(),
        demo_png.display()
    );
}

/// Ports 29090-29097: a front port another program holds at showroomd's
/// start: the demos keep their own ports, `supervisor status` says who holds
/// it and `start` gives no URL; freed, it is taken within seconds.
#[test]
fn front_door_live_port_taken_is_retried_and_said() {
    let front = 29097;
    let squatter = std::net::TcpListener::bind(("0.0.0.0", front)).unwrap();
    let s = Showroom::with(Options {
        port_min: Some(29090),
        port_max: Some(29096),
        front_port: front,
        ..Options::default()
    });
    s.ok(&["deploy", "testapache", "site"]);
    let started = s.ok(&["start", "site"]);
    assert!(
        started.contains(
            "not served by name: the front door does not serve: port 29097 is held by pid"
        ),
        "{started}"
    );
    let port = s.port_of("site");
    assert_eq!(
        http_get(port, "/").map(|(c, b)| (c, b.trim().to_owned())),
        Some((200, "hello from site".into()))
    );
    let status = s.json(&["supervisor", "status"]);
    let fd = &status["front_door"];
    assert_eq!(fd["serving"], false, "{status}");
    let me = std::process::id();
    assert!(
        fd["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {me} (")),
        "{status}"
    );
    assert!(s
        .ok(&["supervisor", "status"])
        .contains("front door: not serving"));
    assert_eq!(s.listed("site")["url"], serde_json::Value::Null);

    drop(squatter);
    let t0 = std::time::Instant::now();
    s.wait_for(
        "the front door to take its port",
        Duration::from_secs(10),
        || crate::frontdoor::port_answers(front),
    );
    let got = answers(&s, &format!("http://site.localhost:{front}/"), 200, &[]);
    assert_eq!(got.body.trim(), "hello from site");
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    // Said once its Apache passed supervisord's startsecs.
    s.wait_for(
        "supervisor status to say it serves",
        Duration::from_secs(5),
        || s.json(&["supervisor", "status"])["front_door"]["serving"] == true,
    );
    assert_eq!(
        url_of(&s, "site"),
        format!("http://site.localhost:{front}/")
    );
    assert_eq!(
        s.log_count("the front door does not serve"),
        1,
        "said once, not every try"
    );
}

/// Ports 29290-29298: a vhost demo asked by name without pause while another
/// starts and stops five times (each time its vhost and the front door are
/// reloaded): no request is lost, even with the demo served by Apache itself
/// behind the front door.
#[test]
fn front_door_live_reloads_drop_no_request_by_name() {
    let front = 29298;
    let s = Showroom::with(Options {
        port_min: Some(29290),
        port_max: Some(29297),
        front_port: front,
        ..Options::default()
    });
    for name in ["steady", "mover"] {
        s.ok(&["deploy", "testapache", name]);
    }
    s.ok(&["start", "steady"]);
    let host = format!("steady.localhost:{front}");
    answers(&s, &format!("http://{host}/"), 200, &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match get_by_name(front, &host) {
                    Ok(200) => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    for _ in 0..5 {
        s.ok(&["start", "mover"]);
        s.ok(&["stop", "mover"]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = hammer.join().unwrap();
    assert!(ok > 20, "only {ok} requests went through");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
}
