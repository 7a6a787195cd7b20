//! showroom's record of each demo (`records/NAME.toml`, copied to `demos/NAME/demo.conf` for people), deploy markers, atomic writes, removals through the trash.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::demofs::DemoDir;
use crate::layout::Layout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The deploy script is running (or was, when the daemon died).
    Deploying,
    Installed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoRecord {
    pub app: String,
    /// None only for a demo kept without a readable record whose port
    /// could not be recovered.
    pub port: Option<u16>,
    #[serde(default)]
    pub comment: String,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub created: u64,
    pub phase: Phase,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Records older than this field read as `stopped`: nothing comes back unasked.
    #[serde(default)]
    pub wanted: protocol::Wanted,
    /// Seconds since the Unix epoch; None: never expires.
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub deploy_ms: Option<u64>,
    /// No cleanup and no expiry touches it (`keep NAME`).
    #[serde(default)]
    pub keep: bool,
    /// The second port of an app whose script says `# PORTS: 2`.
    #[serde(default)]
    pub port2: Option<u16>,
    /// Who may visit it through the front door; records older than this field are open.
    #[serde(default, skip_serializing_if = "crate::visitors::Access::is_open")]
    pub access: crate::visitors::Access,
    /// As resolved at its deploy; records from before limits have none and
    /// run with the config's defaults.
    #[serde(default)]
    pub limits: protocol::DemoLimits,
    /// Its idle time and whether it sleeps; records older than this field never sleep.
    #[serde(default, skip_serializing_if = "crate::sleep::Sleep::is_never")]
    pub sleep: crate::sleep::Sleep,
}

impl DemoRecord {
    /// A record with nothing but what names it: no params, comment, expiry
    /// or limits, wanted stopped, open to every visitor, two ports none.
    /// New fields get their "none" here once, for every record made so.
    pub fn bare(app: &str, port: Option<u16>, created: u64, phase: Phase) -> DemoRecord {
        DemoRecord {
            app: app.to_owned(),
            port,
            comment: String::new(),
            created,
            phase,
            params: Default::default(),
            wanted: Default::default(),
            expires_at: None,
            deploy_ms: None,
            keep: false,
            port2: None,
            access: Default::default(),
            limits: Default::default(),
            sleep: Default::default(),
        }
    }

    /// Every port the demo owns: reserved with it, freed with it, its
    /// own to listen on. The one list anything that needs a demo's ports reads.
    pub fn ports(&self) -> Vec<u16> {
        self.port.into_iter().chain(self.port2).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a valid record: {source}")]
    Parse {
        path: String,
        // Boxed: toml's error is large, and every error that carries a
        // StoreError (Apache's, the front door's) would grow with it.
        source: Box<toml::de::Error>,
    },
    /// A file in a demo's folder, which the demo controls.
    #[error(transparent)]
    DemoFile(#[from] crate::demofs::DemoFsError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, fsynced, then
/// renamed over it, then the folder fsynced: a reader sees the old file or the
/// new one, never half of one, even across a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("records live in a folder");
    let tmp = tmp_path(path);
    // create_new: a temporary file planted beforehand (a demo owns the
    // folders its copies are written into) is never followed as a link.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Writes the file only when its content changes (generated configs are
/// rewritten at every start; an unchanged one must not look changed to
/// supervisord's reread).
pub fn write_if_changed(path: &Path, text: &str) -> Result<bool, StoreError> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(false);
    }
    write_atomic(path, text.as_bytes())?;
    Ok(true)
}

fn record_text(rec: &DemoRecord) -> String {
    toml::to_string(rec).expect("a record always serializes")
}

/// Writes the record (the truth, outside the demo's folder), then its copy
/// in the folder. Only the record's failure fails: the copy is for people.
pub fn write_record(layout: &Layout, name: &str, rec: &DemoRecord) -> Result<(), StoreError> {
    let text = record_text(rec);
    write_atomic(&layout.record(name), text.as_bytes())?;
    let copy = DemoDir::open(&layout.demo_dir(name))
        .and_then(|d| d.write_atomic(crate::layout::RECORD_COPY, text.as_bytes()));
    if let Err(e) = copy {
        tracing::warn!(demo = name, error = %e, "cannot write the copy of its record");
    }
    Ok(())
}

/// Rewrites the copy in the demo's folder when it is missing or differs
/// from the record; true when it did.
pub fn restore_copy(layout: &Layout, name: &str, rec: &DemoRecord) -> Result<bool, StoreError> {
    Ok(DemoDir::open(&layout.demo_dir(name))?
        .write_if_changed(crate::layout::RECORD_COPY, &record_text(rec))?)
}

/// The largest copy of a record that is read back (a record is a few
/// hundred bytes; params and a comment make it longer, never this long).
const MAX_RECORD_COPY: u64 = 1 << 20;

/// Reads the copy of a record in a demo's folder (to adopt a folder from
/// before `records/`): never followed, never more than `MAX_RECORD_COPY`.
pub fn read_record_copy(layout: &Layout, name: &str) -> Result<DemoRecord, StoreError> {
    let bytes = DemoDir::open(&layout.demo_dir(name))?
        .read_bounded(crate::layout::RECORD_COPY, MAX_RECORD_COPY)?;
    let path = layout.record_copy(name);
    let text = String::from_utf8(bytes)
        .map_err(|e| io_err(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    parse_record(&path, &text)
}

pub fn read_record(layout: &Layout, name: &str) -> Result<DemoRecord, StoreError> {
    read_record_at(&layout.record(name))
}

/// Reads a record from a file: the record, or the copy of one.
pub fn read_record_at(path: &Path) -> Result<DemoRecord, StoreError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    parse_record(path, &text)
}

fn parse_record(path: &Path, text: &str) -> Result<DemoRecord, StoreError> {
    toml::from_str(text).map_err(|source| StoreError::Parse {
        path: path.display().to_string(),
        source: Box::new(source),
    })
}

/// Forgets a demo's record; absent is fine.
pub fn remove_record(layout: &Layout, name: &str) -> Result<(), StoreError> {
    remove_if_present(&layout.record(name))
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Notes a deploy under way, durably, before its folder exists.
pub fn mark_deploying(layout: &Layout, name: &str) -> Result<(), StoreError> {
    write_atomic(&layout.deploy_marker(name), b"")
}

/// The deploy ended (installed or rolled back): its folder is no longer showroom's to undo.
pub fn unmark_deploying(layout: &Layout, name: &str) -> Result<(), StoreError> {
    remove_if_present(&layout.deploy_marker(name))
}

/// Notes in a clone's deploy marker the source it stopped for its copy
/// (None: none stopped, or running again), so that a start after a crash
/// in between starts that source again.
pub fn note_stopped_source(
    layout: &Layout,
    name: &str,
    src: Option<&str>,
) -> Result<(), StoreError> {
    write_atomic(&layout.deploy_marker(name), src.unwrap_or("").as_bytes())
}

/// The source a cut clone's marker says it had stopped for its copy.
pub fn stopped_source(layout: &Layout, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(layout.deploy_marker(name)).ok()?;
    let src = text.trim();
    (!src.is_empty()).then(|| src.to_owned())
}

pub fn is_marked_deploying(layout: &Layout, name: &str) -> bool {
    layout.deploy_marker(name).exists()
}

/// What a redeploy under way notes before it swaps the folders: the new
/// folder (by its inode: after the swap, the demo's folder is it) and the
/// record it brings. An empty marker: the script still runs, no swap yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeployNote {
    pub inode: u64,
    pub record: DemoRecord,
}

/// Notes a redeploy of `name` under way (`note` None: its script runs).
pub fn mark_redeploying(
    layout: &Layout,
    name: &str,
    note: Option<&RedeployNote>,
) -> Result<(), StoreError> {
    let text = note
        .map(|n| toml::to_string(n).expect("a note always serializes"))
        .unwrap_or_default();
    write_atomic(&layout.redeploy_marker(name), text.as_bytes())
}

/// The redeploy marker's note: Ok(None) for one whose swap was not noted yet.
pub fn read_redeploying(layout: &Layout, name: &str) -> Result<Option<RedeployNote>, StoreError> {
    let path = layout.redeploy_marker(name);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    toml::from_str(&text)
        .map(Some)
        .map_err(|source| StoreError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })
}

pub fn unmark_redeploying(layout: &Layout, name: &str) -> Result<(), StoreError> {
    remove_if_present(&layout.redeploy_marker(name))
}

/// The demos with a redeploy marker.
pub fn redeploying_names(layout: &Layout) -> Vec<String> {
    std::fs::read_dir(layout.deploying())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_owned();
            Some(n.strip_prefix('.')?.strip_suffix(REDEPLOY_EXT)?.to_owned())
        })
        .collect()
}

/// The suffix of redeploy markers and folders (hidden: never a demo's name).
pub const REDEPLOY_EXT: &str = ".redeploy";

/// The names in a folder of showroom's (`records/`, `deploying/`), with
/// `ext` taken off; hidden (temporary) files left out.
pub fn names_in(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_owned();
            let n = n.strip_suffix(ext)?.to_owned();
            (!n.starts_with('.') && !n.is_empty()).then_some(n)
        })
        .collect();
    names.sort();
    names
}

/// The names of the folders under `demos/`, sorted.
pub fn demo_names(layout: &Layout) -> Result<Vec<String>, StoreError> {
    let dir = layout.demos();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let entry = entry.map_err(io_err(&dir))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if let Some(n) = entry.file_name().to_str() {
                names.push(n.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Takes the state folder for this daemon alone, for as long as the
/// returned lock lives: two daemons repairing and changing one folder would
/// undo each other's work. The kernel drops the lock when the process dies,
/// so a crash never leaves it held.
pub fn lock_state(layout: &Layout) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use anyhow::Context;
    let root = layout.root();
    std::fs::create_dir_all(root)
        .with_context(|| format!("creating the state folder {}", root.display()))?;
    let path = layout.lock_file();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
        |(_, errno)| {
            anyhow::anyhow!(
                "another showroomd is already running on the state folder {} (it holds {}): {errno}",
                root.display(),
                path.display()
            )
        },
    )
}

/// Moves a folder out of `demos/` into the trash, then deletes it. The rename
/// is atomic, so a crash leaves either the whole demo or none of it under
/// `demos/`; the trash is emptied at the next start. The deletion runs as
/// the demos' account, then link-safe as showroomd (`demofs::remove_tree`).
pub async fn remove_demo_dir(
    layout: &Layout,
    name: &str,
    sandbox: &crate::sandbox::Sandbox,
) -> Result<(), StoreError> {
    remove_dir(layout, &layout.demo_dir(name), name, sandbox).await
}

/// Removes a folder of showroom's through the trash (`label` names it there).
pub async fn remove_dir(
    layout: &Layout,
    dir: &Path,
    label: &str,
    sandbox: &crate::sandbox::Sandbox,
) -> Result<(), StoreError> {
    match trash_dir(layout, dir, label)? {
        Some(trash) => remove_trashed(sandbox, trash).await,
        None => Ok(()),
    }
}

/// Moves a demo's folder into the trash: one rename on the same
/// filesystem, as quick for 200,000 files as for one. Returns where it
/// went (None: there was no folder); `remove_trashed` removes it, and a
/// start empties what an interrupted removal left.
pub fn trash_demo_dir(layout: &Layout, name: &str) -> Result<Option<PathBuf>, StoreError> {
    trash_dir(layout, &layout.demo_dir(name), name)
}

/// Moves a folder of showroom's into the trash (`label` names it there).
pub fn trash_dir(layout: &Layout, dir: &Path, label: &str) -> Result<Option<PathBuf>, StoreError> {
    let dir = dir.to_path_buf();
    if !dir.exists() {
        return Ok(None);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let trash = layout.trash().join(format!("{label}.{nanos}"));
    std::fs::rename(&dir, &trash).map_err(io_err(&dir))?;
    Ok(Some(trash))
}

/// Removes a folder from the trash: what the demo made, as the demos'
/// account in its sandbox (`demofs::remove_tree`), so root never walks a
/// tree the demo controls. Out of demos/ already: what cannot be removed
/// yet is the trash's, emptied at the next start, and neither this removal
/// nor that start fails on it.
pub async fn remove_trashed(
    sandbox: &crate::sandbox::Sandbox,
    trash: PathBuf,
) -> Result<(), StoreError> {
    if let Err(e) = crate::demofs::remove_tree(sandbox, &trash).await {
        tracing::warn!(path = %trash.display(), error = %e, "cannot remove all of a removed demo's folder yet; left in the trash for the next start");
    }
    Ok(())
}

/// Deletes what an interrupted removal left in the trash; returns how many
/// it removed. One it cannot remove is logged and left for the next start:
/// a start never fails on the trash.
pub async fn empty_trash(
    layout: &Layout,
    sandbox: &crate::sandbox::Sandbox,
) -> Result<usize, StoreError> {
    let dir = layout.trash();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let entry = entry.map_err(io_err(&dir))?;
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            crate::demofs::remove_tree(sandbox, &path).await
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => n += 1,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot empty this from the trash; left for the next start")
            }
        }
    }
    Ok(n)
}

/// The temporary file `write_atomic` writes `path` through, beside it.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().expect("a file").to_string_lossy();
    path.with_file_name(format!(".{name}.tmp"))
}

/// The files of a demo that showroom writes through `write_atomic`: its
/// record, and the copies of its record and program section in its folder.
pub fn atomic_files(layout: &Layout, name: &str) -> [PathBuf; 3] {
    [
        layout.record(name),
        layout.record_copy(name),
        layout.program_section_copy(name),
    ]
}

/// Removes the temporary files of a demo's records and copies left by a
/// crash mid-write; true if there was one.
pub fn remove_stale_tmp(layout: &Layout, name: &str) -> bool {
    // Every one removed: no short cut at the first found.
    atomic_files(layout, name)
        .iter()
        .filter(|f| std::fs::remove_file(tmp_path(f)).is_ok())
        .count()
        > 0
}

/// The time a log line is stamped with: RFC 3339, UTC, to the second
/// (`2026-12-02T05:20:01Z`); `logs` shows it in the reader's time zone.
pub fn stamp_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A log line without the stamp `stamp_now` put before it, if it has one.
pub fn unstamped(line: &str) -> &str {
    match line.split_once(' ') {
        Some((head, rest)) if head.len() == 20 && humantime::parse_rfc3339(head).is_ok() => rest,
        _ => line,
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> DemoRecord {
        DemoRecord {
            app: "test1".into(),
            port: Some(20000),
            comment: "a \"quoted\" comment".into(),
            created: 1_700_000_000,
            phase: Phase::Installed,
            params: [("k".to_string(), "v".to_string())].into(),
            wanted: protocol::Wanted::Running,
            expires_at: Some(1_700_086_400),
            deploy_ms: Some(1500),
            keep: false,
            port2: None,
            access: Default::default(),
            limits: Default::default(),
            sleep: Default::default(),
        }
    }

    #[test]
    fn records_round_trip_and_leave_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        l.create_dirs().unwrap();
        std::fs::create_dir(l.demo_dir("x")).unwrap();
        write_record(&l, "x", &rec()).unwrap();
        assert_eq!(read_record(&l, "x").unwrap(), rec());
        assert_eq!(read_record_at(&l.record_copy("x")).unwrap(), rec());
        for dir in [l.demo_dir("x"), l.records()] {
            let files: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
            assert_eq!(files.len(), 1);
        }
        assert_eq!(names_in(&l.records(), ".toml"), ["x"]);
        std::fs::remove_file(l.record_copy("x")).unwrap();
        assert!(restore_copy(&l, "x", &rec()).unwrap());
        assert!(!restore_copy(&l, "x", &rec()).unwrap());
    }

    #[test]
    fn a_record_without_port_reads_as_none() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        l.create_dirs().unwrap();
        std::fs::create_dir(l.demo_dir("x")).unwrap();
        std::fs::write(l.record("x"), "app = \"a\"\nphase = \"installed\"\n").unwrap();
        let old = read_record(&l, "x").unwrap();
        assert_eq!(old.port, None);
        assert_eq!(
            old.wanted,
            protocol::Wanted::Stopped,
            "an old record wants nothing"
        );
        assert_eq!(old.expires_at, None);
        std::fs::write(l.record("x"), "garbage = [").unwrap();
        assert!(matches!(
            read_record(&l, "x"),
            Err(StoreError::Parse { .. })
        ));
    }

    #[test]
    fn a_planted_temporary_link_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = d.path().join("copy.conf");
        std::os::unix::fs::symlink(&victim, d.path().join(".copy.conf.tmp")).unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[tokio::test]
    async fn removal_goes_through_the_trash() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        l.create_dirs().unwrap();
        std::fs::create_dir_all(l.demo_dir("x").join("sub")).unwrap();
        remove_demo_dir(&l, "x", &crate::sandbox::Sandbox::off())
            .await
            .unwrap();
        assert!(!l.demo_dir("x").exists());
        assert_eq!(std::fs::read_dir(l.trash()).unwrap().count(), 0);
        std::fs::create_dir_all(l.trash().join("y.1/z")).unwrap();
        assert_eq!(
            empty_trash(&l, &crate::sandbox::Sandbox::off())
                .await
                .unwrap(),
            1
        );
    }
}
