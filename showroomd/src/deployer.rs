//! Runs one deploy script as a job: in the demo's folder, in a process group of its own, with its output streamed and kept.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead};
use tokio_util::sync::CancellationToken;

/// How many of the last output lines a failure carries.
pub const TAIL_LINES: usize = 20;
/// Longer lines are cut: a script printing megabytes without a newline must not grow memory.
const MAX_LINE: usize = 8 * 1024;

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
        if app.is_empty() || !path.is_file() {
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
    protocol::names::validate_name(app).ok()?;
    let path = scripts_dir.join(format!("demo_{app}.sh"));
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

    fn failed(how: String, tail: Vec<String>) -> Self {
        Outcome {
            success: false,
            how,
            tail,
        }
    }
}

/// Runs the job to its end. Each output line goes to `progress` (a receiver
/// that went away is not an error) and to the job's log file.
pub async fn run(job: Job, progress: mpsc::Sender<String>, cancel: CancellationToken) -> Outcome {
    let mut log = match tokio::fs::File::create(&job.log).await {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(log = %job.log.display(), error = %e, "cannot write the deploy log");
            None
        }
    };
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
    let reader = match tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()) {
        Ok(r) => r,
        Err(e) => return Outcome::failed(format!("could not read the pipe: {e}"), vec![]),
    };
    let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), vec![], MAX_LINE);
    let mut lines = FramedRead::new(reader, codec);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);

    let deadline = tokio::time::sleep(job.timeout);
    tokio::pin!(deadline);
    let mut status = None;
    let mut ended_by: Option<String> = None;
    let mut output_open = true;
    loop {
        tokio::select! {
            line = lines.next(), if output_open => match line {
                Some(Ok(bytes)) => {
                    let text = String::from_utf8_lossy(&bytes).trim_end_matches('\r').to_owned();
                    keep(&mut tail, &mut log, &progress, text).await;
                }
                Some(Err(AnyDelimiterCodecError::MaxChunkLengthExceeded)) => {
                    keep(&mut tail, &mut log, &progress, format!("[a line longer than {MAX_LINE} bytes was cut]")).await;
                }
                // The script closed its output (`exec >file` does): it may
                // still run for long, so the deadline and the cancel still apply.
                Some(Err(_)) | None => output_open = false,
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                // Whatever the script left in the background still holds
                // its pipes: give the output a moment, then end the group.
                let grace = tokio::time::sleep(Duration::from_millis(500));
                tokio::pin!(grace);
                loop {
                    tokio::select! {
                        line = lines.next() => match line {
                            Some(Ok(bytes)) => {
                                let text = String::from_utf8_lossy(&bytes).trim_end_matches('\r').to_owned();
                                keep(&mut tail, &mut log, &progress, text).await;
                            }
                            Some(Err(_)) => {}
                            None => break,
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
    let tail: Vec<String> = tail.into();
    if let Some(how) = ended_by {
        if let Some(f) = log.as_mut() {
            let _ = f.write_all(format!("showroomd: {how}\n").as_bytes()).await;
        }
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

async fn keep(
    tail: &mut VecDeque<String>,
    log: &mut Option<tokio::fs::File>,
    progress: &mpsc::Sender<String>,
    line: String,
) {
    if let Some(f) = log.as_mut() {
        let _ = f.write_all(line.as_bytes()).await;
        let _ = f.write_all(b"\n").await;
    }
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line.clone());
    let _ = progress.send(line).await;
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
mod tests {
    use super::*;

    async fn run_script(body: &str, timeout: Duration) -> (Outcome, Vec<String>) {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("demo_x.sh");
        std::fs::write(&script, body).unwrap();
        let (tx, mut rx) = mpsc::channel(1000);
        let job = Job {
            script,
            cwd: d.path().to_owned(),
            env: vec![("PORT".into(), "20000".into())],
            timeout,
            log: d.path().join("log"),
            pgid_file: d.path().join("pgid"),
            sandbox: std::sync::Arc::new(crate::sandbox::Sandbox::off()),
        };
        let outcome = run(job, tx, CancellationToken::new()).await;
        let mut lines = vec![];
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        (outcome, lines)
    }

    #[tokio::test]
    async fn output_and_env_come_through() {
        let (o, lines) = run_script(
            "echo port=$PORT; echo oops >&2; exit 0",
            Duration::from_secs(10),
        )
        .await;
        assert!(o.success, "{o:?}");
        assert!(lines.contains(&"port=20000".to_string()));
        assert!(lines.contains(&"oops".to_string()));
    }

    #[tokio::test]
    async fn failure_keeps_the_tail() {
        let body = "for i in $(seq 1 50); do echo line $i; done; exit 3";
        let (o, _) = run_script(body, Duration::from_secs(10)).await;
        assert!(!o.success);
        assert_eq!(o.tail.len(), TAIL_LINES);
        assert_eq!(o.tail.last().unwrap(), "line 50");
        assert!(o.how.contains('3'), "{}", o.how);
    }

    /// The pids a script printed as `pid=N`.
    fn pids(lines: &[String]) -> Vec<i32> {
        let pids: Vec<i32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("pid=")?.parse().ok())
            .collect();
        assert!(!pids.is_empty(), "the script printed its pids: {lines:?}");
        pids
    }

    /// Asserts that each process is gone (or a zombie nobody reaped yet) within 2 s.
    async fn assert_gone(pids: &[i32]) {
        for pid in pids {
            let dead = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
            };
            let t0 = std::time::Instant::now();
            while !dead() {
                assert!(
                    t0.elapsed() < Duration::from_secs(2),
                    "process {pid} still runs"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    #[tokio::test]
    async fn a_script_past_its_time_is_killed_with_its_children() {
        let t0 = std::time::Instant::now();
        let body = "sleep 300 & echo pid=$!; echo pid=$$; sleep 300";
        let (o, lines) = run_script(body, Duration::from_millis(300)).await;
        assert!(!o.success);
        assert!(o.how.contains("killed"), "{}", o.how);
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_gone(&pids(&lines)).await;
    }

    #[tokio::test]
    async fn a_background_child_does_not_hold_the_job_open() {
        let t0 = std::time::Instant::now();
        let (o, lines) = run_script(
            "sleep 300 &\necho pid=$!\necho done",
            Duration::from_secs(60),
        )
        .await;
        assert!(o.success, "{o:?}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_gone(&pids(&lines)).await;
    }

    #[tokio::test]
    async fn a_script_that_closes_its_output_still_meets_its_deadline() {
        let t0 = std::time::Instant::now();
        let (o, _) = run_script(
            "echo before\nexec >/dev/null 2>&1\nsleep 300",
            Duration::from_millis(500),
        )
        .await;
        assert!(!o.success);
        assert!(o.how.contains("killed"), "{}", o.how);
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_leftover_script_is_killed_only_when_it_works_in_its_folder() {
        let d = tempfile::tempdir().unwrap();
        let demo = d.path().join("demo");
        std::fs::create_dir(&demo).unwrap();
        let spawn = |cwd: &Path| {
            std::process::Command::new("sleep")
                .arg("300")
                .current_dir(cwd)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        use std::os::unix::process::CommandExt;
        let pgid_file = d.path().join("pgid");
        // A group working elsewhere (a reused id) is left alone.
        let mut other = spawn(d.path());
        std::fs::write(&pgid_file, other.id().to_string()).unwrap();
        assert!(!kill_leftover(&pgid_file, &demo));
        assert!(other.try_wait().unwrap().is_none());
        other.kill().unwrap();
        other.wait().unwrap();
        // The script's own group goes.
        let mut script = spawn(&demo);
        std::fs::write(&pgid_file, script.id().to_string()).unwrap();
        assert!(kill_leftover(&pgid_file, &demo));
        assert!(!script.wait().unwrap().success());
        assert!(!pgid_file.exists());
    }

    #[test]
    fn params_are_read_from_the_comment() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("demo_a.sh");
        std::fs::write(&s, "#!/bin/bash\n# PARAMS: name, comment\necho\n").unwrap();
        assert_eq!(declared_params(&s), vec!["name", "comment"]);
        std::fs::write(d.path().join("demo_b.sh"), "echo\n").unwrap();
        std::fs::write(d.path().join("other.sh"), "echo\n").unwrap();
        let apps = available(d.path()).unwrap();
        assert_eq!(
            apps,
            vec![
                ("a".into(), vec!["name".into(), "comment".into()]),
                ("b".into(), vec![])
            ]
        );
        assert!(script_for(d.path(), "../x").is_none());
        assert!(script_for(d.path(), "a").is_some());
    }
}
