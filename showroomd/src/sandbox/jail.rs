//! `showroomd --jail …`: the small hidden mode a demo's process and its deploy script start in. It joins the demo's cgroups, runs the sandbox, and with a network of the demo's own, starts `pasta` on bwrap's network namespace before the demo's command may run.
//!
//! Why a mode of showroomd's own binary: the program supervisord runs must
//! be inside its cgroups before it forks anything, and the forwarder must be
//! started once the namespace exists and live and die with the demo; a shell
//! line could do neither reliably.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::Signal;

/// The descriptors bwrap is told of (`--info-fd 3 --block-fd 4`, see `Sandbox::argv`).
pub const INFO_FD: i32 = 3;
pub const BLOCK_FD: i32 = 4;
/// How long the demo waits for pasta to configure its namespace before it
/// runs anyway (a host without an IPv4 default route never gets one).
const NET_READY: Duration = Duration::from_secs(3);

/// The jail's options, as `Jail::wrap` writes them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Opts {
    cgroups: Vec<PathBuf>,
    sets: Vec<(PathBuf, String)>,
    oom_events: Option<PathBuf>,
    oom_note: Option<PathBuf>,
    oom_reason: Option<String>,
    pasta: Option<PathBuf>,
    setpriv: Option<PathBuf>,
    forward: Vec<u16>,
    argv: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_str().ok_or("an option that is not UTF-8")?;
        if a == "--" {
            o.argv = it.cloned().collect();
            break;
        }
        let v = it
            .next()
            .and_then(|v| v.to_str())
            .ok_or_else(|| format!("{a} needs a value"))?;
        match a {
            "--cgroup" => o.cgroups.push(v.into()),
            "--set" => {
                let (f, val) = v.split_once('=').ok_or("--set FILE=VALUE")?;
                o.sets.push((f.into(), val.into()));
            }
            "--oom-events" => o.oom_events = Some(v.into()),
            "--oom-note" => o.oom_note = Some(v.into()),
            "--oom-reason" => o.oom_reason = Some(v.into()),
            "--pasta" => o.pasta = Some(v.into()),
            "--setpriv" => o.setpriv = Some(v.into()),
            "--forward" => o
                .forward
                .push(v.parse().map_err(|_| format!("port {v:?}"))?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.argv.is_empty() {
        return Err("no command after --".into());
    }
    Ok(o)
}

/// Runs the jail; returns the exit code to leave with (the command's, or
/// 128 + the signal that ended it, as a shell says).
pub fn main(args: &[OsString]) -> i32 {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("showroomd --jail: {e}");
            return 2;
        }
    };
    // Dies with supervisord (or the showroomd thread of a deploy): bwrap
    // follows with --die-with-parent, pasta with its own pdeathsig.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    match run(&opts) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("showroomd --jail: {e}");
            1
        }
    }
}

fn run(o: &Opts) -> Result<i32, String> {
    for dir in &o.cgroups {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("making cgroup {}: {e}", dir.display()))?;
    }
    for (file, value) in &o.sets {
        std::fs::write(file, value).map_err(|e| format!("setting {}: {e}", file.display()))?;
    }
    let me = std::process::id().to_string();
    for dir in &o.cgroups {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, &me).map_err(|e| format!("joining {}: {e}", procs.display()))?;
    }
    let oom_before = o.oom_events.as_deref().map(oom_count);
    if let Some(note) = &o.oom_note {
        let _ = std::fs::remove_file(note);
    }
    let mut child;
    let mut pasta = None;
    if let Some(pasta_bin) = &o.pasta {
        // bwrap sets up its namespace's loopback as pasta configures the
        // namespace: now and then the two race and bwrap ends at once
        // ("loopback: Failed RTM_NEWADDR"), before the demo's command ran.
        // That try left nothing behind: the sandbox is made again.
        let mut tries = 0;
        loop {
            tries += 1;
            let (c, p) = jail_once(o, pasta_bin)?;
            match c {
                Some(c) => {
                    child = c;
                    pasta = Some(p);
                    break;
                }
                None if tries < 3 => {
                    tracing::warn!(
                        tries,
                        "bwrap ended before the demo's command ran; making its sandbox again"
                    );
                }
                None => {
                    return Err(format!(
                        "bwrap ended before the demo's command ran, {tries} times"
                    ))
                }
            }
        }
    } else {
        child = spawn(&o.argv)?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the sandbox: {e}"))?;
    if let Some(mut p) = pasta {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.id() as i32), Signal::SIGTERM);
        let _ = p.wait();
    }
    if let (Some(before), Some(events)) = (oom_before, &o.oom_events) {
        if oom_count(events) > before {
            let reason = o
                .oom_reason
                .clone()
                .unwrap_or_else(|| "out of memory".into());
            tracing::error!("{reason}: the kernel killed the demo's process");
            if let Some(note) = &o.oom_note {
                let _ = note.parent().map(std::fs::create_dir_all);
                let _ = crate::store::write_atomic(note, reason.as_bytes());
            }
        }
    }
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// One try at bwrap with pasta on its namespace: the sandbox and its
/// forwarder, or None when bwrap ended before it could be released (its
/// pasta ended too).
fn jail_once(o: &Opts, pasta_bin: &std::path::Path) -> Result<(Option<Child>, Child), String> {
    // fds 3 and 4 must be free for bwrap's pipes: hold them first, so
    // the pipes (made next) never land there.
    for fd in [INFO_FD, BLOCK_FD] {
        if fcntl(fd, FcntlArg::F_GETFD).is_err() {
            // Kept open on purpose: dup2 below replaces it.
            let _held = std::fs::File::open("/dev/null")
                .map_err(|e| format!("/dev/null: {e}"))?
                .into_raw_fd();
        }
    }
    let (info_r, info_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    let (block_r, block_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    // dup2 clears close-on-exec on the copy: bwrap inherits these two only.
    nix::unistd::dup2(info_w.as_raw_fd(), INFO_FD).map_err(|e| e.to_string())?;
    nix::unistd::dup2(block_r.as_raw_fd(), BLOCK_FD).map_err(|e| e.to_string())?;
    drop((info_w, block_r));
    let spawned = spawn(&o.argv);
    let _ = nix::unistd::close(INFO_FD);
    let _ = nix::unistd::close(BLOCK_FD);
    let mut child = spawned?;
    let mut pasta = match start_pasta(o, pasta_bin, info_r) {
        Ok(p) => p,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    // The demo's command may run now: its namespace has its uplink.
    match nix::unistd::write(&block_w, b"1") {
        Ok(_) => Ok((Some(child), pasta)),
        Err(nix::errno::Errno::EPIPE) => {
            let _ = child.wait();
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pasta.id() as i32),
                Signal::SIGTERM,
            );
            let _ = pasta.wait();
            Ok((None, pasta))
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("releasing bwrap: {e}"))
        }
    }
}

/// Waits (2 s at most) until bwrap's child `pid` has set up its namespace's
/// loopback (127.0.0.1 on `lo`, up: the namespace's local routes name it),
/// which it does as soon as its parent lets it go, and dies if that fails.
/// pasta configuring the same namespace meanwhile made it fail now and then
/// ("loopback: Failed RTM_NEWADDR"), sometimes after the release, where no
/// retry sees it: a deploy script ended 1 without having run. So pasta
/// starts once bwrap is done with the loopback.
fn wait_loopback(pid: i32) {
    let fib = format!("/proc/{pid}/net/fib_trie");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until {
        match std::fs::read_to_string(&fib) {
            Ok(t) if !t.contains("127.0.0.1") => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            // Done, or bwrap is gone: its release says so.
            _ => return,
        }
    }
    tracing::warn!(
        pid,
        "bwrap's sandbox has no loopback after 2 s: starting pasta anyway"
    );
}

fn spawn(argv: &[OsString]) -> Result<Child, String> {
    Command::new(&argv[0])
        .args(&argv[1..])
        .spawn()
        .map_err(|e| format!("running {}: {e}", argv[0].to_string_lossy()))
}

fn oom_count(events: &std::path::Path) -> u64 {
    std::fs::read_to_string(events)
        .map(|t| super::limits::oom_kills(&t))
        .unwrap_or(0)
}

/// Reads the namespace's PID 1 from bwrap's info pipe, then starts pasta on
/// its network namespace (forwarding the demo's ports from the host) and
/// waits until the namespace has its route out.
fn start_pasta(o: &Opts, pasta: &std::path::Path, info: OwnedFd) -> Result<Child, String> {
    let mut text = String::new();
    std::fs::File::from(info)
        .read_to_string(&mut text)
        .map_err(|e| format!("reading bwrap's info: {e}"))?;
    let pid: i32 = text
        .split("\"child-pid\":")
        .nth(1)
        .and_then(|r| r.trim_start().split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bwrap gave no child pid (said {text:?})"))?;
    // pasta cannot open another user's /proc/PID/ns once it dropped its
    // capabilities: it is handed the namespace open, as its own fd.
    wait_loopback(pid);
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("opening the demo's network namespace: {e}"))?
        .into_raw_fd();
    fcntl(ns, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| e.to_string())?;
    let uid = nix::unistd::geteuid().as_raw().to_string();
    let mut args: Vec<String> = vec![
        "--pdeathsig".into(),
        "KILL".into(),
        "--".into(),
        pasta.display().to_string(),
        "--foreground".into(),
        "--quiet".into(),
        "--config-net".into(),
        "--netns".into(),
        format!("/proc/self/fd/{ns}"),
        "--netns-only".into(),
        "--runas".into(),
        uid,
        // Nothing from the namespace to the host's own ports, no UDP in:
        // the demo reaches out through pasta's NAT only.
        "-T".into(),
        "none".into(),
        "-U".into(),
        "none".into(),
        "-u".into(),
        "none".into(),
    ];
    if o.forward.is_empty() {
        args.extend(["-t".into(), "none".into()]);
    }
    for p in &o.forward {
        args.extend(["-t".into(), p.to_string()]);
    }
    let setpriv = o
        .setpriv
        .clone()
        .unwrap_or_else(|| PathBuf::from(super::DEFAULT_SETPRIV));
    // pasta's own words (a warning that the host has no IPv6 route, its
    // syslog fallback) are not the demo's output: kept aside, and said
    // only when pasta fails.
    let spawned = Command::new(&setpriv)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let _ = nix::unistd::close(ns);
    let mut child = spawned.map_err(|e| format!("running {}: {e}", pasta.display()))?;
    let said = child.stderr.take().map(|err| {
        // Drained for as long as pasta runs (a pipe left unread would stop
        // it), its first 4 KiB kept.
        std::thread::spawn(move || {
            let (mut err, mut text, mut buf) = (err, Vec::new(), [0u8; 1024]);
            while let Ok(n @ 1..) = err.read(&mut buf) {
                let room = 4096usize.saturating_sub(text.len());
                text.extend_from_slice(&buf[..n.min(room)]);
            }
            String::from_utf8_lossy(&text).trim().replace('\n', "; ")
        })
    });
    let start = Instant::now();
    while start.elapsed() < NET_READY {
        if let Ok(Some(s)) = child.try_wait() {
            let words = said
                .and_then(|t| t.join().ok())
                .filter(|w| !w.is_empty())
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            return Err(format!(
                "pasta ended before the demo's network was up ({s}){words}"
            ));
        }
        if has_default_route(pid) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    tracing::warn!("the demo's network has no route out after {NET_READY:?}: it starts without");
    Ok(child)
}

/// Whether the network namespace of `pid` has an IPv4 default route: the
/// last thing pasta's `--config-net` sets up.
fn has_default_route(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/net/route")).is_ok_and(|t| {
        t.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_what_wrap_writes() {
        let o = parse(&os(&[
            "--cgroup",
            "/cg/m/d",
            "--set",
            "/cg/m/d/memory.limit_in_bytes=5",
            "--forward",
            "20000",
            "--forward",
            "30000",
            "--pasta",
            "/usr/bin/pasta",
            "--",
            "bwrap",
            "x",
        ]))
        .unwrap();
        assert_eq!(o.cgroups, vec![PathBuf::from("/cg/m/d")]);
        assert_eq!(
            o.sets,
            vec![(PathBuf::from("/cg/m/d/memory.limit_in_bytes"), "5".into())]
        );
        assert_eq!(o.forward, vec![20000, 30000]);
        assert_eq!(o.argv, os(&["bwrap", "x"]));
        assert!(parse(&os(&["--cgroup", "/x"])).is_err(), "no command");
        assert!(parse(&os(&["--bogus", "1", "--", "x"])).is_err());
    }
}
