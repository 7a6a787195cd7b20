//! The sandboxes' processes, read from /proc: the PID 1 bwrap started, waiting until a sandbox is gone, and the strays a supervisord that is gone left behind.

use std::path::Path;

use super::Sandbox;

/// The host pid of the command a sandbox started with `as_pid_1`, given the
/// pid of bwrap (what supervisord started): bwrap does not forward signals,
/// so a reload (USR1) must go to this pid, not to bwrap, which dies of it.
pub fn main_pid(bwrap_pid: i32) -> Option<i32> {
    match children(bwrap_pid)[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// Waits until the sandbox of `bwrap_pid` (`sandbox_init`) is gone: its
/// PID 1 exits only once the kernel has ended every process in it, so that
/// a stop or a killed deploy answers only when nothing of it runs.
pub async fn wait_gone(init: Option<i32>, limit: std::time::Duration) -> bool {
    let Some(pid) = init else {
        return true;
    };
    let gone = async || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("Z")
        })
    };
    crate::wait::until(limit, std::time::Duration::from_millis(10), gone).await
}

/// The host pid of PID 1 of the sandbox bwrap `bwrap_pid` made, when the
/// sandbox is on: what `wait_gone` waits for.
pub fn sandbox_init(sandbox: &Sandbox, bwrap_pid: u32) -> Option<i32> {
    let pid = i32::try_from(bwrap_pid).ok().filter(|_| sandbox.enabled)?;
    // A demo's output stamper stands between supervisord and the rest.
    let pid = if crate::stamp::is_stamper(pid) {
        main_pid(pid)?
    } else {
        pid
    };
    // In the jail (`showroomd --jail`), bwrap is its child beside pasta.
    let bwrap = match sandbox.jail {
        Some(_) if is_jail(pid) => children(pid).into_iter().find(|c| {
            std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() == "bwrap")
        })?,
        _ => pid,
    };
    main_pid(bwrap)
}

/// Whether `pid` is a demo's jail (`showroomd --jail`), and not bwrap itself
/// (a deploy script's or Apache's sandbox has no jail).
fn is_jail(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).nth(1) == Some(&b"--jail"[..]))
}

fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// The CPU time (clock ticks) `root` and every process under it have used,
/// the children they reaped included; None when `root` is gone. A start
/// reads in it whether a demo is still booting (tree at most 256 deep and wide).
pub fn tree_cpu_ticks(root: i32) -> Option<u64> {
    let mut todo = vec![root];
    let mut seen = 0;
    let mut total = None;
    while let Some(pid) = todo.pop() {
        seen += 1;
        if seen > 256 {
            break;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After "pid (comm)": utime, stime, cutime, cstime are 11 to 14.
        let ticks: u64 = stat
            .rsplit(')')
            .next()
            .into_iter()
            .flat_map(|r| r.split_whitespace().skip(11).take(4))
            .filter_map(|t| t.parse::<u64>().ok())
            .sum();
        *total.get_or_insert(0) += ticks;
        // A thread's children are its own: every task of it is read.
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        for task in tasks.into_iter().flatten().flatten() {
            todo.extend(
                std::fs::read_to_string(task.path().join("children"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
    total
}

/// Processes left by a showroom from before the sandbox (or a supervisord
/// killed without one): those whose working folder is under `demos`, or
/// whose command line names `apache_conf`, and that descend neither from
/// `keep` (the live supervisord) nor from showroomd itself (its deploy
/// scripts and a clone's reconfigure step work in demo folders too).
pub fn strays(demos: &Path, apache_conf: &Path, keep: Option<i32>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let conf = apache_conf.as_os_str().as_encoded_bytes();
    let mut found: Vec<i32> = pids()
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let in_demos = cwd_of(pid).is_some_and(|cwd| cwd.starts_with(demos) && cwd != demos);
            let apache = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == conf));
            in_demos || apache
        })
        .filter(|&pid| keep.is_none_or(|k| !descends_from(pid, k)))
        .filter(|&pid| !descends_from(pid, me))
        .collect();
    found.sort();
    found
}

fn descends_from(mut pid: i32, ancestor: i32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent_of(pid) {
            Some(p) if p > 0 => pid = p,
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: i32) -> Option<i32> {
    proc_stat_field(pid, 1)
}

/// A numeric field of `/proc/PID/stat` counted after "pid (comm)": 0 is the
/// state, 1 the parent, 2 the process group.
pub(crate) fn proc_stat_field(pid: i32, index: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(index)?
        .parse()
        .ok()
}

/// Every process's pid, from /proc.
pub(crate) fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
}

/// A process's working folder, resolved as /proc shows it.
pub(crate) fn cwd_of(pid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}
