//! Why a demo's process is not running: how it ended (exit status or signal), how long it ran, how many tries supervisord made, the last lines of its stderr.

use std::path::Path;

use protocol::DemoStatus;

use crate::supervisor::ProcessInfo;

/// supervisord's `startretries` for every demo: a FATAL one was tried this many times and once more.
pub const START_RETRIES: u32 = 3;
/// How much of the stderr log a failure shows: a few lines, never a flood.
pub const TAIL_LINES: usize = 5;
pub const TAIL_BYTES: u64 = 2048;

/// How a process ended. Inside the sandbox a death by signal N reaches
/// supervisord as bwrap's exit status 128+N: said as the signal.
pub fn how_it_ended(exitstatus: i32) -> String {
    match exitstatus {
        129..=192 => format!(
            "killed by {} (exit {exitstatus})",
            signal_name(exitstatus - 128)
        ),
        s if s < 0 => "killed by a signal".to_owned(),
        s => format!("exited with status {s}"),
    }
}

fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {n}"))
}

/// A duration in seconds as a person reads it.
pub fn span(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

/// A process that is not running when it should: what supervisord says of
/// its last try, and the end of its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// One line: `exited with status 3 after 0 s; supervisord gave up after 4 tries`.
    pub summary: String,
    /// The last lines of its stderr, oldest first.
    pub tail: Vec<String>,
}

impl Ending {
    /// Reads what supervisord said of a process in `state`, its own log
    /// (`sup_log`: a process that exited before `startsecs` has no exit
    /// status in `getProcessInfo`, only there) and the process's stderr log.
    pub fn read(
        info: &ProcessInfo,
        state: DemoStatus,
        sup_log: &Path,
        stderr_log: &Path,
    ) -> Ending {
        let ran = if info.start > 0 && info.stop >= info.start {
            format!(" after {}", span(info.stop - info.start))
        } else {
            String::new()
        };
        // supervisord also sets spawnerr when a process that ran exited
        // before `startsecs`: then its exit status says more.
        let spawn_failed =
            !info.spawnerr.is_empty() && !info.spawnerr.starts_with("Exited too quickly");
        let how = match state {
            DemoStatus::Exited => Some(how_it_ended(info.exitstatus)),
            _ => last_exit(sup_log, &info.name),
        };
        let ended = if !spawn_failed {
            format!("{}{ran}", how.unwrap_or_else(|| "exited".into()))
        } else {
            format!("could not be run: {}", info.spawnerr)
        };
        let summary = match state {
            DemoStatus::Fatal => format!(
                "{ended}; supervisord gave up after {} tries",
                START_RETRIES + 1
            ),
            DemoStatus::Backoff => format!("{ended}; supervisord tries again"),
            _ => ended,
        };
        // More lines than shown: showroom's own marks among them are left out.
        let (text, _) = crate::tail::last_lines(stderr_log, 2 * TAIL_LINES, TAIL_BYTES);
        Ending {
            summary,
            // The times are for `logs`; here the words matter, and showroom's marks do not.
            tail: text
                .lines()
                .map(crate::store::unstamped)
                .filter(|l| !l.trim().is_empty() && !l.starts_with("--- "))
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .take(TAIL_LINES)
                .rev()
                .collect(),
        }
    }

    /// For the REASON column and `--json`'s `reason`: one line, the summary
    /// and the last thing the process said.
    pub fn reason(&self) -> String {
        match self.tail.last() {
            Some(last) => format!("{}: {last}", self.summary),
            None => self.summary.clone(),
        }
    }

    /// For a failed start's error: the summary and the stderr lines.
    pub fn detail(&self, name: &str) -> String {
        let mut out = format!("{name} {}", self.summary);
        if !self.tail.is_empty() {
            out += "\nits last lines on stderr:";
            for l in &self.tail {
                out += &format!("\n  {l}");
            }
        }
        out
    }
}

/// How supervisord's log says `program` last exited (`exited: NAME (exit
/// status 3; not expected)`, `(terminated by SIGKILL; …)`), from its last 64 KiB.
pub fn last_exit(sup_log: &Path, program: &str) -> Option<String> {
    let (text, _) = crate::tail::last_lines(sup_log, usize::MAX, 64 * 1024);
    let needle = format!("exited: {program} (");
    let line = text.lines().rev().find(|l| l.contains(&needle))?;
    let what = line.split(&needle).nth(1)?;
    let what = what.split([';', ')']).next()?.trim();
    match what.strip_prefix("exit status ") {
        Some(n) => n.parse().ok().map(how_it_ended),
        None => Some(what.replace("terminated by", "killed by")),
    }
}

/// The last line of every failure said to an operator: where the rest is.
pub fn see_logs(name: &str) -> String {
    format!("more: showroomctl logs {name}")
}

/// Whether a status is a process that ended when it should run.
pub fn is_ended(status: DemoStatus) -> bool {
    matches!(
        status,
        DemoStatus::Fatal | DemoStatus::Backoff | DemoStatus::Exited
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(exitstatus: i32, start: i64, stop: i64) -> ProcessInfo {
        ProcessInfo {
            name: "x".into(),
            group: "x".into(),
            statename: "FATAL".into(),
            pid: 0,
            description: String::new(),
            exitstatus,
            spawnerr: String::new(),
            start,
            stop,
            now: stop,
        }
    }

    #[test]
    fn signals_inside_the_sandbox_are_named() {
        assert_eq!(how_it_ended(137), "killed by SIGKILL (exit 137)");
        assert_eq!(how_it_ended(143), "killed by SIGTERM (exit 143)");
        assert_eq!(how_it_ended(3), "exited with status 3");
        assert_eq!(how_it_ended(-1), "killed by a signal");
        let dir = tempfile::tempdir().unwrap();
        let sup = dir.path().join("supervisord.log");
        std::fs::write(
            &sup,
            "INFO exited: x (terminated by SIGKILL; not expected)\n",
        )
        .unwrap();
        assert_eq!(last_exit(&sup, "x").as_deref(), Some("killed by SIGKILL"));
        assert_eq!(last_exit(&sup, "y"), None);
    }

    #[test]
    fn an_ending_says_how_long_how_often_and_what_it_said() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.stderr.log");
        let many: String = (0..20).map(|i| format!("line {i}\n")).collect();
        std::fs::write(
            &log,
            many + "2026-12-02T05:20:01Z FATAL: DATABASE_URL is not set\n2026-12-02T05:20:02Z --- start failed ---\n",
        )
        .unwrap();
        let sup = dir.path().join("supervisord.log");
        std::fs::write(
            &sup,
            "2026-12-02 04:52:28,530 INFO spawned: 'x' with pid 12\n\
             2026-12-02 04:52:28,551 INFO exited: x (exit status 3; not expected)\n\
             2026-12-02 04:52:28,552 INFO exited: xy (exit status 9; not expected)\n",
        )
        .unwrap();
        // Exited before startsecs: getProcessInfo says 0, the log says 3.
        let e = Ending::read(&info(0, 100, 100), DemoStatus::Fatal, &sup, &log);
        assert_eq!(
            e.summary,
            "exited with status 3 after 0 s; supervisord gave up after 4 tries"
        );
        assert_eq!(e.tail.len(), TAIL_LINES);
        assert_eq!(
            e.reason(),
            "exited with status 3 after 0 s; supervisord gave up after 4 tries: FATAL: DATABASE_URL is not set"
        );
        let d = e.detail("crash1");
        assert!(d.starts_with("crash1 exited with status 3"), "{d}");
        assert!(d.ends_with("  FATAL: DATABASE_URL is not set"), "{d}");
        let none = Ending::read(
            &info(0, 0, 0),
            DemoStatus::Exited,
            &sup,
            &dir.path().join("no"),
        );
        assert_eq!(none.reason(), "exited with status 0");
    }
}
