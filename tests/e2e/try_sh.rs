//! The README's first command, `bash demos/try.sh`, run for real, kept apart
//! from the defaults: its own config, socket, state folder and log, in a
//! temporary folder; the showroomd it starts and all under it stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::frontdoor::curl;
use crate::harness::{
    bin, http_get, pid_alive, repo_root, stop_showroom_in, terminate, test_dir, Bg, Reaper, Stream,
};

/// Ports 24100-24199: no other test uses them.
const PORT_MIN: u16 = 24100;
/// The last of the test's ports, outside the demos' range below it.
const FRONT_PORT: u16 = 24199;

struct TryRun {
    dir: tempfile::TempDir,
    state: PathBuf,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    reaper: Reaper,
}

impl TryRun {
    fn new() -> TryRun {
        let (dir, reaper) = test_dir("showroom-e2e-try");
        let state = dir.path().join("state");
        let socket = dir.path().join("showroomd.sock");
        let config = dir.path().join("showroomd.toml");
        let log = dir.path().join("showroomd.log");
        std::fs::write(
            &config,
            format!(
                "state_dir = {:?}\nsocket = {:?}\nscripts_dir = {:?}\nport_min = {PORT_MIN}\nport_max = {}\npoll_moving_ms = 100\nsweep_secs = 3\nshutdown_grace_secs = 5\nfront_port = {FRONT_PORT}\n",
                state,
                socket,
                repo_root().join("demos"),
                FRONT_PORT - 1
            ),
        )
        .unwrap();
        TryRun {
            dir,
            state,
            config,
            socket,
            log,
            reaper,
        }
    }

    /// Runs `bash demos/try.sh` from the checkout, its output (both streams)
    /// read here, never the runner's; its exit code and its lines.
    fn run(&self, limit: Duration) -> (Option<i32>, Vec<String>) {
        // The folder the test binary's showroomd was built into is
        // TARGET/debug: cargo in try.sh builds (or finds fresh) the same.
        let target = bin("showroomd")
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_owned();
        let mut cmd = Command::new("bash");
        cmd.args(["-c", "exec bash demos/try.sh 2>&1"])
            .current_dir(repo_root())
            .env("SHOWROOM_CONFIG", &self.config)
            .env("SHOWROOM_SOCKET", &self.socket)
            .env("SHOWROOMD_LOG_FILE", &self.log)
            .env("CARGO_TARGET_DIR", &target);
        let mut run = Bg::spawn(&mut cmd, Stream::Stdout);
        let code = run.wait(limit);
        // All it printed; the pipe ends once it exited: the daemon it
        // started holds none of its streams.
        let ended = run.drain(Duration::from_secs(10));
        assert!(
            ended,
            "try.sh's output is still held open after it exited:\n{}",
            run.seen.join("\n")
        );
        (code, run.seen.clone())
    }

    /// The showroomd processes started with this config.
    fn daemons(&self) -> Vec<i32> {
        let config = self.config.to_string_lossy().into_owned();
        let mut found = vec![];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let has_config = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == config.as_bytes());
            if comm.trim() == "showroomd" && has_config && pid_alive(pid) {
                found.push(pid);
            }
        }
        found
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TryRun {
    /// The showroomd try.sh started (setsid, so no child of ours), then
    /// supervisord, Apache and the demo in this folder.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- showroomd log ---\n{}", self.daemon_log());
        }
        for pid in self.daemons() {
            terminate(pid, Duration::from_secs(10));
        }
        stop_showroom_in(self.dir.path(), &self.state);
        self.reaper.done();
    }
}

/// The port of the URL try.sh prints last.
fn url_port(lines: &[String]) -> u16 {
    let prefix = "The sample demo is served at: http://localhost:";
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no URL printed:\n{}", lines.join("\n")));
    line.trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("a port in {line:?}: {e}"))
}

#[test]
fn try_sh_starts_showroom_serves_the_sample_demo_and_prints_its_url() {
    let t = TryRun::new();

    // A cold start: the daemon, the demo deployed and started.
    let (code, lines) = t.run(Duration::from_secs(200));
    let all = lines.join("\n");
    assert_eq!(code, Some(0), "try.sh failed:\n{all}");
    let port = url_port(&lines);
    assert_eq!(port, PORT_MIN, "the first port of its config:\n{all}");
    match http_get(port, "/") {
        Some((200, body)) => assert!(
            body.contains("<title>Hello from showroom</title>"),
            "{body}"
        ),
        other => panic!("http://localhost:{port}/ should serve the sample demo, got {other:?}"),
    }
    // It ran on the config and state given, and said which daemon it started.
    let daemons = t.daemons();
    assert_eq!(
        daemons.len(),
        1,
        "one showroomd on this config: {daemons:?}"
    );
    assert!(
        all.contains(&format!(
            "showroomd is running (pid {}, log: {}",
            daemons[0],
            t.log.display()
        )),
        "{all}"
    );
    // And by name through the front door.
    let front = format!("http://hello.localhost:{FRONT_PORT}/");
    assert!(
        all.contains(&format!("and through the front door at: {front}")),
        "{all}"
    );
    let got = curl(&front, &[]);
    assert_eq!(got.code, 200, "{}", got.body);
    assert!(got.body.contains("<title>Hello from showroom</title>"));
    assert!(t.state.join("demos/hello/demo.conf").is_file());
    assert!(t.socket.exists());

    // Again: nothing to do but say where the demo is.
    let (code, lines) = t.run(Duration::from_secs(120));
    let again = lines.join("\n");
    assert_eq!(code, Some(0), "try.sh failed the second time:\n{again}");
    assert_eq!(url_port(&lines), port);
    assert!(!again.contains("showroomd is running"), "{again}");
    assert_eq!(t.daemons(), daemons, "the same showroomd, no second one");
    assert!(matches!(http_get(port, "/"), Some((200, _))));
}
