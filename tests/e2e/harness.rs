//! Shared helpers: a showroom (real showroomd, real supervisord, real Apache) in a fresh temporary folder, stopped on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The release or debug folder the test binary was built into, where the real binaries are.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`; tests/run.sh does)",
        path.display()
    );
    path
}

/// Whether `tool` (a path, or a program on PATH) is there.
pub fn installed(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).is_file();
    }
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Fails loudly when a real component the suite needs is not installed.
pub fn require_tools() {
    for (tool, hint) in [
        (
            "supervisord",
            "apt-get install supervisor (or pip install supervisor)",
        ),
        ("supervisorctl", "apt-get install supervisor"),
        (
            "/usr/sbin/apache2",
            "apt-get install apache2-bin media-types",
        ),
    ] {
        assert!(
            installed(tool),
            "{tool} is required by the end-to-end suite: {hint}"
        );
    }
    assert!(
        Path::new("/etc/mime.types").is_file(),
        "/etc/mime.types is required: apt-get install media-types"
    );
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The checkout's root (where README.md and demos/ are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the checkout")
        .to_owned()
}

/// A fresh temporary folder for one test, watched by a reaper; fails
/// loudly first when a real component is missing.
pub fn test_dir(prefix: &str) -> (tempfile::TempDir, Reaper) {
    require_tools();
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    // Apache runs as www-data when the suite runs as root: it must reach the demos' files.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let reaper = Reaper::watch(dir.path());
    (dir, reaper)
}

pub struct Showroom {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub scripts: PathBuf,
    pub log: PathBuf,
    daemon: Option<Child>,
    reaper: Reaper,
}

pub struct Options {
    /// None keeps showroomd's default (20000), as the seed expects.
    pub port_min: Option<u16>,
    /// None: 99 above `port_min`.
    pub port_max: Option<u16>,
    /// Fixture scripts from `fixtures/extra` besides the seed's.
    pub extra_apps: Vec<&'static str>,
    /// Scripts shipped in the checkout's `demos/` (`static`, `pyhttp`...) besides the seed's.
    pub shipped_apps: Vec<&'static str>,
    pub extra_config: String,
    pub deploy_timeout_secs: u64,
    /// Faster than showroomd's defaults (200 ms, 30 s), so tests see changes soon.
    pub poll_moving_ms: u64,
    pub sweep_secs: u64,
    /// The front door's HTTP port; 0 (the default here, not showroomd's)
    /// keeps it off, so that tests running side by side never share one.
    pub front_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port_min: None,
            port_max: None,
            extra_apps: vec![],
            shipped_apps: vec![],
            extra_config: String::new(),
            deploy_timeout_secs: 60,
            poll_moving_ms: 100,
            sweep_secs: 3,
            front_port: 0,
        }
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Showroom {
    pub fn start(port_min: u16) -> Showroom {
        Showroom::with(Options {
            port_min: Some(port_min),
            ..Options::default()
        })
    }

    /// With fixture scripts from `fixtures/extra` besides the seed's.
    pub fn with_apps(port_min: u16, apps: &[&'static str]) -> Showroom {
        Showroom::with(Options {
            port_min: Some(port_min),
            extra_apps: apps.to_vec(),
            ..Options::default()
        })
    }

    pub fn with(opts: Options) -> Showroom {
        let (dir, reaper) = test_dir("showroom-e2e");
        let state = dir.path().join("state");
        let scripts = dir.path().join("scripts");
        std::fs::create_dir(&scripts).unwrap();
        for entry in std::fs::read_dir(fixtures().join("seed")).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, scripts.join(p.file_name().unwrap())).unwrap();
        }
        for app in &opts.extra_apps {
            let f = format!("demo_{app}.sh");
            std::fs::copy(fixtures().join("extra").join(&f), scripts.join(&f)).unwrap();
        }
        for app in &opts.shipped_apps {
            let f = format!("demo_{app}.sh");
            std::fs::copy(repo_root().join("demos").join(&f), scripts.join(&f))
                .unwrap_or_else(|e| panic!("demos/{f}: {e}"));
            // Its reconfigure step, for `clone`, when it has one.
            let r = format!("reconfigure_{app}.sh");
            if repo_root().join("demos").join(&r).is_file() {
                std::fs::copy(repo_root().join("demos").join(&r), scripts.join(&r)).unwrap();
            }
        }
        let socket = dir.path().join("showroomd.sock");
        let config = dir.path().join("showroomd.toml");
        let mut toml = format!(
            "state_dir = {:?}\nsocket = {:?}\nscripts_dir = {:?}\npoll_moving_ms = {}\nsweep_secs = {}\ndeploy_timeout_secs = {}\nshutdown_grace_secs = 5\nfront_port = {}\n",
            state, socket, scripts, opts.poll_moving_ms, opts.sweep_secs, opts.deploy_timeout_secs, opts.front_port
        );
        if let Some(p) = opts.port_min {
            let max = opts.port_max.unwrap_or(p + 99);
            toml += &format!("port_min = {p}\nport_max = {max}\n");
        }
        toml += &opts.extra_config;
        std::fs::write(&config, toml).unwrap();
        let log = dir.path().join("showroomd.log");
        let mut s = Showroom {
            dir,
            state,
            socket,
            config,
            scripts,
            log,
            daemon: None,
            reaper,
        };
        s.start_daemon();
        s
    }

    /// Starts showroomd and waits until it answers; its output goes to a file, never to the test runner's.
    pub fn start_daemon(&mut self) {
        self.start_daemon_env(&[]);
    }

    pub fn start_daemon_env(&mut self, env: &[(&str, &Path)]) {
        assert!(self.daemon.is_none(), "showroomd already started");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bin("showroomd"))
            .arg("--config")
            .arg(&self.config)
            .env("SHOWROOM_LOG", "info,showroomd=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning showroomd");
        self.daemon = Some(child);
        let t0 = Instant::now();
        loop {
            if self.ctl(&["list"]).code == 0 {
                return;
            }
            if let Some(status) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "showroomd exited with {status} at start:\n{}",
                    self.daemon_log()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "showroomd not ready in 30 s:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// SIGTERM, and waits for a clean exit; returns its exit code.
    pub fn stop_daemon(&mut self) -> Option<i32> {
        let mut child = self.daemon.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let t0 = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code();
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("showroomd did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a crash, as far as showroomd can tell.
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `limit` for showroomd to end by itself; its exit status,
    /// None while it still runs (it is then left running).
    pub fn wait_daemon_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        loop {
            let status = self.daemon.as_mut()?.try_wait().unwrap();
            if status.is_some() {
                self.daemon = None;
                return status;
            }
            if t0.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn ctl(&self, args: &[&str]) -> Out {
        Command::new(bin("showroomctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            // A set COLUMNS fits `list` to it: tests read the pipe's table.
            .env_remove("COLUMNS")
            .stdin(Stdio::null())
            .output()
            .expect("running showroomctl")
            .into()
    }

    /// Starts showroomctl in the background (`watch`, `logs --follow`, a long deploy); stopped on drop.
    pub fn spawn_ctl(&self, args: &[&str]) -> Bg {
        let mut cmd = Command::new(bin("showroomctl"));
        cmd.arg("--socket").arg(&self.socket).args(args);
        Bg::spawn(&mut cmd, Stream::Stdout)
    }

    /// Starts `showroomctl watch ARGS` and returns once showroomd has
    /// subscribed it: no event after this call can be missed.
    pub fn spawn_watch(&self, args: &[&str]) -> Bg {
        let subscribed = self.log_count("a watcher subscribed");
        let mut all = vec!["watch"];
        all.extend(args);
        let watch = self.spawn_ctl(&all);
        self.wait_for("watch to subscribe", Duration::from_secs(10), || {
            self.log_count("a watcher subscribed") > subscribed
        });
        watch
    }

    /// How many times showroomd's log has a line containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.daemon_log()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Runs showroomctl and asserts it succeeded; its stdout, trimmed.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert_eq!(
            o.code,
            0,
            "showroomctl {args:?} failed\nstdout: {}\nstderr: {}\ndaemon log tail:\n{}",
            o.stdout,
            o.stderr,
            tail(&self.daemon_log(), 30)
        );
        o.stdout.trim().to_owned()
    }

    /// Runs showroomctl and asserts it failed with exit code 1; its stderr.
    #[track_caller]
    pub fn refused(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert_eq!(
            o.code, 1,
            "showroomctl {args:?} should have been refused\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stderr
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("valid JSON")
    }

    #[track_caller]
    /// The port `list` gives a demo.
    pub fn port_of(&self, name: &str) -> u16 {
        self.listed(name)["port"].as_u64().unwrap() as u16
    }

    /// A demo as `list --json` shows it.
    #[track_caller]
    pub fn listed(&self, name: &str) -> serde_json::Value {
        self.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
            .clone()
    }

    pub fn status(&self, name: &str) -> String {
        self.ok(&["status", name])
    }

    /// The demos as `list --json` gives them, keeping the seed's four keys.
    pub fn installed(&self) -> Vec<(String, u64, String, String)> {
        self.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_owned(),
                    d["port"].as_u64().unwrap(),
                    d["status"].as_str().unwrap().to_owned(),
                    d["comment"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Plain `supervisorctl -c` on the generated config, as an operator would.
    pub fn supervisorctl(&self, args: &[&str]) -> String {
        let o = Command::new("supervisorctl")
            .arg("-c")
            .arg(self.state.join("supervisor/supervisord.conf"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running supervisorctl");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// supervisord's state name for a program (`getProcessInfo(p)['statename']`).
    pub fn statename(&self, program: &str) -> String {
        let out = self.supervisorctl(&["status", program]);
        out.split_whitespace().nth(1).unwrap_or("").to_owned()
    }

    pub fn demo_names_on_disk(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.state.join("demos"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub fn supervisord_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.state.join("supervisor/supervisord.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// supervisord dies hard (SIGKILL), and the demos' `sleep`s it orphaned are ended too.
    pub fn kill_supervisord_and_its_demos(&self) {
        let pid = self.supervisord_pid().expect("supervisord's pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        for p in self.processes_inside("sleep") {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Processes (other than supervisord) whose working folder is inside this showroom.
    pub fn processes_inside(&self, comm: &str) -> Vec<i32> {
        processes_inside(self.dir.path(), comm)
    }

    /// Polls until `f` holds, or panics after `limit` with `what`.
    #[track_caller]
    pub fn wait_for(&self, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !f() {
            assert!(
                t0.elapsed() < limit,
                "timed out waiting for {what}\ndaemon log tail:\n{}",
                tail(&self.daemon_log(), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A process running in the background (a showroomctl, a second showroomd), one of its streams read line by line; killed on drop.
pub struct Bg {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

/// Which of a background process's output streams a [`Bg`] reads; the other goes to /dev/null.
pub enum Stream {
    Stdout,
    Stderr,
}

impl Bg {
    /// Starts `cmd` in the background with no stdin, reading `read` line by
    /// line; neither stream is the test runner's. Killed on drop.
    pub fn spawn(cmd: &mut Command, read: Stream) -> Bg {
        cmd.stdin(Stdio::null());
        match read {
            Stream::Stdout => cmd.stdout(Stdio::piped()).stderr(Stdio::null()),
            Stream::Stderr => cmd.stdout(Stdio::null()).stderr(Stdio::piped()),
        };
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {:?}: {e}", cmd.get_program()));
        let out: Box<dyn Read + Send> = match read {
            Stream::Stdout => Box::new(child.stdout.take().unwrap()),
            Stream::Stderr => Box::new(child.stderr.take().unwrap()),
        };
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bg {
            child,
            lines,
            seen: vec![],
        }
    }

    /// Reads lines until one satisfies `f` (returned), or panics after `limit` with all that was seen.
    #[track_caller]
    pub fn until(&mut self, what: &str, limit: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if f(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {what} ({e:?}); seen:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for it to exit by itself and returns its exit code (None: killed by a
    /// signal); panics after `limit`, and then the drop kills it.
    #[track_caller]
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                t0.elapsed() < limit,
                "still running after {limit:?}; seen:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads what is left into `seen`, up to the end of the stream or `limit`;
    /// whether the stream ended (no process holds it open any more).
    pub fn drain(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Interrupts it as a person would (SIGINT) and returns its exit code.
    pub fn interrupt(&mut self) -> Option<i32> {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
        self.child.wait().ok()?.code()
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Alive and not a zombie (where nobody reaps, a dead daemon lingers as one).
pub fn pid_alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    kill(Pid::from_raw(pid), None).is_ok() && state != Some("Z")
}

/// Processes named `comm` (or `comm.N`: `python3.11` for `python3`; other
/// than supervisord, which runs from `/`) whose working folder is inside `root`.
pub fn processes_inside(root: &Path, comm: &str) -> Vec<i32> {
    let Ok(root) = root.canonicalize() else {
        return vec![];
    };
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let name = name.trim();
        // Debian's python3 is python3.11 (or so) by the time it runs.
        let same = name == comm || name.starts_with(&format!("{comm}."));
        if !same || !pid_alive(pid) {
            continue;
        }
        if let Ok(cwd) = std::fs::read_link(e.path().join("cwd")) {
            if cwd.starts_with(&root) {
                found.push(pid);
            }
        }
    }
    found
}

/// Stops everything a test left in its folder when the test process dies
/// without running its drops: nextest's slow-timeout terminates a hung test
/// with SIGTERM then SIGKILL, and supervisord (which daemonizes into a session
/// of its own), Apache and the demos would live on, holding the test's ports.
///
/// A small shell in a process group of its own (out of reach of the signals
/// sent to the test's group) waits for the end of a pipe the test holds; when
/// the test process is gone it kills every process whose command line names
/// the folder or whose working folder is inside it, and removes the folder.
/// A test that ends normally tells it `done` after its own teardown.
pub struct Reaper {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
}

const REAPER_SCRIPT: &str = r#"
read -r word
[ "$word" = done ] && exit 0
for round in 1 2 3; do
    pids=$( { grep -lsF -- "$REAP_ROOT/" /proc/[0-9]*/cmdline
              find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$REAP_ROOT/*" 2>/dev/null
            } | cut -d/ -f3 | sort -u | grep -vx "$$")
    [ -z "$pids" ] && break
    kill -9 $pids 2>/dev/null
    sleep 0.2
done
rm -rf -- "$REAP_ROOT"
"#;

impl Reaper {
    pub fn watch(root: &Path) -> Reaper {
        use std::os::unix::process::CommandExt;
        let root = root.canonicalize().unwrap();
        // The folder goes in the environment, not the command line, so the reaper does not find itself.
        let mut child = Command::new("bash")
            .args(["-c", REAPER_SCRIPT])
            .env("REAP_ROOT", &root)
            .current_dir("/")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning the reaper");
        let stdin = child.stdin.take();
        Reaper { child, stdin }
    }

    /// The test tore down all it started: the reaper has nothing to do.
    pub fn done(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.done();
    }
}

/// SIGTERM, up to `grace` for it to go, then SIGKILL.
pub fn terminate(pid: i32, grace: Duration) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let t0 = Instant::now();
    while pid_alive(pid) && t0.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Stops what a showroom whose daemon is already gone left running in `root`
/// (state folder `state`): supervisord (which stops Apache and the demos),
/// then Apache, then whatever still runs from inside `root`. Also for a state
/// folder the harness did not start showroomd on (demos/try.sh's).
pub fn stop_showroom_in(root: &Path, state: &Path) {
    let supervisord = std::fs::read_to_string(state.join("supervisor/supervisord.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if let Some(pid) = supervisord {
        terminate(pid, Duration::from_secs(20));
    }
    // In the sandbox Apache is PID 1 of its namespace and its pid file says 1.
    let apache_pid = std::fs::read_to_string(state.join("apache/run/apache2.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| *p > 1);
    if let Some(pid) = apache_pid {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    for comm in ["bwrap", "sleep", "apache2", "python3", "bash", "sh"] {
        for pid in processes_inside(root, comm) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    remove_cgroups(state);
}

/// Removes the demos' cgroups showroomd named in `STATE/limits/cgroups`
/// (each demo's, then their parent), once their processes are gone: every
/// test's showroom has its own, and the host would gather them.
fn remove_cgroups(state: &Path) {
    let listed = std::fs::read_to_string(state.join("limits/cgroups")).unwrap_or_default();
    for parent in listed.lines().map(Path::new) {
        let demos = std::fs::read_dir(parent).into_iter().flatten().flatten();
        for d in demos.filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            let t0 = Instant::now();
            while std::fs::remove_dir(d.path()).is_err() && t0.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir(parent);
    }
}

impl Drop for Showroom {
    /// Stops all this showroom started, pass or fail: showroomd, then
    /// supervisord (which stops Apache and the demos), then whatever is
    /// still running from inside the folder.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- showroomd log ---\n{}", tail(&self.daemon_log(), 80));
        }
        if let Some(mut child) = self.daemon.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let t0 = Instant::now();
            while child.try_wait().ok().flatten().is_none()
                && t0.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        stop_showroom_in(self.dir.path(), &self.state);
        self.reaper.done();
    }
}

/// A client fetching `/` from a port as fast as it can, one connection a request, until finished.
pub struct Hammer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<(u64, u64)>>,
}

impl Hammer {
    pub fn start(port: u16) -> Hammer {
        Hammer::by_name(port, "localhost")
    }

    /// Asks for `host` (the front door's NAME.DOMAIN[:PORT]) on `port`.
    pub fn by_name(port: u16, host: &str) -> Hammer {
        let host = host.to_owned();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, 0);
            // Bounded in count and time, on loopback only.
            let t0 = Instant::now();
            while !flag.load(std::sync::atomic::Ordering::Relaxed)
                && ok + failed < 1_000_000
                && t0.elapsed() < Duration::from_secs(300)
            {
                match http_get_host(port, &host, "/") {
                    Some((200, _)) => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
        Hammer {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops it: how many requests got a 200, and how many did not.
    pub fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Hammer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A plain HTTP GET on 127.0.0.1:port: the status code and body, or None when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_host(port, "localhost", path)
}

/// The same, asking for `host`.
pub fn http_get_host(port: u16, host: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
}

/// Opens `n` connections to showroomd's socket and holds them, idle: every
/// other one after a hello, the rest silent. A connection the daemon cannot
/// take at once (its queue full) is skipped rather than waited for.
pub async fn hold_connections(socket: &Path, n: usize) -> Vec<tokio::net::UnixStream> {
    use tokio::io::AsyncWriteExt;
    let hello = protocol::codec::encode(&protocol::Request::Hello {
        version: protocol::PROTOCOL_VERSION,
    })
    .unwrap();
    let mut frame = (hello.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&hello);
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let Ok(Ok(mut c)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::UnixStream::connect(socket),
        )
        .await
        else {
            continue;
        };
        if i % 2 == 0 {
            let _ = c.write_all(&frame).await;
        }
        held.push(c);
    }
    held
}

/// A self-signed certificate for DOMAIN and *.DOMAIN made with openssl, its
/// files `ORG.pem` and `ORG.key` in `dir`, its subject's organisation `ORG`
/// (certificates told apart on the wire).
pub fn wildcard_cert_of(dir: &Path, domain: &str, org: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{org}.pem")),
        dir.join(format!("{org}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/O={org}/CN={domain}")])
        .args([
            "-addext",
            &format!("subjectAltName=DNS:{domain},DNS:*.{domain}"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("running openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
