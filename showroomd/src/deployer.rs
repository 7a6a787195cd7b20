//! Runs one deploy script as a job: in the demo's folder, in a process group of its own, with its output streamed and kept.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use protocol::ProtocolError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How many of the last output lines a failure carries.
pub const TAIL_LINES: usize = 20;
/// Longer lines are cut (the rest of the line is read and dropped): a
/// script printing megabytes without a newline must not grow memory.
const MAX_LINE: usize = 8 * 1024;
/// How much of the pipe is read at once.
const READ_CHUNK: usize = 64 * 1024;

/// Apps offered by a scripts folder, with their declared params, sorted by name.
pub fn available(scripts_dir: &Path) -> std::io::Result<Vec<(String, Vec<String>)>> {
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(scripts_dir)? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(app) = file
            .strip_prefix("demo_")
            .and_then(|f| f.strip_suffix(".sh"))
        else {
            continue;
        };
        if !is_app_name(app) || !path.is_file() {
            continue;
        }
        apps.push((app.to_owned(), declared_params(&path)));
    }
    apps.sort();
    Ok(apps)
}

/// The script of an app, if the app exists. App names are checked like demo
/// names, so `../x` never reaches the file system.
pub fn script_for(scripts_dir: &Path, app: &str) -> Option<PathBuf> {
    if !is_app_name(app) {
        return None;
    }
    let path = scripts_dir.join(format!("demo_{app}.sh"));
    path.is_file().then_some(path)
}

/// The one rule for app names, so that `available` offers only what `deploy` accepts.
fn is_app_name(app: &str) -> bool {
    protocol::names::validate_name(app).is_ok()
}

/// The seed's words for an app without a script, and on the next lines
/// which apps the scripts folder does offer.
pub fn missing_app(scripts_dir: &Path, app: &str) -> ProtocolError {
    let dir = scripts_dir.display();
    let offered = match available(scripts_dir) {
        Ok(apps) if apps.is_empty() => format!("{dir} offers no app (no demo_APP.sh)"),
        Ok(apps) => {
            let names: Vec<&str> = apps.iter().map(|(a, _)| a.as_str()).collect();
            format!("apps in {dir}: {}", names.join(", "))
        }
        Err(e) => format!("cannot read {dir}: {e}"),
    };
    ProtocolError::not_found().with_detail(format!(
        "no app {app:?}: there is no demo_{app}.sh in {dir}\n{offered}"
    ))
}

/// The reconfigure step of an app, `reconfigure_APP.sh` beside its deploy
/// script, if it has one: a clone runs it in the copy.
pub fn reconfigure_script_for(scripts_dir: &Path, app: &str) -> Option<PathBuf> {
    protocol::names::validate_name(app).ok()?;
    let path = scripts_dir.join(format!("reconfigure_{app}.sh"));
    path.is_file().then_some(path)
}

/// The params of a `# PARAMS: a, b` comment line.
pub fn declared_params(script: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(script).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix('#')?
                .trim_start()
                .strip_prefix("PARAMS:")
        })
        .map(|rest| {
            rest.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct Job {
    pub script: PathBuf,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub log: PathBuf,
    /// The log is kept under this size, its end kept (the end explains a failure).
    pub log_max_bytes: u64,
    /// Holds the script's process group while it runs, so that a showroomd
    /// killed mid-deploy can end the script at its next start.
    pub pgid_file: PathBuf,
    /// The script runs in the demo's sandbox (`Sandbox::deploy_argv`).
    pub sandbox: std::sync::Arc<crate::sandbox::Sandbox>,
}

#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    /// How it ended, for a person: `exit status 1`, `killed after 600s`.
    pub how: String,
    /// The last lines of its output.
    pub tail: Vec<String>,
}

impl Outcome {
    /// A job that never ran because showroomd is shutting down.
    pub fn cut_short() -> Self {
        Outcome::failed("cut short: showroomd is shutting down".into(), vec![])
    }

    pub fn failed(how: String, tail: Vec<String>) -> Self {
        Outcome {
            success: false,
            how,
            tail,
        }
    }
}

/// Runs the job to its end, by its deadline whatever the script prints.
/// Each output line goes to `progress` when the receiver keeps up (lines it
/// has no room for are dropped, and it is told how many), and to the job's
/// capped log file.
pub async fn run(job: Job, progress: mpsc::Sender<String>, cancel: CancellationToken) -> Outcome {
    let log = CappedLog::create(&job.log, job.log_max_bytes).await;
    let mut out = Output::new(log, progress);
    // One pipe for both streams, so a person reads the output in the order it was written.
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Outcome::failed(format!("could not make a pipe: {e}"), vec![]),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Outcome::failed(format!("could not make a pipe: {e}"), vec![]),
    };
    // Forked from this async task's worker thread, which lives as long as
    // the runtime: bwrap's --die-with-parent follows that thread.
    let argv = job.sandbox.deploy_argv(&job.cwd, &job.script);
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(&job.cwd)
        .env_clear()
        .envs(passthrough_env())
        .envs(job.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0)
        .kill_on_drop(true);
    let spawned = cmd.spawn();
    // Our copies of the write end must go, or the reader never sees the end.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Outcome::failed(format!("could not run {}: {e}", argv[0]), vec![]),
    };
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    if let Some(pgid) = pgid {
        if let Err(e) = std::fs::write(&job.pgid_file, format!("{pgid}\n")) {
            tracing::warn!(file = %job.pgid_file.display(), error = %e, "cannot note the deploy's process group");
        }
    }
    let mut reader = match tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()) {
        Ok(r) => r,
        Err(e) => return Outcome::failed(format!("could not read the pipe: {e}"), vec![]),
    };
    let mut buf = vec![0u8; READ_CHUNK];

    let deadline = tokio::time::sleep(job.timeout);
    tokio::pin!(deadline);
    let mut status = None;
    let mut ended_by: Option<String> = None;
    let mut output_open = true;
    loop {
        tokio::select! {
            n = reader.read(&mut buf), if output_open => match n {
                Ok(n) if n > 0 => out.take(&buf[..n]).await,
                // The script closed its output (`exec >file` does): it may
                // still run for long, so the deadline and the cancel still apply.
                _ => output_open = false,
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                // Whatever the script left in the background still holds
                // its pipes: give the output a moment, then end the group.
                let grace = tokio::time::sleep(Duration::from_millis(500));
                tokio::pin!(grace);
                while output_open {
                    tokio::select! {
                        n = reader.read(&mut buf) => match n {
                            Ok(n) if n > 0 => out.take(&buf[..n]).await,
                            _ => output_open = false,
                        },
                        _ = &mut grace => break,
                    }
                }
                break;
            }
            _ = &mut deadline => {
                ended_by = Some(format!("killed after {}s", job.timeout.as_secs()));
                break;
            }
            _ = cancel.cancelled() => {
                ended_by = Some("cut short: showroomd is shutting down".into());
                break;
            }
        }
    }
    // The script's whole process group goes: a job leaves nothing running.
    // In the sandbox, a `setsid` child left the group: its PID namespace
    // goes with bwrap, and the job ends once it has.
    let init = child
        .id()
        .and_then(|id| crate::sandbox::sandbox_init(&job.sandbox, id));
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    if status.is_none() {
        status = Some(child.wait().await);
    }
    if !crate::sandbox::wait_gone(init, Duration::from_secs(5)).await {
        tracing::warn!(script = %job.script.display(), "the deploy script's sandbox outlived it by 5 s");
    }
    let _ = std::fs::remove_file(&job.pgid_file);
    let tail = out.finish(ended_by.as_deref()).await;
    if let Some(how) = ended_by {
        return Outcome::failed(how, tail);
    }
    match status.expect("set above") {
        Ok(s) if s.success() => Outcome {
            success: true,
            how: "exit status 0".into(),
            tail,
        },
        Ok(s) => Outcome::failed(s.to_string(), tail),
        Err(e) => Outcome::failed(format!("could not wait for it: {e}"), tail),
    }
}

/// Cuts raw output into lines for people: a line ends at `\n` or at `\r`
/// (a progress bar redrawn with `\r` gives one line a redraw; `\r\n` ends
/// one line), and a line is cut at [`MAX_LINE`] bytes while the rest of it
/// is still read, so no output ever stops the reading.
#[derive(Default)]
struct Splitter {
    line: Vec<u8>,
    /// Bytes of the current line past MAX_LINE, read and dropped.
    cut: usize,
    after_cr: bool,
}

impl Splitter {
    fn push(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(String)) {
        while !bytes.is_empty() {
            let end = bytes
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
                .unwrap_or(bytes.len());
            let (text, rest) = bytes.split_at(end);
            if !text.is_empty() {
                self.after_cr = false;
                let room = MAX_LINE - self.line.len();
                self.line.extend_from_slice(&text[..text.len().min(room)]);
                self.cut += text.len().saturating_sub(room);
            }
            let Some((&delim, rest)) = rest.split_first() else {
                break;
            };
            let empty = self.line.is_empty() && self.cut == 0;
            match delim {
                // The end of a `\r\n`: that line went out at its `\r`.
                b'\n' if self.after_cr && empty => {}
                b'\r' if empty => {}
                _ => emit(self.take()),
            }
            self.after_cr = delim == b'\r';
            bytes = rest;
        }
    }

    /// What is left once the output ended: a last line without a newline.
    fn finish(&mut self, emit: &mut impl FnMut(String)) {
        if !self.line.is_empty() || self.cut > 0 {
            emit(self.take());
        }
    }

    fn take(&mut self) -> String {
        let mut text = String::from_utf8_lossy(&self.line).into_owned();
        if self.cut > 0 {
            text += &format!(" [cut: {} more bytes of this line]", self.cut);
        }
        self.line.clear();
        self.cut = 0;
        text
    }
}

/// Where a job's output lines go: the last lines for the outcome, the log,
/// and the client, who gets what it has room for and never slows the job.
struct Output {
    splitter: Splitter,
    tail: VecDeque<String>,
    log: CappedLog,
    progress: mpsc::Sender<String>,
    /// Held from the start, so the final count of dropped lines always has room.
    last_word: Option<mpsc::OwnedPermit<String>>,
    dropped: u64,
}

impl Output {
    fn new(log: CappedLog, progress: mpsc::Sender<String>) -> Self {
        let last_word = progress.clone().try_reserve_owned().ok();
        Output {
            splitter: Splitter::default(),
            tail: VecDeque::with_capacity(TAIL_LINES),
            log,
            progress,
            last_word,
            dropped: 0,
        }
    }

    async fn take(&mut self, bytes: &[u8]) {
        let mut lines = Vec::new();
        self.splitter.push(bytes, &mut |l| lines.push(l));
        self.keep(lines).await;
    }

    async fn keep(&mut self, lines: Vec<String>) {
        let mut text = Vec::new();
        for line in lines {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            self.send(&line);
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(line);
        }
        self.log.write(&text).await;
    }

    fn send(&mut self, line: &str) {
        use mpsc::error::TrySendError;
        if self.dropped > 0 {
            match self.progress.try_reserve() {
                Ok(permit) => {
                    permit.send(dropped_notice(self.dropped));
                    self.dropped = 0;
                }
                Err(_) => {
                    self.dropped += 1;
                    return;
                }
            }
        }
        match self.progress.try_send(line.to_owned()) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => self.dropped += 1,
        }
    }

    /// Flushes the last line, says what the client missed, notes how the job
    /// ended in the log; returns the last lines.
    async fn finish(mut self, ended_by: Option<&str>) -> Vec<String> {
        let mut last = Vec::new();
        self.splitter.finish(&mut |l| last.push(l));
        self.keep(last).await;
        if let Some(how) = ended_by {
            self.log
                .write(format!("showroomd: {how}\n").as_bytes())
                .await;
        }
        if self.dropped > 0 {
            if let Some(permit) = self.last_word.take() {
                permit.send(dropped_notice(self.dropped));
            }
        }
        self.tail.into()
    }
}

fn dropped_notice(n: u64) -> String {
    format!("showroomd: … {n} lines dropped: this client read too slowly (the deploy log has the output)")
}

/// The deploy log, kept under `max` bytes with its end: past the limit its
/// first part is cut (a line at the top says how much), since the end is
/// what explains a failure.
struct CappedLog {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    max: u64,
    /// Bytes in the file now, and output bytes cut from its start so far.
    len: u64,
    cut: u64,
    header: u64,
}

impl CappedLog {
    async fn create(path: &Path, max: u64) -> Self {
        let file = match tokio::fs::File::create(path).await {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(log = %path.display(), error = %e, "cannot write the deploy log");
                None
            }
        };
        CappedLog {
            path: path.to_owned(),
            file,
            max: max.max(1024),
            len: 0,
            cut: 0,
            header: 0,
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        if bytes.is_empty() {
            return;
        }
        if let Err(e) = f.write_all(bytes).await {
            tracing::warn!(log = %self.path.display(), error = %e, "cannot write the deploy log");
            self.file = None;
            return;
        }
        self.len += bytes.len() as u64;
        if self.len > self.max {
            self.keep_end().await;
        }
    }

    /// Rewrites the file as a header and its last half: the cost is paid once
    /// every `max / 2` bytes, so a script printing 100 MB costs about 100 MB of writes.
    async fn keep_end(&mut self) {
        let Some(mut f) = self.file.take() else {
            return;
        };
        let _ = f.flush().await;
        drop(f);
        let path = self.path.clone();
        let (max, len, header, cut) = (self.max, self.len, self.header, self.cut);
        let done =
            tokio::task::spawn_blocking(move || keep_end(&path, max, len, header, cut)).await;
        match done {
            Ok(Ok((len, header, cut))) => {
                (self.len, self.header, self.cut) = (len, header, cut);
                match tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .await
                {
                    Ok(f) => self.file = Some(f),
                    Err(e) => {
                        tracing::warn!(log = %self.path.display(), error = %e, "cannot reopen the deploy log")
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(log = %self.path.display(), error = %e, "cannot cut the deploy log")
            }
            Err(e) => tracing::warn!(error = %e, "cutting the deploy log did not run"),
        }
    }
}

/// Keeps the last `max / 2` bytes of the log from a line start, under a
/// header saying how much output was cut. Returns (length, header length, cut).
fn keep_end(
    path: &Path,
    max: u64,
    len: u64,
    header: u64,
    cut: u64,
) -> std::io::Result<(u64, u64, u64)> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(path)?;
    let from = len.saturating_sub(max / 2).max(header);
    f.seek(SeekFrom::Start(from))?;
    let mut end = Vec::new();
    f.read_to_end(&mut end)?;
    // From the first whole line; a last line longer than the half is kept whole.
    let start = end[..end.len().saturating_sub(1)]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let end = &end[start..];
    let cut = cut + (len - header - end.len() as u64);
    let head = format!(
        "showroomd: the first {cut} bytes of this log were cut to keep it under deploy_log_max_bytes ({max}); its end follows\n"
    );
    let tmp = path.with_extension("log.tmp");
    let mut out = std::fs::File::create(&tmp)?;
    out.write_all(head.as_bytes())?;
    out.write_all(end)?;
    std::fs::rename(&tmp, path)?;
    Ok(((head.len() + end.len()) as u64, head.len() as u64, cut))
}

/// The deploy scripts' process groups noted on disk: (demo, file).
pub fn noted_groups(layout: &crate::layout::Layout) -> Vec<(String, PathBuf)> {
    let dir = layout.logs().join("deploy");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(crate::layout::DEPLOY_PGID_EXT)?
                .strip_suffix('.')?
                .to_owned();
            Some((name, path))
        })
        .collect()
}

/// Kills what is left of a deploy script whose showroomd died while it ran:
/// the process group noted in `pgid_file`, provided one of its processes
/// still works inside `demo_dir` (so a reused group id is never hit).
/// Returns true when it killed something. The file is removed either way.
pub fn kill_leftover(pgid_file: &Path, demo_dir: &Path) -> bool {
    let Some(pgid) = std::fs::read_to_string(pgid_file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
    else {
        let _ = std::fs::remove_file(pgid_file);
        return false;
    };
    let _ = std::fs::remove_file(pgid_file);
    // /proc shows working folders resolved: compare with the resolved one.
    let Ok(demo_dir) = demo_dir.canonicalize() else {
        return false;
    };
    let demo_dir = demo_dir.as_path();
    let ours = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .any(|pid| process_group(pid) == Some(pgid) && cwd_inside(pid, demo_dir));
    ours && killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok()
}

fn process_group(pid: i32) -> Option<i32> {
    crate::sandbox::proc_stat_field(pid, 2)
}

fn cwd_inside(pid: i32, dir: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
}

/// The few variables of showroomd's own environment a script may need.
fn passthrough_env() -> Vec<(String, String)> {
    [
        "PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "USER", "LOGNAME",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
    .collect()
}

#[cfg(test)]
#[path = "deployer_tests.rs"]
mod tests;
