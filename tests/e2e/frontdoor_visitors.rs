//! The front door as visitors meet it, through the real showroomd, its own Apache and headless Chromium: it answers with no demo running, passwords and address ranges per demo, forged forwarding headers dropped, requests readable with `logs --access`, a certificate swapped on disk without a restart. Ports 16000-16099.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::front_door_live::answers;
use crate::frontdoor::{artefacts, chromium, curl, echoed, require, run, screenshot};
use crate::harness::{bin, fixtures, wildcard_cert_of, Options, Showroom};

/// A showroom with the front door on `front`, demos on the ports below it,
/// the echo demo (tests/fixtures/frontdoor) besides the seed's apps.
fn showroom(base: u16, front: u16, extra_config: String) -> Showroom {
    require(&[
        ("curl", "curl"),
        ("python3", "python3"),
        ("openssl", "openssl"),
    ]);
    let s = Showroom::with(Options {
        port_min: Some(base),
        port_max: Some(base + 5),
        front_port: front,
        extra_config,
        ..Options::default()
    });
    for f in ["demo_echo.sh", "echo_app.py"] {
        std::fs::copy(fixtures().join("frontdoor").join(f), s.scripts.join(f)).unwrap();
    }
    s
}

/// Ports 16000-16009: with no demo running at all, the index, a stopped
/// demo's 503 page (for visitors: its comment, status in words, expiry,
/// the contact line) and the 404 of an unknown name answer, in Chromium too.
#[test]
fn frontdoor_answers_with_no_demo_running() {
    require(&[("chromium", "chromium")]);
    let front = 16009;
    let s = showroom(
        16000,
        front,
        "contact = \"Questions: demos@example.org\"\n".into(),
    );
    s.ok(&[
        "deploy",
        "echo",
        "resting",
        "--comment",
        "the ACME pitch",
        "--ttl",
        "3d",
    ]);
    assert_eq!(s.statename("apache2"), "STOPPED", "the seed's rule holds");
    assert_eq!(s.statename("showroom-frontdoor"), "RUNNING");

    let index = format!("http://localhost:{front}/");
    let got = curl(&index, &[]);
    assert_eq!(got.code, 200, "{}", got.body);
    assert!(got.body.contains("the ACME pitch"), "{}", got.body);
    let resting = format!("http://resting.localhost:{front}/");
    let got = curl(&resting, &[]);
    assert_eq!(got.code, 503, "{}", got.body);
    assert_eq!(got.retry_after.as_deref(), Some("60"));
    for said in [
        "resting is not available right now",
        "This demo is stopped.",
        "the ACME pitch",
        "It expires",
        "Questions: demos@example.org",
    ] {
        assert!(
            got.body.contains(said),
            "the 503 page lacks {said:?}:\n{}",
            got.body
        );
    }
    for never in ["showroomctl", "/tmp/", "PORT", "16000"] {
        assert!(
            !got.body.contains(never),
            "the 503 page shows {never:?}:\n{}",
            got.body
        );
    }
    assert_eq!(
        curl(&format!("http://nosuch.localhost:{front}/"), &[]).code,
        404
    );

    // Across a start and a stop, and with the demos' Apache never started.
    s.ok(&["start", "resting"]);
    assert_eq!(echoed(&answers(&s, &resting, 200, &[]))["app"], "resting");
    s.ok(&["stop", "resting"]);
    answers(&s, &resting, 503, &[]);
    assert_eq!(curl(&index, &[]).code, 200);

    let profile = s.dir.path().join("chromium");
    let dom = chromium(&profile, &["--dump-dom"], &resting);
    assert!(dom.contains("resting is not available right now"), "{dom}");
    let out = artefacts();
    screenshot(&profile, &index, &out.join("no-demo-running-index.png"));
    screenshot(&profile, &resting, &out.join("no-demo-running-503.png"));
}

/// `showroomctl access NAME --password USER`, the password on stdin.
fn set_password(s: &Showroom, name: &str, user: &str, password: &str) {
    let mut child = Command::new(bin("showroomctl"))
        .arg("--socket")
        .arg(&s.socket)
        .args(["access", name, "--password", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ports 16010-16019: a demo behind a password answers 401 without it and
/// 200 with it, and is left off the index; one limited to a range answers
/// 403 from outside it (127.0.0.2 as the client) and 200 from inside;
/// `--open` lifts both; no password or hash is ever shown.
#[test]
fn frontdoor_password_and_ranges_per_demo() {
    let front = 16019;
    let s = showroom(16010, front, String::new());
    for name in ["secret", "lan"] {
        s.ok(&[
            "deploy",
            "echo",
            name,
            "--comment",
            &format!("{name} comment"),
        ]);
        s.ok(&["start", name]);
    }
    let secret = format!("http://secret.localhost:{front}/");
    answers(&s, &secret, 200, &[]);

    set_password(&s, "secret", "ann", "correct horse");
    let got = answers(&s, &secret, 401, &[]);
    assert!(!got.body.contains("secret comment"));
    let got = curl(&secret, &["-u", "ann:correct horse"]);
    assert_eq!(echoed(&got)["app"], "secret");
    assert_eq!(curl(&secret, &["-u", "ann:wrong"]).code, 401);
    let listed = s.listed("secret");
    assert_eq!(listed["access"], "password", "{listed}");
    assert!(!listed.to_string().contains("$6$"), "{listed}");
    let hashes = std::fs::read_to_string(s.state.join("frontdoor/auth/secret.htpasswd")).unwrap();
    assert!(hashes.starts_with("ann:$6$") && !hashes.contains("correct horse"));
    let index = curl(&format!("http://localhost:{front}/"), &[]).body;
    assert!(
        !index.contains("secret"),
        "the index shows a protected demo:\n{index}"
    );
    assert!(index.contains("lan comment"), "{index}");

    let lan = format!("http://lan.localhost:{front}/");
    s.ok(&["access", "lan", "--allow", "10.0.0.0/8,127.0.0.1"]);
    assert_eq!(s.listed("lan")["access"], "allow");
    answers(&s, &lan, 403, &["-4", "--interface", "127.0.0.2"]);
    assert_eq!(echoed(&curl(&lan, &["-4"]))["app"], "lan");
    s.ok(&["access", "lan", "--allow", "127.0.0.2"]);
    let got = answers(&s, &lan, 200, &["-4", "--interface", "127.0.0.2"]);
    assert_eq!(echoed(&got)["headers"]["x-forwarded-for"], "127.0.0.2");
    answers(&s, &lan, 403, &["-4"]);

    let e = s.refused(&["access", "lan", "--allow", "10.0.0.0/33"]);
    assert!(e.contains("not an address range"), "{e}");
    s.ok(&["access", "secret", "--open"]);
    s.ok(&["access", "lan", "--open"]);
    answers(&s, &secret, 200, &[]);
    answers(&s, &lan, 200, &["-4", "--interface", "127.0.0.1"]);
    assert_eq!(s.listed("secret")["access"], "open");
    assert!(!s.state.join("frontdoor/auth/secret.htpasswd").exists());
}

/// Ports 16020-16029: forwarding headers a client forges never reach the
/// demo, and `logs --access` shows the request (and `--json`, one object a line).
#[test]
fn frontdoor_drops_forged_headers_and_logs_each_request() {
    let front = 16029;
    let s = showroom(16020, front, String::new());
    s.ok(&["deploy", "echo", "app"]);
    s.ok(&["start", "app"]);
    let url = format!("http://app.localhost:{front}/forged?x=1");
    let seen = echoed(&answers(
        &s,
        &url,
        200,
        &[
            "-4",
            "-H",
            "X-Forwarded-For: 6.6.6.6",
            "-H",
            "X-Real-IP: 6.6.6.6",
            "-H",
            "Forwarded: for=6.6.6.6;host=evil.example",
            "-H",
            "X-Forwarded-Host: evil.example",
            "-H",
            "X-Forwarded-Server: evil.example",
        ],
    ));
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h}");
    assert!(
        h.get("x-real-ip").is_none() && h.get("forwarded").is_none(),
        "{h}"
    );
    assert_eq!(
        h["x-forwarded-host"],
        format!("app.localhost:{front}"),
        "{h}"
    );
    assert!(
        !h.to_string().contains("evil.example") && !h.to_string().contains("6.6.6.6"),
        "{h}"
    );

    let mut text = String::new();
    s.wait_for("logs --access to show it", Duration::from_secs(10), || {
        text = s.ok(&["logs", "app", "--access"]);
        text.contains("/forged?x=1")
    });
    let line = text.lines().find(|l| l.contains("/forged?x=1")).unwrap();
    assert!(line.contains(" 127.0.0.1 GET 200 "), "{text}");
    let json = s.ok(&["logs", "app", "--access", "--json"]);
    let last: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|v: &serde_json::Value| v["path"] == "/forged?x=1")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(last["status"], 200);
    assert_eq!(last["client"], "127.0.0.1");
    assert_eq!(last["method"], "GET");
    assert!(
        last["duration_ms"].as_f64().is_some() && last["bytes"].as_u64().unwrap() > 0,
        "{last}"
    );
    let mut follow = s.spawn_ctl(&["logs", "app", "--access", "--follow", "--lines", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        curl(&format!("http://app.localhost:{front}/followed"), &["-4"]).code,
        200
    );
    follow.until(
        "--follow to show the next request",
        Duration::from_secs(10),
        |l| l.contains(" GET 200 ") && l.ends_with("/followed"),
    );
    let e = s.refused(&["logs", "nosuch", "--access"]);
    assert!(e.contains("this demo does not exist"), "{e}");
}

/// The organisation of the certificate the front door serves for `host`.
fn served_org(port: u16, host: &str) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            host,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = {
        let mut s = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut s).unwrap();
        s
    };
    let _ = child.wait();
    out.lines()
        .find_map(|l| l.strip_prefix("subject=").map(str::to_owned))
        .unwrap_or_default()
}

/// Ports 16030-16039: a certificate swapped on disk is served without a
/// restart; a key that does not match is refused (said in the log) and
/// the one before serves on; `supervisor status` names it; HTTP/2 over TLS.
#[test]
fn frontdoor_certificate_swapped_without_a_restart() {
    let (front, tls) = (16038, 16039);
    let domain = "showroom.localhost";
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("live.pem"), certs.path().join("live.key"));
    let (c1, k1) = wildcard_cert_of(certs.path(), domain, "first");
    std::fs::copy(&c1, &cert).unwrap();
    std::fs::copy(&k1, &key).unwrap();
    let s = showroom(
        16030,
        front,
        format!(
            "domain = \"{domain}\"\ntls_port = {tls}\ntls_cert = {cert:?}\ntls_key = {key:?}\n"
        ),
    );
    s.ok(&["deploy", "echo", "app"]);
    s.ok(&["start", "app"]);
    let host = format!("app.{domain}");
    assert!(
        served_org(tls, &host).contains("O = first"),
        "{}",
        served_org(tls, &host)
    );
    let version = run(Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--cacert",
        ])
        .arg(&c1)
        .arg(format!("https://{host}:{tls}/")));
    assert_eq!(version, "2", "HTTP/2 over TLS");
    let fd = s.json(&["supervisor", "status"])["front_door"].clone();
    assert_eq!(fd["serving"], true, "{fd}");
    assert!(
        fd["cert_names"]
            .to_string()
            .contains("*.showroom.localhost"),
        "{fd}"
    );
    assert!(fd["cert_expires"].is_string(), "{fd}");

    // Renewed: written over the same files, as an ACME client's hook does.
    let (c2, k2) = wildcard_cert_of(certs.path(), domain, "second");
    std::fs::copy(&k2, &key).unwrap();
    std::fs::copy(&c2, &cert).unwrap();
    s.wait_for(
        "the new certificate to be served",
        Duration::from_secs(15),
        || served_org(tls, &host).contains("O = second"),
    );
    assert_eq!(s.log_count("showroomd ready"), 1, "no restart");
    // These certificates live 2 days: within the 14 days warned of, once each.
    assert_eq!(
        s.log_count("the front door's certificate expires soon"),
        2,
        "{}",
        s.daemon_log()
    );

    // A key of another pair: refused, the second still served.
    let (_, k3) = wildcard_cert_of(certs.path(), domain, "third");
    std::fs::copy(&k3, &key).unwrap();
    s.wait_for(
        "the bad pair to be refused",
        Duration::from_secs(15),
        || s.log_count("the front door's certificate was refused") == 1,
    );
    assert!(s.daemon_log().contains("does not match the certificate"));
    std::thread::sleep(Duration::from_secs(4));
    assert!(served_org(tls, &host).contains("O = second"));
    let got = curl(
        &format!("https://{host}:{tls}/"),
        &["--cacert", c2.to_str().unwrap()],
    );
    assert_eq!(echoed(&got)["app"], "app");

    // A restart with the bad pair still on disk: refused again, the copies
    // of the second serve on.
    let mut s = s;
    s.stop_daemon();
    s.start_daemon();
    s.wait_for(
        "the bad pair to be refused again",
        Duration::from_secs(15),
        || s.log_count("the front door's certificate was refused") == 2,
    );
    assert!(served_org(tls, &host).contains("O = second"));
}

/// Ports 16040-16049: a program holding the front port on IPv6 alone
/// (`[::]:PORT`, IPV6_V6ONLY) at showroomd's start is seen and named; once
/// it lets go the front door takes the port, on IPv4 and IPv6 both.
#[test]
fn frontdoor_an_ipv6_squatter_is_seen_and_outlasted() {
    let front = 16049;
    let mut squatter = crate::harness::Bg::spawn(
        Command::new("python3").args([
            "-c",
            &format!(
                "import socket,sys,time\n\
                 s=socket.socket(socket.AF_INET6)\n\
                 s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1)\n\
                 s.bind(('::',{front}))\n\
                 s.listen()\n\
                 print('listening',flush=True)\n\
                 time.sleep(120)\n"
            ),
        ]),
        crate::harness::Stream::Stdout,
    );
    squatter.until("the squatter to listen", Duration::from_secs(10), |l| {
        l.contains("listening")
    });
    let s = showroom(16040, front, String::new());
    s.wait_for(
        "supervisor status to name the squatter",
        Duration::from_secs(10),
        || {
            let fd = s.json(&["supervisor", "status"])["front_door"].clone();
            fd["serving"] == false && fd["reason"].as_str().unwrap_or("").contains("(python3)")
        },
    );
    drop(squatter);
    s.wait_for("the front door to serve", Duration::from_secs(10), || {
        s.json(&["supervisor", "status"])["front_door"]["serving"] == true
    });
    for addr in ["127.0.0.1", "[::1]"] {
        let got = curl(
            &format!("http://{addr}:{front}/"),
            &["-H", "Host: localhost"],
        );
        assert_eq!(got.code, 200, "{addr}: {}", got.body);
    }
}
