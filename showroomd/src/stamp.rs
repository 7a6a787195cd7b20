//! `showroomd --stamp-output -- COMMAND…`: runs a demo's command (its sandbox) with each line it writes on stdout and stderr prefixed by its time (RFC 3339, UTC, as showroom's own log lines), so that `logs` can say when each was written: supervisord writes its children's output as it comes, with no time. It runs between supervisord and the sandbox (inside, the demo could kill it: same account), dies with supervisord (as bwrap would), and exits as the command did (128+N for a death by signal N).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The flag that runs this instead of the daemon.
pub const FLAG: &str = "--stamp-output";
/// A line longer than this is cut into stamped pieces: memory stays bounded
/// whatever a demo prints without a newline.
const MAX_LINE: u64 = 8192;

/// The demo's command wrapped by the stamper, when this binary is showroomd
/// (a test harness running showroomd's code is not); else as is.
pub fn wrap(argv: Vec<String>) -> Vec<String> {
    match std::env::current_exe() {
        Ok(exe) if is_showroomd(&exe) => {
            let mut out = vec![exe.display().to_string(), FLAG.into(), "--".into()];
            out.extend(argv);
            out
        }
        _ => argv,
    }
}

fn is_showroomd(exe: &Path) -> bool {
    exe.file_name().is_some_and(|n| n == "showroomd")
}

/// Whether a process supervisord started is the stamper (its child is then
/// the sandbox's bwrap).
pub fn is_stamper(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).nth(1) == Some(FLAG.as_bytes()))
}

/// Runs `argv` to its end, copying its output stamped; returns the exit code.
pub fn run(argv: &[String]) -> i32 {
    // supervisord killed outright takes its children along: bwrap's
    // --die-with-parent now follows this process, which follows supervisord.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let Some((program, args)) = argv.split_first() else {
        eprintln!("showroomd {FLAG}: no command to run");
        return 2;
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{} showroomd: cannot run {program}: {e}",
                crate::store::stamp_now()
            );
            return 127;
        }
    };
    let (done_tx, done) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let tx = done_tx.clone();
        std::thread::spawn(move || {
            copy_stamped(out, &mut std::io::stdout());
            let _ = tx.send(());
        });
    }
    if let Some(err) = child.stderr.take() {
        let tx = done_tx.clone();
        std::thread::spawn(move || {
            copy_stamped(err, &mut std::io::stderr());
            let _ = tx.send(());
        });
    }
    drop(done_tx);
    let status = child.wait();
    // What it wrote last, unless a child it left behind holds the pipes open.
    for _ in 0..2 {
        if done.recv_timeout(Duration::from_millis(500)).is_err() {
            break;
        }
    }
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code()
                .or_else(|| s.signal().map(|n| 128 + n))
                .unwrap_or(1)
        }
        Err(e) => {
            eprintln!(
                "{} showroomd: cannot wait for {program}: {e}",
                crate::store::stamp_now()
            );
            1
        }
    }
}

/// Copies `src` to `dst` a line at a time, each with the time it was read.
fn copy_stamped(src: impl Read, dst: &mut impl Write) {
    let mut reader = BufReader::new(src);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let stamp = crate::store::stamp_now();
        let written = dst
            .write_all(stamp.as_bytes())
            .and_then(|()| dst.write_all(b" "))
            .and_then(|()| dst.write_all(&line))
            .and_then(|()| dst.flush());
        if written.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_gets_its_time_and_a_long_one_is_cut() {
        let long = "x".repeat(MAX_LINE as usize + 10);
        let input = format!("one\ntwo\n{long}\nlast without newline");
        let mut out = Vec::new();
        copy_stamped(input.as_bytes(), &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        for l in &lines {
            let (stamp, _) = l.split_once(' ').unwrap();
            assert!(stamp.len() == 20 && stamp.ends_with('Z'), "{l}");
        }
        assert!(lines[0].ends_with(" one"));
        assert!(lines[4].ends_with(" last without newline"));
    }

    #[test]
    fn it_exits_as_the_command_did() {
        let sh = |script: &str| vec!["/bin/sh".to_string(), "-c".into(), script.into()];
        assert_eq!(run(&sh("exit 3")), 3);
        assert_eq!(run(&sh("kill -9 $$")), 137);
        assert_eq!(run(&["/nonexistent/x".to_string()]), 127);
    }

    #[test]
    fn only_showroomd_wraps() {
        assert!(is_showroomd(Path::new("/usr/bin/showroomd")));
        assert!(!is_showroomd(Path::new("/usr/bin/other")));
        assert!(!is_stamper(std::process::id() as i32));
    }
}
