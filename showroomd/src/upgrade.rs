//! The state folder's format (`STATE/FORMAT`): a newer one is refused before anything changes, an older one (or a folder moved elsewhere) is taken over, and the log says what was done.
//!
//! Formats: 1, per-demo include files with the record in `demos/NAME/demo.conf`
//! (no wanted state, Apache as `www-data`, demos unsandboxed as root);
//! 2, `records/` and one `programs.conf`, without a `FORMAT` file; 3, this one.

use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use tracing::{info, warn};

use crate::layout::Layout;
use crate::sandbox::Sandbox;
use crate::store;
use crate::supervisor::Supervisor;

/// The format this showroomd writes, and the newest it reads.
pub const FORMAT: u32 = 3;

/// Files of a demo rewritten when its folder moved: what showroom runs and
/// what Apache includes. Larger files are left alone (and named in the log).
const REWRITTEN: [&str; 2] = ["start.sh", "apache2.conf"];
const MAX_REWRITE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "the state folder {dir} is format {found}, written by a newer showroomd; this showroomd \
         ({version}) reads formats up to {FORMAT}. Nothing was changed: run the newer showroomd, \
         or give this one another state folder"
    )]
    Newer {
        dir: PathBuf,
        found: u32,
        version: &'static str,
    },
    #[error("{path} holds {text:?}, not a format number; nothing was changed")]
    Unreadable { path: PathBuf, text: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a state folder is, as found before showroomd changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Nothing of showroom's yet.
    Fresh,
    /// Written by a showroomd of this format.
    Current,
    /// Written by an earlier layout, by number.
    Older(u32),
}

fn describe(format: u32) -> &'static str {
    match format {
        1 => "per-demo include files, records in demo.conf",
        2 => "records/ and one programs.conf",
        _ => "FORMAT, records/ and one programs.conf",
    }
}

/// Reads the folder's format; a newer one is an error that names both.
pub fn check(layout: &Layout) -> Result<Found, FormatError> {
    let path = layout.format_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: u32 = text.trim().parse().map_err(|_| FormatError::Unreadable {
                path: path.clone(),
                text: text.clone(),
            })?;
            if found > FORMAT {
                return Err(FormatError::Newer {
                    dir: layout.root().to_owned(),
                    found,
                    version: env!("CARGO_PKG_VERSION"),
                });
            }
            Ok(if found == FORMAT {
                Found::Current
            } else {
                Found::Older(found)
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(if layout.records().is_dir() {
            Found::Older(2)
        } else if std::fs::read_dir(layout.demos()).is_ok_and(|mut d| d.next().is_some()) {
            Found::Older(1)
        } else {
            Found::Fresh
        }),
        Err(source) => Err(FormatError::Io { path, source }),
    }
}

/// Marks the folder as this format, once showroomd has taken it over.
pub fn write(layout: &Layout) -> Result<(), store::StoreError> {
    store::write_if_changed(&layout.format_file(), &format!("{FORMAT}\n")).map(drop)
}

/// The state folder a previous showroomd ran on, as its generated
/// supervisord config names it (every format has one).
fn previous_root(layout: &Layout) -> Option<PathBuf> {
    let conf = std::fs::read_to_string(layout.supervisord_conf()).ok()?;
    conf.lines().find_map(|l| {
        let root = l
            .trim()
            .strip_prefix("file=")?
            .strip_suffix("/supervisor/supervisor.sock")?;
        Some(PathBuf::from(root))
    })
}

/// Takes over a folder of an earlier format or moved from elsewhere,
/// before the actor reads it; logs what it did.
pub async fn take_over(layout: &Layout, sandbox: &Sandbox, found: Found) -> anyhow::Result<()> {
    let mut done = Vec::new();
    if let Some(old) = previous_root(layout).filter(|old| old != layout.root()) {
        done.extend(relocate(layout, &old));
    }
    if let Found::Older(from) = found {
        let sup = Supervisor::new(layout.supervisor_socket());
        let live = tokio::time::timeout(Duration::from_secs(5), sup.all_process_info())
            .await
            .ok()
            .and_then(Result::ok);
        if from < 2 {
            done.push(wanted_from_before(layout, live.as_deref())?);
        }
        if let Some(a) = &sandbox.run_as {
            let (uid, gid) = (Uid::from_raw(a.uid), Gid::from_raw(a.gid));
            let mut trees = vec![layout.apache_logs(), layout.apache_run()];
            if from < 2 {
                // Deployed and run as root, outside any sandbox.
                trees.extend(
                    store::demo_names(layout)?
                        .iter()
                        .map(|n| layout.demo_dir(n)),
                );
            }
            let mut changed = 0;
            for t in &trees {
                changed += chown_tree(t, uid, gid).map_err(|e| {
                    anyhow::anyhow!("giving {} to the sandbox's account: {e}", t.display())
                })?;
            }
            done.push(format!(
                "{changed} files of Apache's logs and run folder{} given to the sandbox's account",
                if from < 2 {
                    " and of the demos' folders"
                } else {
                    ""
                }
            ));
        }
        // A version before the sandbox ran its programs as root, unsandboxed,
        // from a supervisord without this version's plugin.
        let unsandboxed = from < 2
            || !std::fs::read_to_string(layout.programs_conf()).is_ok_and(|p| p.contains("bwrap"));
        if live.is_some() && unsandboxed {
            // Stopped now: the demos wanted running come back in the
            // sandbox under the supervisord showroomd starts next.
            crate::supervisor::control::stop(&sup).await.map_err(|e| {
                anyhow::anyhow!("stopping the supervisord of the earlier showroomd: {e}")
            })?;
            done.push("stopped the supervisord the earlier showroomd ran (its demos wanted running start again in the sandbox)".into());
        }
        info!(
            from,
            to = FORMAT,
            "migrated the state folder from format {from} ({}) to {FORMAT}: {}",
            describe(from),
            if done.is_empty() {
                "nothing to change".into()
            } else {
                done.join("; ")
            }
        );
    } else if !done.is_empty() {
        info!("took over the state folder: {}", done.join("; "));
    }
    Ok(())
}

/// A folder moved from `old`: the demos' own paths in what showroom runs
/// and includes are rewritten, Apache's links and copies too; a demo whose
/// other files still name the old place is named (its reconfigure step, or
/// a clone, makes it whole).
fn relocate(layout: &Layout, old: &Path) -> Vec<String> {
    let names = store::demo_names(layout).unwrap_or_default();
    let mut rewritten = 0;
    let mut stale = BTreeSet::new();
    for name in &names {
        let from = format!("{}/demos/{name}", old.display());
        let to = layout.demo_dir(name).display().to_string();
        for file in REWRITTEN {
            match rewrite_no_follow(&layout.demo_dir(name).join(file), &from, &to) {
                Ok(true) => rewritten += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(demo = %name, file, error = %e, "cannot rewrite its old folder's path");
                    stale.insert(name.clone());
                }
            }
        }
        for f in [layout.apache_copy(name), layout.apache_staged(name)] {
            match std::fs::read_link(&f) {
                Ok(target) => {
                    // A format-1 link to the vhost in the demo's old folder.
                    let fixed = target
                        .strip_prefix(old)
                        .map(|rest| layout.root().join(rest));
                    if let Ok(fixed) = fixed {
                        if std::fs::remove_file(&f)
                            .and_then(|()| std::os::unix::fs::symlink(&fixed, &f))
                            .is_ok()
                        {
                            rewritten += 1;
                        }
                    }
                }
                Err(_) => {
                    if rewrite_no_follow(&f, &from, &to).unwrap_or(false) {
                        rewritten += 1;
                    }
                }
            }
        }
        if names_path(layout, name, &from) {
            stale.insert(name.clone());
        }
    }
    let mut done = vec![format!(
        "the state folder moved from {}: its path rewritten in {rewritten} files",
        old.display()
    )];
    if !stale.is_empty() {
        let list: Vec<_> = stale.into_iter().collect();
        warn!(
            demos = %list.join(" "),
            "other files of these demos still name their old folder {}: run their app's reconfigure step (clone them), or deploy them again",
            old.display()
        );
        done.push(format!("still naming the old folder: {}", list.join(" ")));
    }
    done
}

/// Replaces `from` by `to` in a regular file, opened without following a
/// link (a demo's files are the demo's to plant); true when it changed.
pub(crate) fn rewrite_no_follow(path: &Path, from: &str, to: &str) -> std::io::Result<bool> {
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() > MAX_REWRITE {
        return Err(std::io::Error::other("not a regular file of at most 1 MiB"));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    if !text.contains(from) {
        return Ok(false);
    }
    let text = text.replace(from, to);
    f.rewind()?;
    f.set_len(0)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(true)
}

/// Whether a file of the demo's (searched without following links, 10000
/// files at most) still names `path`; showroom's own copies (of its record
/// and program section, written again at start) do not count.
fn names_path(layout: &Layout, name: &str, path: &str) -> bool {
    let ours = [layout.record_copy(name), layout.program_section_copy(name)];
    let mut budget = 10_000usize;
    let mut stack = vec![layout.demo_dir(name)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if budget == 0 {
                return false;
            }
            budget -= 1;
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() && !ours.contains(&e.path()) {
                let mut text = Vec::new();
                let opened = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
                    .open(e.path());
                if let Ok(f) = opened {
                    let _ = f.take(MAX_REWRITE).read_to_end(&mut text);
                }
                if text.windows(path.len()).any(|w| w == path.as_bytes()) {
                    return true;
                }
            }
        }
    }
    false
}

/// Format 1 kept no wanted state: a demo ran if the supervisord of that
/// version runs it (when it still answers), else if its last state in
/// supervisord's log was running, or if its vhost was enabled. Each demo
/// gets a record in `records/` carrying it.
fn wanted_from_before(
    layout: &Layout,
    live: Option<&[crate::supervisor::ProcessInfo]>,
) -> anyhow::Result<String> {
    let ran_in_log = running_in_log(
        &std::fs::read_to_string(layout.supervisor_dir().join("supervisord.log"))
            .unwrap_or_default(),
    );
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(layout.records())?;
    let mut running = Vec::new();
    let mut count = 0;
    for name in store::demo_names(layout)? {
        if layout.record(&name).exists() {
            continue;
        }
        let Ok(mut record) = store::read_record_at(&layout.record_copy(&name)) else {
            continue; // the checks at start keep it, and say why
        };
        let process_ran = match live {
            Some(procs) => procs
                .iter()
                .any(|p| p.name == name && matches!(p.statename.as_str(), "RUNNING" | "STARTING")),
            None => ran_in_log.contains(&name),
        };
        let vhost_on = std::fs::symlink_metadata(layout.apache_copy(&name)).is_ok();
        if process_ran || vhost_on {
            record.wanted = protocol::Wanted::Running;
            running.push(name.clone());
        }
        store::write_record(layout, &name, &record)?;
        count += 1;
    }
    Ok(format!(
        "{count} records moved from demo.conf to records/, wanted running: {}",
        if running.is_empty() {
            "none".into()
        } else {
            running.join(" ")
        }
    ))
}

/// The programs whose last state in supervisord's log was running, counting
/// those it stopped only because it was itself shutting down.
fn running_in_log(log: &str) -> BTreeSet<String> {
    let mut running = BTreeSet::new();
    let mut shutting_down = false;
    for line in log.lines() {
        if line.contains("supervisord started with pid") {
            shutting_down = false;
        } else if line.contains("indicating exit request") {
            shutting_down = true;
        } else if let Some(rest) = line.split_once(" success: ").map(|(_, r)| r) {
            if let Some(name) = rest.strip_suffix(
                " entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)",
            ) {
                running.insert(name.to_owned());
            }
        } else if !shutting_down {
            for word in [" stopped: ", " exited: ", " gave up: "] {
                if let Some((_, rest)) = line.split_once(word) {
                    if let Some(name) = rest.split_whitespace().next() {
                        running.remove(name);
                    }
                }
            }
        }
    }
    running
}

/// Gives `dir` and everything under it to `uid:gid`, never following a
/// link (each step is opened relative to its parent, O_NOFOLLOW); returns
/// how many entries changed owner.
fn chown_tree(dir: &Path, uid: Uid, gid: Gid) -> nix::Result<usize> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let top = match Dir::open(dir, flags, Mode::empty()) {
        Ok(d) => d,
        Err(nix::errno::Errno::ENOENT) => return Ok(0),
        Err(e) => return Err(e),
    };
    nix::unistd::fchown(top.as_raw_fd(), Some(uid), Some(gid))?;
    let mut changed = 1;
    let mut stack = vec![top];
    while let Some(mut d) = stack.pop() {
        let fd = d.as_raw_fd();
        let mut subdirs = Vec::new();
        for entry in d.iter() {
            let entry = entry?;
            let name = entry.file_name().to_owned();
            if name.as_bytes() == b"." || name.as_bytes() == b".." {
                continue;
            }
            let st =
                nix::sys::stat::fstatat(Some(fd), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if st.st_uid != uid.as_raw() || st.st_gid != gid.as_raw() {
                nix::unistd::fchownat(
                    Some(fd),
                    name.as_c_str(),
                    Some(uid),
                    Some(gid),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                changed += 1;
            }
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
                subdirs.push(name);
            }
        }
        for name in subdirs {
            stack.push(Dir::openat(
                Some(fd),
                name.as_c_str(),
                flags,
                Mode::empty(),
            )?);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_format_is_refused_naming_both_and_an_older_one_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert_eq!(check(&layout).unwrap(), Found::Fresh);
        std::fs::create_dir_all(layout.demo_dir("a")).unwrap();
        assert_eq!(check(&layout).unwrap(), Found::Older(1));
        std::fs::create_dir_all(layout.records()).unwrap();
        assert_eq!(check(&layout).unwrap(), Found::Older(2));
        write(&layout).unwrap();
        assert_eq!(check(&layout).unwrap(), Found::Current);
        std::fs::write(layout.format_file(), "4\n").unwrap();
        let e = check(&layout).unwrap_err().to_string();
        assert!(e.contains("format 4") && e.contains("up to 3"), "{e}");
        std::fs::write(layout.format_file(), "four").unwrap();
        assert!(check(&layout).is_err());
    }

    #[test]
    fn the_log_says_which_programs_ran_last() {
        let log = "\
2026-11-25 12:00:00,000 INFO supervisord started with pid 7
2026-11-25 12:00:01,000 INFO success: a entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)
2026-11-25 12:00:01,000 INFO success: b entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)
2026-11-25 12:00:02,000 INFO stopped: b (terminated by SIGTERM)
2026-11-25 12:00:03,000 WARN received SIGTERM indicating exit request
2026-11-25 12:00:03,000 INFO stopped: a (terminated by SIGTERM)
";
        let ran = running_in_log(log);
        assert!(ran.contains("a"), "stopped by the shutdown only");
        assert!(!ran.contains("b"), "stopped before it");
    }

    #[test]
    fn a_moved_path_is_rewritten_but_no_link_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("start.sh");
        std::fs::write(&f, "cd /old/demos/x/www\n").unwrap();
        assert!(rewrite_no_follow(&f, "/old/demos/x", "/new/demos/x").unwrap());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "cd /new/demos/x/www\n"
        );
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "/old/demos/x").unwrap();
        let link = dir.path().join("apache2.conf");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(rewrite_no_follow(&link, "/old/demos/x", "/new/demos/x").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "/old/demos/x");
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.demo_dir("x")).unwrap();
        std::fs::write(layout.record_copy("x"), "/old/demos/x").unwrap();
        assert!(
            !names_path(&layout, "x", "/old/demos/x"),
            "its record's copy is showroom's"
        );
        std::fs::write(
            layout.demo_dir("x").join("venv.cfg"),
            "home = /old/demos/x/venv",
        )
        .unwrap();
        assert!(names_path(&layout, "x", "/old/demos/x"));
    }
}
