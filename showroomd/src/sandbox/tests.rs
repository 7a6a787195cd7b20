//! Tests of the sandbox: the argv's shape, supervisord's reading of it, and real bubblewrap runs (which fail, never skip, without bwrap).

use super::*;
use crate::supervisor::config::supervisor_command;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NOBODY: Account = Account {
    uid: 65534,
    gid: 65534,
};

fn sandbox(hidden: Vec<PathBuf>) -> Sandbox {
    Sandbox {
        enabled: true,
        bwrap: PathBuf::from(DEFAULT_BWRAP),
        setpriv: PathBuf::from(DEFAULT_SETPRIV),
        hidden,
        run_as: nix::unistd::geteuid().is_root().then_some(NOBODY),
        jail: None,
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Where `needle` starts in `hay`, as a run of consecutive arguments.
fn find(hay: &[String], needle: &[&str]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.iter().zip(needle).all(|(a, b)| a == b))
}

#[test]
fn a_demo_sees_its_folder_at_its_own_path_after_the_state_is_covered() {
    let s = Sandbox {
        run_as: Some(NOBODY),
        ..sandbox(vec![
            "/var/lib/showroom".into(),
            "/run/showroom".into(),
            "/var/lib/showroom/supervisor".into(),
            "/var/lib/../lib/showroom/".into(),
        ])
    };
    let dir = Path::new("/var/lib/showroom/demos/a");
    let argv = s.demo_argv(dir, &strs(&["/var/lib/showroom/demos/a/start.sh"]));
    assert_eq!(argv[0], DEFAULT_SETPRIV);
    assert!(argv.contains(&"--reuid=65534".to_string()), "{argv:?}");
    let bwrap = argv.iter().position(|a| a == DEFAULT_BWRAP).unwrap();
    assert!(argv[..bwrap].contains(&"--clear-groups".to_string()));
    for flag in [
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--new-session",
        "--disable-userns",
    ] {
        assert!(argv.contains(&flag.to_string()), "{flag} in {argv:?}");
    }
    assert!(!argv.contains(&"--unshare-net".to_string()));
    let cover = find(&argv, &["--tmpfs", "/var/lib/showroom"]).unwrap();
    let bind = find(
        &argv,
        &["--bind", dir.to_str().unwrap(), dir.to_str().unwrap()],
    )
    .unwrap();
    assert!(cover < bind, "{argv:?}");
    assert!(find(&argv, &["--tmpfs", "/run/showroom"]).is_some());
    // Covered once: the inner folder and the spelled-differently one add nothing.
    assert_eq!(
        argv.iter()
            .filter(|a| a.starts_with("/var/lib/showroom") && !a.contains("demos"))
            .count(),
        2,
        "one --tmpfs and one --remount-ro: {argv:?}"
    );
    assert!(find(&argv, &["--chdir", dir.to_str().unwrap()]).is_some());
    assert_eq!(
        &argv[argv.len() - 2..],
        &strs(&["--", "/var/lib/showroom/demos/a/start.sh"])
    );
}

#[test]
fn without_the_sandbox_only_the_account_changes() {
    let mut s = sandbox(vec!["/x".into()]);
    s.enabled = false;
    s.run_as = Some(NOBODY);
    let argv = s.demo_argv(Path::new("/x/demos/a"), &strs(&["/bin/sh", "start.sh"]));
    assert_eq!(argv[0], DEFAULT_SETPRIV);
    assert!(!argv.iter().any(|a| a.contains("bwrap")));
    assert_eq!(
        &argv[argv.len() - 3..],
        &strs(&["--", "/bin/sh", "start.sh"])
    );
    s.run_as = None;
    assert_eq!(
        s.demo_argv(Path::new("/x/demos/a"), &strs(&["/bin/sh", "start.sh"])),
        strs(&["/bin/sh", "start.sh"])
    );
}

#[test]
fn the_daemon_hides_its_state_socket_and_runtime_folders() {
    let s = Sandbox::for_daemon(
        true,
        Path::new("/srv/state"),
        Path::new("/srv/sock/showroomd.sock"),
        "nobody",
    )
    .unwrap();
    assert_eq!(
        s.hidden.contains(&PathBuf::from("/run/showroom")),
        Path::new("/run/showroom").is_dir(),
        "hidden when it exists: {:?}",
        s.hidden
    );
    for p in ["/srv/state", "/srv/sock"] {
        assert!(
            s.hidden.contains(&PathBuf::from(p)),
            "{p} in {:?}",
            s.hidden
        );
    }
    assert_eq!(s.run_as.is_some(), nix::unistd::geteuid().is_root());
    assert!(s.describe().starts_with("sandbox on"));
    if nix::unistd::geteuid().is_root() {
        let e = Sandbox::for_daemon(true, Path::new("/s"), Path::new("/k/s"), "no-such-acct-x")
            .unwrap_err();
        assert!(e.to_string().contains("useradd"), "{e}");
        let e = Sandbox::for_daemon(true, Path::new("/s"), Path::new("/k/s"), "root").unwrap_err();
        assert!(matches!(e, SandboxError::RootAccount(_)), "{e}");
    }
}

/// The interpreter supervisord runs under, which has its modules.
fn supervisor_python() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v supervisord"])
        .output()
        .unwrap();
    let path = String::from_utf8(out.stdout).unwrap();
    let text = std::fs::read_to_string(path.trim()).expect("supervisord is installed");
    let shebang = text.lines().next().unwrap().trim_start_matches("#!");
    PathBuf::from(shebang.split_whitespace().next().unwrap())
}

#[test]
fn supervisord_reads_back_the_argv_it_was_given() {
    let argv = strs(&[
        "/usr/bin/bwrap",
        "--setenv",
        "HOME",
        "/state/demos/a b",
        "it's",
        "100%",
        "%(ENV_HOME)s",
        "a;b",
        "#y",
        ";z",
        "",
        "\"q\"",
        "back\\slash",
        "ünï",
    ]);
    let command = supervisor_command(&argv).unwrap();
    let section = format!("[program:x]\ncommand={command}\nautostart=false\n");
    let script = r#"
import json, shlex, sys
from supervisor.options import UnhosedConfigParser, expand
p = UnhosedConfigParser()
p.read_string(sys.stdin.read())
raw = p.get('program:x', 'command')
print(json.dumps(shlex.split(expand(raw, {'ENV_HOME': '/root'}, 'command'))))
"#;
    let mut child = Command::new(supervisor_python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(section.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let parsed: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, argv, "{command}");
    for bad in ["a\nb", "x ;y", "x #y"] {
        assert!(supervisor_command(&strs(&["ok", bad])).is_err(), "{bad:?}");
    }
}

// ---- real bubblewrap ----

fn require_bwrap() {
    assert!(
        is_executable(Path::new(DEFAULT_BWRAP)),
        "bubblewrap is missing at {DEFAULT_BWRAP}: `apt-get install bubblewrap` (tests/setup.sh does)"
    );
}

/// A state folder outside /tmp (which the sandbox covers anyway, so a test
/// there would prove nothing), with two demos and a socket folder.
struct World {
    _top: tempfile::TempDir,
    state: PathBuf,
    a: PathBuf,
    b: PathBuf,
    sock_dir: PathBuf,
    sandbox: Sandbox,
}

fn world() -> World {
    require_bwrap();
    let top = tempfile::Builder::new()
        .prefix("showroom-sbx-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let state = top.path().join("state");
    let demos = state.join("demos");
    let a = demos.join("a");
    let b = demos.join("b");
    let sock_dir = top.path().join("run");
    for d in [&a, &b, &sock_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(b.join("secret"), "b's").unwrap();
    std::fs::write(sock_dir.join("showroomd.sock"), "").unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sandbox = sandbox(vec![state.clone(), sock_dir.clone()]);
    sandbox
        .secure_state(&[&state, &demos], &[], &[], &[&sock_dir])
        .unwrap();
    sandbox.prepare_demo_dir(&a).unwrap();
    sandbox.prepare_demo_dir(&b).unwrap();
    World {
        _top: top,
        state,
        a,
        b,
        sock_dir,
        sandbox,
    }
}

fn sh(w: &World, script: &str) -> (bool, String, String) {
    let argv = w.sandbox.demo_argv(&w.a, &strs(&["/bin/sh", "-c", script]));
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_sandboxed_demo_sees_only_its_own_folder() {
    let w = world();
    let script = format!(
        "set -e; echo hi > {a}/mine; cat {a}/mine; \
         [ ! -e {b} ] && echo no-sibling; \
         [ ! -e {sock}/showroomd.sock ] && echo no-socket; \
         ls -A {state}/demos; \
         echo x > {state}/planted 2>/dev/null || echo state-read-only; \
         echo x > /etc/planted 2>/dev/null || echo host-read-only; \
         [ \"$PWD\" = {a} ] && [ \"$HOME\" = {a} ] && echo home-is-folder; \
         id -u",
        a = w.a.display(),
        b = w.b.display(),
        sock = w.sock_dir.display(),
        state = w.state.display(),
    );
    let (ok, out, err) = sh(&w, &script);
    assert!(ok, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..7],
        &[
            "hi",
            "no-sibling",
            "no-socket",
            "a",
            "state-read-only",
            "host-read-only",
            "home-is-folder"
        ],
        "{out}"
    );
    let uid = lines[7];
    if nix::unistd::geteuid().is_root() {
        assert_eq!(uid, "65534", "a demo never runs as root");
    }
    assert_eq!(std::fs::read_to_string(w.a.join("mine")).unwrap(), "hi\n");
    assert!(!w.state.join("planted").exists());
}

#[test]
fn tmp_is_private_and_proc_shows_only_the_sandbox() {
    let w = world();
    let marker = format!("showroom-sbx-{}", std::process::id());
    // A host process the sandbox must not see.
    let mut host = Command::new("sleep").arg("30").spawn().unwrap();
    let script = format!(
        "echo x > /tmp/{marker}; ls /proc | grep -c '^[0-9]'; \
         [ -e /proc/{host} ] && echo sees-host || echo no-host",
        host = host.id()
    );
    let (ok, out, err) = sh(&w, &script);
    host.kill().unwrap();
    host.wait().unwrap();
    assert!(ok, "{out}\n{err}");
    assert!(!Path::new("/tmp").join(&marker).exists());
    let mut lines = out.lines();
    let procs: u32 = lines.next().unwrap().parse().unwrap();
    assert!(procs <= 5, "{procs} processes in the sandbox's /proc");
    assert_eq!(lines.next(), Some("no-host"));
}

#[test]
fn a_sandboxed_demo_can_serve_on_loopback() {
    let w = world();
    let script = "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); print(\"bound\", s.getsockname()[1])'";
    let (ok, out, err) = sh(&w, script);
    assert!(ok && out.starts_with("bound "), "{out}\n{err}");
}

/// Host pids whose command line holds `needle` as an argument.
pub(crate) fn pids_with_arg(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == needle.as_bytes()))
        })
        .collect()
}

fn gone_within(pids: &[i32], bound: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < bound {
        if pids
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn wait_for_pids(needle: &str) -> Vec<i32> {
    let t0 = Instant::now();
    loop {
        let p = pids_with_arg(needle);
        if !p.is_empty() || t0.elapsed() > Duration::from_secs(5) {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_escaped_child_dies_when_the_sandboxs_parent_is_killed() {
    let w = world();
    // A unique duration names the child on the host.
    let secs = format!("{}.{}", 900 + std::process::id() % 97, 17);
    let argv = w.sandbox.demo_argv(
        &w.a,
        &strs(&["/bin/sh", "-c", &format!("setsid sleep {secs} & wait")]),
    );
    // The sandbox's parent stands for supervisord.
    let mut parent = Command::new("/bin/sh")
        .arg("-c")
        .arg("\"$@\"; :")
        .arg("sh")
        .args(&argv)
        .spawn()
        .unwrap();
    let pids = wait_for_pids(&secs);
    assert_eq!(pids.len(), 1, "the child started: {pids:?}");
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert!(
        gone_within(&pids, Duration::from_secs(3)),
        "the setsid child outlived its supervisor"
    );
}

#[test]
fn a_deploy_script_leaves_nothing_running() {
    let w = world();
    let script = w.state.parent().unwrap().join("demo_x.sh");
    let secs = format!("{}.{}", 800 + std::process::id() % 97, 23);
    std::fs::write(
        &script,
        format!(
            "cd /\nsetsid sleep {secs} &\necho deployed > {}/out\n",
            w.a.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let argv = w.sandbox.deploy_argv(&w.a, &script);
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(w.a.join("out")).unwrap(),
        "deployed\n"
    );
    assert!(
        gone_within(&pids_with_arg(&secs), Duration::from_secs(3)),
        "a setsid child outlived its deploy script"
    );
}

#[test]
fn a_signal_reaches_a_pid_1_command_through_main_pid() {
    let w = world();
    let spec = Spec {
        chdir: &w.a,
        rw: vec![&w.a],
        ro: vec![],
        as_pid_1: true,
        own_net: false,
        tmp_size: None,
    };
    let argv = w.sandbox.argv(
        &spec,
        &strs(&[
            "/bin/sh",
            "-c",
            "trap 'echo reloaded > got; exit 0' USR1; echo up > ready; while :; do sleep 0.05; done",
        ]),
    );
    let mut bwrap = Command::new(&argv[0]).args(&argv[1..]).spawn().unwrap();
    let t0 = Instant::now();
    while !w.a.join("ready").exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // With setpriv in front, bwrap is setpriv's exec: the same pid.
    let main = main_pid(bwrap.id() as i32).expect("bwrap has one child");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(main),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let status = bwrap.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read_to_string(w.a.join("got")).unwrap(),
        "reloaded\n"
    );
}

#[test]
fn the_probe_passes_here_and_names_what_is_missing() {
    let w = world();
    w.sandbox.probe(&w.state.join("probe")).unwrap();
    assert!(!w.state.join("probe").exists());
    let mut s = w.sandbox.clone();
    s.bwrap = PathBuf::from("/nonexistent/bwrap");
    let e = s.probe(&w.state.join("probe")).unwrap_err();
    assert!(matches!(e, SandboxError::NoBwrap(_)), "{e}");
    assert!(e.to_string().contains("bubblewrap"), "{e}");
}

/// A process that does not descend from this one: its parent shell exits at once.
fn orphan_sleep(cwd: &std::path::Path) -> i32 {
    let out = Command::new("sh")
        .args(["-c", "sleep 30 >/dev/null 2>&1 </dev/null & echo $!"])
        .current_dir(cwd)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn strays_are_found_exactly() {
    let w = world();
    let demos = w.state.join("demos");
    let conf = w.state.join("apache/apache2.conf");
    let s = orphan_sleep(&w.b);
    let e = orphan_sleep(&w.state);
    // showroomd's own children (a deploy script, a clone's reconfigure
    // step) work in demo folders too, and are never strays.
    let mut own = Command::new("sleep")
        .arg("30")
        .current_dir(&w.b)
        .spawn()
        .unwrap();
    let found = strays(&demos, &conf, None);
    let o = own.id() as i32;
    assert!(found.contains(&s), "{found:?}");
    assert!(!found.contains(&e));
    assert!(
        !found.contains(&o),
        "showroomd's own child taken for a stray"
    );
    // A live supervisord's own children are not strays.
    assert!(!strays(&demos, &conf, Some(s)).contains(&s));
    own.kill().unwrap();
    own.wait().unwrap();
    for pid in [s, e] {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
}

#[test]
fn a_busy_tree_uses_cpu_and_a_sleeping_one_does_not() {
    // A shell whose child spins, and one whose child sleeps: the spin is
    // counted through the parent (its child's time), the sleep is not.
    let spawn = |script: &str| {
        use std::os::unix::process::CommandExt;
        // A group of its own, so that its child ends with it below.
        Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let mut busy = spawn("sh -c 'while :; do :; done' & wait");
    let mut idle = spawn("sleep 30 & wait");
    std::thread::sleep(Duration::from_millis(100));
    let b0 = tree_cpu_ticks(busy.id() as i32).unwrap();
    let i0 = tree_cpu_ticks(idle.id() as i32).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let b1 = tree_cpu_ticks(busy.id() as i32).unwrap();
    let i1 = tree_cpu_ticks(idle.id() as i32).unwrap();
    for c in [&mut busy, &mut idle] {
        // Their children end with the process group.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(b1 > b0, "{b0} -> {b1}");
    assert_eq!(i1, i0);
    assert_eq!(tree_cpu_ticks(busy.id() as i32), None);
}
