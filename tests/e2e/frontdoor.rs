//! The front door against a real Apache, without showroomd: config and pages rendered and staged by showroomd's own functions for stand-in demos (small python apps on ports of their own), Apache started on them, and real clients (curl, a WebSocket client, headless Chromium) reaching each demo as NAME.DOMAIN. Ports 27000-27299.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use protocol::{DemoInfo, DemoStatus};
use showroomd::frontdoor::{self, FrontDemo, FrontDoorError, Settings, Staged};
use showroomd::layout::Layout;
use showroomd::{frontdoor_server, Config};

use crate::harness::{
    fixtures, installed, tail, terminate, test_dir, wildcard_cert_of, Bg, Reaper, Stream,
};

/// Fails loudly when a tool these tests drive is missing.
pub(crate) fn require(tools: &[(&str, &str)]) {
    for (tool, package) in tools {
        let found = installed(tool);
        assert!(found, "{tool} is required by the front door's tests: apt-get install {package} (tests/setup.sh does)");
    }
}

/// A stand-in demo as showroomd would list it, with a param that must never show.
fn info(name: &str, port: u16, status: DemoStatus, comment: &str) -> DemoInfo {
    DemoInfo {
        name: name.into(),
        app: "echo".into(),
        port: Some(port),
        status,
        comment: comment.into(),
        created: 1_764_039_845,
        params: vec![("token".into(), "SECRET-TOKEN".into())],
        reason: String::new(),
        wanted: Default::default(),
        expires_at: None,
        deploy_ms: None,
        url: None,
        keep: false,
        port2: None,
        access: "open".into(),
        not_served: String::new(),
        limits: Default::default(),
    }
}

/// A config in `dir` with the front door on `front` and the demos' ports
/// just above it (showroomd refuses a front port among the demos').
fn config(dir: &Path, front: u16) -> Config {
    Config {
        state_dir: dir.join("state"),
        front_port: front,
        port_min: front + 10,
        port_max: front + 99,
        ..Config::default()
    }
}

/// A state folder with the front door's files and a real Apache serving them; all stopped on drop.
struct Front {
    dir: tempfile::TempDir,
    layout: Layout,
    cfg: Config,
    settings: Settings,
    apache: Option<Child>,
    apps: Vec<Bg>,
    reaper: Reaper,
}

impl Front {
    fn new(prefix: &str, cfg: impl FnOnce(&Path) -> Config) -> Front {
        require(&[("curl", "curl"), ("python3", "python3")]);
        let (dir, reaper) = test_dir(prefix);
        let cfg = cfg(dir.path());
        cfg.validate().expect("a valid config");
        let layout = Layout::new(&cfg.state_dir);
        layout.create_dirs().unwrap();
        // As showroomd writes it at start: the front door's own Apache.
        std::fs::write(
            layout.frontdoor_main_conf(),
            frontdoor_server::render_main(&layout, &cfg, false),
        )
        .unwrap();
        showroomd::frontdoor::install_tls(&cfg, &layout, &showroomd::sandbox::Sandbox::off(), true)
            .unwrap();
        let settings = Settings::from_config(&cfg, &layout).expect("the front door is on");
        Front {
            dir,
            layout,
            cfg,
            settings,
            apache: None,
            apps: vec![],
            reaper,
        }
    }

    /// The echo app (tests/fixtures/frontdoor/echo_app.py) as demo `name` on `port`.
    fn echo_app(&mut self, name: &str, port: u16) {
        let mut cmd = Command::new("python3");
        cmd.arg(fixtures().join("frontdoor/echo_app.py"))
            .args(["serve", &port.to_string(), name])
            .current_dir(self.dir.path());
        self.apps.push(Bg::spawn(&mut cmd, Stream::Stderr));
        wait_port(port, true);
    }

    /// A static site, `python3 -m http.server`, as demo `name` on `port`.
    fn site(&mut self, name: &str, port: u16, html: &str) {
        let www = self.dir.path().join(name);
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), html).unwrap();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&www);
        self.apps.push(Bg::spawn(&mut cmd, Stream::Stderr));
        wait_port(port, true);
    }

    /// Renders for `demos` and stages, as showroomd will on a snapshot change.
    fn stage(&self, demos: &[DemoInfo]) -> Result<Staged, FrontDoorError> {
        self.stage_with(&self.settings, demos)
    }

    fn stage_with(&self, s: &Settings, demos: &[DemoInfo]) -> Result<Staged, FrontDoorError> {
        let demos: Vec<FrontDemo> = demos.iter().map(FrontDemo::from).collect();
        let rendered = frontdoor::render(s, &demos);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let staged = rt.block_on(frontdoor::stage(
            &self.layout,
            &self.cfg,
            &showroomd::sandbox::Sandbox::off(),
            &rendered,
        ))?;
        if staged == Staged::Reload && self.apache.is_some() {
            self.reload();
            frontdoor::tidy(&self.layout, &rendered)?;
        }
        Ok(staged)
    }

    /// Apache in the foreground on showroomd's main config; waits until the front port answers.
    fn start_apache(&mut self) {
        let out = std::fs::File::create(self.dir.path().join("apache.out")).unwrap();
        let child = Command::new(&self.cfg.apache_bin)
            .arg("-f")
            .arg(self.layout.frontdoor_main_conf())
            .arg("-DFOREGROUND")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawning apache2");
        self.apache = Some(child);
        let t0 = Instant::now();
        while !port_answers(self.cfg.front_port) {
            if let Some(status) = self.apache.as_mut().unwrap().try_wait().unwrap() {
                panic!("Apache exited with {status}:\n{}", self.apache_log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "Apache not up in 15 s:\n{}",
                self.apache_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A graceful reload, as showroomd asks supervisord for one.
    fn reload(&self) {
        let pid = self.apache.as_ref().unwrap().id() as i32;
        kill(Pid::from_raw(pid), Signal::SIGUSR1).unwrap();
    }

    fn apache_log(&self) -> String {
        let out = std::fs::read_to_string(self.dir.path().join("apache.out")).unwrap_or_default();
        let err = std::fs::read_to_string(self.layout.frontdoor_logs().join("error.log"))
            .unwrap_or_default();
        format!("{out}\n{}", tail(&err, 30))
    }

    #[track_caller]
    fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !f() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "timed out waiting for {what}\n{}",
                self.apache_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- Apache ---\n{}", self.apache_log());
        }
        // SIGTERM, not SIGKILL: Apache's parent then stops its children, which hold the ports.
        if let Some(mut child) = self.apache.take() {
            terminate(child.id() as i32, Duration::from_secs(10));
            let _ = child.wait();
        }
        self.apps.clear();
        self.reaper.done();
    }
}

pub(crate) fn port_answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[track_caller]
pub(crate) fn wait_port(port: u16, up: bool) {
    let t0 = Instant::now();
    while port_answers(port) != up {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "port {port} never {}",
            if up { "answered" } else { "closed" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What curl got: the status, the body, where a redirect points.
pub(crate) struct Got {
    pub code: u16,
    pub body: String,
    pub location: String,
    /// The Retry-After header, when sent.
    pub retry_after: Option<String>,
}

/// Runs curl for real (it resolves NAME.localhost to loopback by itself).
#[track_caller]
pub(crate) fn curl(url: &str, extra: &[&str]) -> Got {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{header_json}\n%{http_code}\n%{redirect_url}",
        ])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {url} {extra:?} failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parts = text.rsplitn(3, '\n');
    let location = parts.next().unwrap_or_default().to_owned();
    let code = parts.next().unwrap_or_default().parse().unwrap_or(0);
    let rest = parts.next().unwrap_or_default();
    // %{header_json} is one JSON object, on lines of its own, after the body.
    let (body, headers) = match rest.rfind("\n{") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "{}"),
    };
    let headers: serde_json::Value = serde_json::from_str(headers).unwrap_or_default();
    Got {
        code,
        body: body.to_owned(),
        location,
        retry_after: headers["retry-after"][0].as_str().map(str::to_owned),
    }
}

/// The echo app's view of a request: its path and headers.
#[track_caller]
pub(crate) fn echoed(got: &Got) -> serde_json::Value {
    assert_eq!(got.code, 200, "{}", got.body);
    serde_json::from_str(&got.body).unwrap_or_else(|e| panic!("{e}: {}", got.body))
}

/// Runs `cmd` to its end and asserts it succeeded; its stdout.
#[track_caller]
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr), 20)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The echo app's answer to one WebSocket message through the front door.
#[track_caller]
pub(crate) fn ws_echo(port: u16, host: &str, message: &str, cafile: Option<&Path>) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(fixtures().join("frontdoor/echo_app.py")).args([
        "ws",
        &port.to_string(),
        host,
        message,
    ]);
    if let Some(ca) = cafile {
        cmd.arg(ca);
    }
    run(&mut cmd).trim().to_owned()
}

/// A 503 with the page of demo `name`, stopped: what it is, how to start it, nothing else.
#[track_caller]
pub(crate) fn assert_stopped_page(name: &str, got: &Got) {
    assert_eq!(got.code, 503, "{}", got.body);
    let what = format!("{name} is not available right now");
    assert!(got.body.contains(&what), "{}", got.body);
    assert!(got.body.contains("This demo is stopped."), "{}", got.body);
    assert!(
        !got.body.contains("showroomctl"),
        "no operator command for visitors"
    );
    assert_no_leak("the stopped page", &got.body);
}

pub(crate) fn assert_no_leak(what: &str, body: &str) {
    for leak in ["SECRET-TOKEN", "token", "/tmp/"] {
        assert!(!body.contains(leak), "{what} shows {leak:?}:\n{body}");
    }
}

/// Ports 27000-27099: the front door over HTTP.
#[test]
fn frontdoor_serves_each_demo_by_name_over_http() {
    let mut f = Front::new("showroom-e2e-frontdoor", |dir| config(dir, 27000));
    f.echo_app("app1", 27010);
    let comment = "<b>bold</b> & \"quoted\"";
    let mut demos = vec![
        info("app1", 27010, DemoStatus::Running, comment),
        info("sleepy", 27011, DemoStatus::Stopped, "resting"),
        info("later", 27012, DemoStatus::Fatal, ""),
        info("Odd.Name", 27013, DemoStatus::Running, "no host name"),
    ];
    assert_eq!(f.stage(&demos).unwrap(), Staged::Reload, "a first config");
    f.start_apache();
    assert_eq!(f.stage(&demos).unwrap(), Staged::Unchanged);

    // A running demo, by name: the app sees the original Host and the forwarding headers.
    let got = curl(
        "http://app1.localhost:27000/some/path?q=1",
        &["-H", "X-Forwarded-Proto: https"],
    );
    let seen = echoed(&got);
    assert_eq!(seen["path"], "/some/path?q=1");
    assert_eq!(seen["headers"]["host"], "app1.localhost:27000");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        seen["headers"]["x-forwarded-proto"], "http",
        "set by the front door, whatever the client claims"
    );
    assert_eq!(seen["headers"]["x-forwarded-host"], "app1.localhost:27000");
    // Its own port, as before.
    assert_eq!(echoed(&curl("http://127.0.0.1:27010/", &[]))["app"], "app1");
    // A live page: a WebSocket through the front door.
    assert_eq!(
        ws_echo(27000, "app1.localhost:27000", "hello", None),
        "echo: hello"
    );

    // Stopped and failed demos: 503 and a page that says so.
    assert_stopped_page(
        "sleepy",
        &curl("http://sleepy.localhost:27000/any/path", &[]),
    );
    let got = curl("http://later.localhost:27000/", &[]);
    assert_eq!(got.code, 503);
    assert!(
        got.body
            .contains("This demo is broken: it could not start."),
        "{}",
        got.body
    );
    assert_eq!(
        got.retry_after.as_deref(),
        Some("60"),
        "503 says when to come back"
    );

    // Unknown names, and an address instead of a name: 404 and a page that says so.
    for url in [
        "http://nosuch.localhost:27000/",
        "http://odd.name.localhost:27000/",
        "http://127.0.0.1:27000/x",
    ] {
        let got = curl(url, &[]);
        assert_eq!(got.code, 404, "{url}: {}", got.body);
        assert!(got.body.contains("No such demo"), "{url}: {}", got.body);
        assert_no_leak("the 404 page", &got.body);
    }

    // The index at the bare domain: every demo, links by name, nothing else served there.
    let got = curl("http://localhost:27000/", &[]);
    assert_eq!(got.code, 200);
    let index = got.body;
    for needle in [
        "<a href=\"http://app1.localhost:27000/\">app1</a>",
        "<a href=\"http://sleepy.localhost:27000/\">sleepy</a>",
        "<h2>Odd.Name</h2>",
        "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;",
        "<span class=\"status\">FATAL</span>",
        "name=\"viewport\"",
    ] {
        assert!(index.contains(needle), "index lacks {needle}:\n{index}");
    }
    assert_no_leak("the index", &index);
    assert_eq!(curl("http://localhost:27000/index.html", &[]).code, 200);
    for hidden in ["/404.html", "/stopped-sleepy.html", "/frontdoor.conf"] {
        let url = format!("http://localhost:27000{hidden}");
        assert_eq!(curl(&url, &[]).code, 404, "{url}");
    }

    // Demos start, stop and go while a client keeps asking a running one:
    // a demo coming or going is a tested config and a graceful reload, a
    // start or a stop only its page (it is proxied whatever its status, its
    // page the 503 when it does not answer); no request lost.
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match get_by_name(27000, "app1.localhost:27000") {
                    Ok(200) => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    f.echo_app("later", 27012);
    demos[2].status = DemoStatus::Running;
    assert_eq!(f.stage(&demos).unwrap(), Staged::PagesOnly);
    f.wait_for("later served by name", || {
        curl("http://later.localhost:27000/", &[]).code == 200
    });
    demos.remove(1);
    // Stopped, as a stop leaves it: its process gone (the last app made).
    demos[1].status = DemoStatus::Stopped;
    drop(f.apps.pop());
    wait_port(27012, false);
    assert_eq!(f.stage(&demos).unwrap(), Staged::Reload);
    f.wait_for("sleepy gone, later stopped", || {
        curl("http://sleepy.localhost:27000/", &[]).code == 404
            && curl("http://later.localhost:27000/", &[]).code == 503
    });
    for status in [
        DemoStatus::Running,
        DemoStatus::Stopped,
        DemoStatus::Running,
    ] {
        demos[1].status = status;
        assert_eq!(f.stage(&demos).unwrap(), Staged::PagesOnly);
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = hammer.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(ok > 20, "only {ok} requests went through");
    let pages: Vec<String> = std::fs::read_dir(f.layout.frontdoor_pages())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !pages.iter().any(|p| p.contains("sleepy")),
        "pages of demos gone are removed: {pages:?}"
    );
    assert!(
        pages.iter().any(|p| p.contains("later")),
        "a demo's page stays while it runs, for when it does not answer: {pages:?}"
    );

    // A comment change rewrites the index only: no reload.
    demos[0].comment = "changed".into();
    assert_eq!(f.stage(&demos).unwrap(), Staged::PagesOnly);
    assert!(curl("http://localhost:27000/", &[])
        .body
        .contains("changed"));

    // A config Apache refuses never goes live: the old one stays and serves.
    let live = std::fs::read_to_string(f.layout.frontdoor_conf()).unwrap();
    let mut bad = f.settings.clone();
    bad.tls = Some(frontdoor::Tls {
        port: 27001,
        cert: f.dir.path().join("missing.pem"),
        key: f.dir.path().join("missing.key"),
    });
    match f.stage_with(&bad, &demos) {
        Err(FrontDoorError::Apache(showroomd::apache::ApacheError::Rejected(msg))) => {
            assert!(msg.contains("SSL"), "Apache's words: {msg}")
        }
        other => panic!("expected Apache to refuse it, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(f.layout.frontdoor_conf()).unwrap(),
        live
    );
    assert!(!f.layout.frontdoor_candidate().exists());
    assert_eq!(
        echoed(&curl("http://app1.localhost:27000/", &[]))["app"],
        "app1"
    );
}

/// One plain HTTP/1.0 request to the front door naming `host`; its status.
pub(crate) fn get_by_name(port: u16, host: &str) -> Result<u16, String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line: {buf:?}"))
}

/// A self-signed certificate for DOMAIN and *.DOMAIN, made with openssl.
pub(crate) fn wildcard_cert(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    wildcard_cert_of(dir, domain, "front")
}

/// Ports 27100-27199: the front door over HTTPS. Clients accept no wildcard
/// one label below a top-level domain (`*.localhost`), so the domain here is
/// `showroom.localhost`, which curl still resolves to loopback.
#[test]
fn frontdoor_serves_https_and_redirects_http() {
    require(&[("openssl", "openssl")]);
    let mut cert_key = None;
    let mut f = Front::new("showroom-e2e-frontdoor-tls", |dir| {
        let (cert, key) = wildcard_cert(dir, "showroom.localhost");
        cert_key = Some(cert.clone());
        Config {
            domain: "showroom.localhost".into(),
            tls_port: 27101,
            tls_cert: Some(cert),
            tls_key: Some(key),
            ..config(dir, 27100)
        }
    });
    let ca = cert_key.unwrap();
    let ca_arg = ca.to_str().unwrap();
    f.echo_app("app1", 27110);
    let demos = [
        info("app1", 27110, DemoStatus::Running, "over TLS"),
        info("sleepy", 27111, DemoStatus::Exited, ""),
    ];
    assert_eq!(f.stage(&demos).unwrap(), Staged::Reload);
    f.start_apache();

    let got = curl(
        "https://app1.showroom.localhost:27101/p?q=1",
        &["--cacert", ca_arg],
    );
    let seen = echoed(&got);
    assert_eq!(seen["path"], "/p?q=1");
    assert_eq!(seen["headers"]["host"], "app1.showroom.localhost:27101");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");

    // The chain is checked for real: without the CA curl refuses it.
    let refused = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "https://app1.showroom.localhost:27101/",
        ])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(60),
        "curl: certificate not trusted"
    );

    // HTTP answers with a redirect to the same name and path over HTTPS.
    let got = curl("http://app1.showroom.localhost:27100/p?q=1", &[]);
    assert_eq!(got.code, 301, "{}", got.body);
    assert_eq!(got.location, "https://app1.showroom.localhost:27101/p?q=1");
    let got = curl("http://showroom.localhost:27100/", &[]);
    assert_eq!(got.location, "https://showroom.localhost:27101/");
    let got = curl(
        "http://app1.showroom.localhost:27100/",
        &["-L", "--cacert", ca_arg],
    );
    assert_eq!(echoed(&got)["headers"]["x-forwarded-proto"], "https");

    let got = curl("https://showroom.localhost:27101/", &["--cacert", ca_arg]);
    assert_eq!(got.code, 200);
    assert!(
        got.body
            .contains("<a href=\"https://app1.showroom.localhost:27101/\">app1</a>"),
        "{}",
        got.body
    );
    assert_no_leak("the index", &got.body);
    let got = curl(
        "https://sleepy.showroom.localhost:27101/",
        &["--cacert", ca_arg],
    );
    assert_eq!(got.code, 503);
    assert!(
        got.body
            .contains("This demo is stopped after its program ended."),
        "{}",
        got.body
    );
    let got = curl(
        "https://nosuch.showroom.localhost:27101/",
        &["--cacert", ca_arg],
    );
    assert_eq!(got.code, 404);

    assert_eq!(
        ws_echo(27101, "app1.showroom.localhost:27101", "secure", Some(&ca)),
        "echo: secure"
    );
}

/// Where test artefacts go: `TARGET/test-artefacts/frontdoor/`.
pub(crate) fn artefacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // TARGET/debug/deps/e2e-HASH
    let target = exe.ancestors().nth(3).expect("TARGET/<profile>/deps");
    let dir = target.join("test-artefacts/frontdoor");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium, its profile inside the test's folder; what it printed.
#[track_caller]
pub(crate) fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    run(Command::new("timeout")
        .args(["120", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-crash-reporter",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url))
}

/// A screenshot of `url` at a phone's width, checked to be a PNG of that size.
#[track_caller]
pub(crate) fn screenshot(profile: &Path, url: &str, file: &Path) {
    let _ = std::fs::remove_file(file);
    chromium(
        profile,
        &[
            &format!("--screenshot={}", file.display()),
            "--window-size=412,915",
            "--hide-scrollbars",
        ],
        url,
    );
    let png = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        file.display()
    );
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 412, "{} is as wide as a phone", file.display());
}

/// Ports 27200-27299: the index and a demo by name, in a real browser.
#[test]
fn frontdoor_index_renders_in_chromium() {
    require(&[("chromium", "chromium")]);
    let mut f = Front::new("showroom-e2e-frontdoor-chromium", |dir| config(dir, 27200));
    f.site(
        "hello",
        27210,
        "<!doctype html><html><head><meta name=viewport content=\"width=device-width\">\
         <title>hello</title></head><body><h1>Hello through the front door</h1></body></html>",
    );
    let demos = [
        info("hello", 27210, DemoStatus::Running, "the sample demo"),
        info(
            "resting",
            27211,
            DemoStatus::Stopped,
            "stopped for the night",
        ),
    ];
    f.stage(&demos).unwrap();
    f.start_apache();
    let profile = f.dir.path().join("chromium");

    let dom = chromium(&profile, &["--dump-dom"], "http://localhost:27200/");
    for needle in [
        "<a href=\"http://hello.localhost:27200/\">hello</a>",
        "<a href=\"http://resting.localhost:27200/\">resting</a>",
        "the sample demo",
        "<span class=\"status\">RUNNING</span>",
        "<span class=\"status\">STOPPED</span>",
    ] {
        assert!(
            dom.contains(needle),
            "the rendered index lacks {needle}:\n{dom}"
        );
    }
    // Its script ran: ages, not dates, once rendered.
    assert_eq!(dom.matches(" ago</time>").count(), 2, "{dom}");
    assert_no_leak("the rendered index", &dom);

    let dom = chromium(&profile, &["--dump-dom"], "http://hello.localhost:27200/");
    assert!(dom.contains("Hello through the front door"), "{dom}");

    let out = artefacts();
    screenshot(&profile, "http://localhost:27200/", &out.join("index.png"));
    screenshot(
        &profile,
        "http://hello.localhost:27200/",
        &out.join("demo-by-name.png"),
    );
    screenshot(
        &profile,
        "http://resting.localhost:27200/",
        &out.join("stopped.png"),
    );
}
