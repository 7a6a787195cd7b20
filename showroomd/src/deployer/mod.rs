//! Runs one deploy script as a job: in the demo's folder, in a process group of its own, with its output streamed and kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use protocol::ProtocolError;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod output;
use output::{CappedLog, Output};
#[cfg(test)]
use output::{Splitter, MAX_LINE};

/// How many of the last output lines a failure carries.
pub const TAIL_LINES: usize = 20;
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

/// The text after `# KEY:` on the script's first line that has it.
fn header(script: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(script).unwrap_or_default();
    text.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix('#')?
            .trim_start()
            .strip_prefix(key)?
            .strip_prefix(':')
            .map(str::to_owned)
    })
}

/// The params of a `# PARAMS: a, b` comment line.
pub fn declared_params(script: &Path) -> Vec<String> {
    header(script, "PARAMS")
        .map(|rest| {
            rest.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Most ports an app may ask for: its own `PORT` and `PORT2`.
pub const MAX_PORTS: usize = 2;

/// How many ports the app needs, from a `# PORTS: 2` line (1 without one).
pub fn declared_ports(script: &Path) -> Result<usize, String> {
    match header(script, "PORTS") {
        None => Ok(1),
        Some(n) => match n.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PORTS).contains(&n) => Ok(n),
            _ => Err(format!(
                "{}: `# PORTS:{n}` must be 1 or {MAX_PORTS}",
                script.display()
            )),
        },
    }
}

/// How many deploy logs of a demo are kept: its last deploy's and the two before.
pub const DEPLOY_LOGS_KEPT: u32 = 3;

/// Makes room for a new deploy log: the last one becomes `NAME.log.1`,
/// that one `NAME.log.2`; older ones go.
pub fn rotate_deploy_logs(layout: &crate::layout::Layout, name: &str) {
    for n in (1..DEPLOY_LOGS_KEPT).rev() {
        let from = layout.deploy_log_nth(name, n);
        if from.exists() {
            if let Err(e) = std::fs::rename(&from, layout.deploy_log_nth(name, n + 1)) {
                tracing::warn!(log = %from.display(), error = %e, "cannot keep an earlier deploy log");
            }
        }
    }
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
    /// Where the script sees `cwd` (a redeploy's fresh folder at the demo's
    /// path); None: at its own path.
    pub seen_at: Option<PathBuf>,
    /// The demo's name and limits: the script runs in its jail, counted in its cgroups.
    pub name: String,
    pub limits: protocol::DemoLimits,
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
    let run = crate::sandbox::DemoRun {
        name: &job.name,
        limits: job.limits,
        forward: vec![],
    };
    let argv = match &job.seen_at {
        Some(at) => job
            .sandbox
            .deploy_argv_at(Some(&run), &job.cwd, at, &job.script),
        None => job
            .sandbox
            .deploy_argv_for(Some(&run), &job.cwd, &job.script),
    };
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
    let ours = crate::sandbox::pids().any(|pid| {
        process_group(pid) == Some(pgid)
            && crate::sandbox::cwd_of(pid).is_some_and(|cwd| cwd.starts_with(demo_dir))
    });
    ours && killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok()
}

fn process_group(pid: i32) -> Option<i32> {
    crate::sandbox::proc_stat_field(pid, 2)
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
mod tests;
