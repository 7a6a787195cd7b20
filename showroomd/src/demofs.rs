//! What showroomd (often root) does inside a demo's folder, in one place: the folder opened once without following a link, each file named relative to that descriptor and never followed, checked to be a regular file before it is opened, and read only as far as needed.
//!
//! A demo owns its folder and may put anything at any name in it (a link to
//! `/etc/shadow`, a FIFO, a socket, a 2 GB sparse file, a hard link to a
//! file of root's). Nothing here follows, blocks on, or reads more of such a
//! thing than a bounded head. docs/ARCHITECTURE.md, "What root touches in a
//! demo's folder".
//!
//! Why not `openat2(RESOLVE_BENEATH)`: nix 0.29's `openat`/`openat2` return
//! a raw descriptor, and taking ownership of one needs `unsafe`, which the
//! workspace forbids. Each name is one component (no `/`), opened through
//! `/proc/self/fd/N/NAME` with `O_NOFOLLOW`: the folder is reached through
//! its descriptor (a magic link the demo cannot change), the name is not
//! followed, so nothing resolves outside the folder. Stat, unlink and rename
//! use the `*at` calls on the descriptor directly.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, Mode, SFlag};

use crate::sandbox::{Sandbox, Spec};

#[derive(Debug, thiserror::Error)]
pub enum DemoFsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: must be a regular file, and is {kind}: refused")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path}: has {links} hard links (it may be another file's): refused")]
    HardLinked { path: PathBuf, links: u64 },
    #[error("{path}: is larger than {max} bytes: refused")]
    TooBig { path: PathBuf, max: u64 },
    #[error("{path}: belongs to uid {uid}, not to the demos' account (uid {want}): refused")]
    NotTheDemos { path: PathBuf, uid: u32, want: u32 },
    #[error("{0:?} is not a plain file name")]
    NotAName(String),
}

impl DemoFsError {
    /// The file named by the error is not there (nothing to read or chmod).
    pub fn is_missing(&self) -> bool {
        matches!(self, DemoFsError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn nix_io(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// What a name in the folder is, for a person.
fn kind_of(mode: u32) -> &'static str {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a folder",
        SFlag::S_IFLNK => "a symbolic link",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "of an unknown kind",
    }
}

/// A demo's folder, opened without following a link.
#[derive(Debug)]
pub struct DemoDir {
    dir: File,
    path: PathBuf,
}

impl DemoDir {
    /// Opens the folder. Its last component is not followed: a folder
    /// replaced by a link is refused (`ELOOP`/`ENOTDIR`), never entered.
    pub fn open(path: &Path) -> Result<DemoDir, DemoFsError> {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(path)
            .map_err(|source| DemoFsError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(DemoDir {
            dir,
            path: path.to_owned(),
        })
    }

    /// The name as a person knows it (for errors and logs).
    pub fn shown(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn io(&self, name: &str) -> impl FnOnce(std::io::Error) -> DemoFsError + '_ {
        let path = self.shown(name);
        move |source| DemoFsError::Io { path, source }
    }

    /// One component: no `/`, not `.` or `..`, not empty.
    fn check_name(name: &str) -> Result<(), DemoFsError> {
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('\0')
        {
            return Err(DemoFsError::NotAName(name.to_owned()));
        }
        Ok(())
    }

    /// The name reached through the folder's descriptor.
    fn through_fd(&self, name: &str) -> Result<PathBuf, DemoFsError> {
        Self::check_name(name)?;
        Ok(PathBuf::from(format!(
            "/proc/self/fd/{}/{name}",
            self.dir.as_raw_fd()
        )))
    }

    /// `lstat` of a name in the folder: (mode, size, links, uid, dev, ino).
    fn lstat(&self, name: &str) -> Result<nix::sys::stat::FileStat, DemoFsError> {
        Self::check_name(name)?;
        fstatat(
            Some(self.dir.as_raw_fd()),
            name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.io(name)(nix_io(e)))
    }

    /// True when something stands at the name (a dangling link included).
    pub fn exists(&self, name: &str) -> bool {
        self.lstat(name).is_ok()
    }

    /// True when the name is a regular file itself (a link to one is not).
    pub fn is_regular(&self, name: &str) -> bool {
        self.lstat(name)
            .is_ok_and(|st| st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits())
    }

    /// Opens a regular file for reading. What is not one (a link, a FIFO, a
    /// socket, a device) is refused before any open, so nothing blocks or
    /// wakes a device; the open itself follows no link and does not block,
    /// and the file opened must be the one looked at.
    fn open_regular(&self, name: &str) -> Result<(File, std::fs::Metadata), DemoFsError> {
        self.open_regular_rw(name, false)
    }

    fn open_regular_rw(
        &self,
        name: &str,
        write: bool,
    ) -> Result<(File, std::fs::Metadata), DemoFsError> {
        let st = self.lstat(name)?;
        if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFREG.bits() {
            return Err(DemoFsError::NotRegular {
                path: self.shown(name),
                kind: kind_of(st.st_mode),
            });
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(
                (OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).bits(),
            )
            .open(self.through_fd(name)?)
            .map_err(self.io(name))?;
        let meta = f.metadata().map_err(self.io(name))?;
        if !meta.is_file() || meta.ino() != st.st_ino || meta.dev() != st.st_dev {
            return Err(DemoFsError::NotRegular {
                path: self.shown(name),
                kind: "a file that changed while it was opened",
            });
        }
        Ok((f, meta))
    }

    /// The first `n` bytes at most (fewer when the file is shorter).
    pub fn read_head(&self, name: &str, n: u64) -> Result<Vec<u8>, DemoFsError> {
        let (f, _) = self.open_regular(name)?;
        let mut out = Vec::new();
        f.take(n).read_to_end(&mut out).map_err(self.io(name))?;
        Ok(out)
    }

    /// The whole file, refused when it is larger than `max` bytes; never
    /// more than `max + 1` bytes are read, whatever its size says.
    pub fn read_bounded(&self, name: &str, max: u64) -> Result<Vec<u8>, DemoFsError> {
        let (f, meta) = self.open_regular(name)?;
        let too_big = || DemoFsError::TooBig {
            path: self.shown(name),
            max,
        };
        if meta.len() > max {
            return Err(too_big());
        }
        let mut out = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut out)
            .map_err(self.io(name))?;
        if out.len() as u64 > max {
            return Err(too_big());
        }
        Ok(out)
    }

    /// Sets a regular file's mode through its descriptor. It must have one
    /// link (a hard link to a file outside would carry the change there) and,
    /// when `owner` is given, belong to that uid (the demos' account): root
    /// never changes the mode of a file that is not the demo's.
    pub fn chmod(&self, name: &str, mode: u32, owner: Option<u32>) -> Result<(), DemoFsError> {
        let (f, meta) = self.open_regular(name)?;
        if meta.nlink() != 1 {
            return Err(DemoFsError::HardLinked {
                path: self.shown(name),
                links: meta.nlink(),
            });
        }
        if let Some(want) = owner.filter(|w| *w != meta.uid()) {
            return Err(DemoFsError::NotTheDemos {
                path: self.shown(name),
                uid: meta.uid(),
                want,
            });
        }
        fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode)).map_err(|e| self.io(name)(nix_io(e)))
    }

    /// A regular file past `max` bytes: its last `keep` bytes are written to
    /// `NAME.1` and it is emptied in place (a writer that appends, as Apache
    /// does, goes on at its new end). True when it was cut.
    pub fn cut_to_end(&self, name: &str, max: u64, keep: u64) -> Result<bool, DemoFsError> {
        use std::io::{Seek, SeekFrom};
        let (mut f, meta) = self.open_regular_rw(name, true)?;
        if meta.len() <= max {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(meta.len().saturating_sub(keep)))
            .map_err(self.io(name))?;
        let mut end = Vec::new();
        (&mut f)
            .take(keep)
            .read_to_end(&mut end)
            .map_err(self.io(name))?;
        self.write_atomic(&format!("{name}.1"), &end)?;
        f.set_len(0).map_err(self.io(name))?;
        Ok(true)
    }

    /// Removes `name` when it is an empty regular file; true when it did.
    pub fn remove_if_empty(&self, name: &str) -> bool {
        let empty = self.lstat(name).is_ok_and(|st| {
            st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits() && st.st_size == 0
        });
        empty
            && nix::unistd::unlinkat(
                Some(self.dir.as_raw_fd()),
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .is_ok()
    }

    /// Writes a file of showroom's into the folder: a temporary name made
    /// afresh (whatever stood there is unlinked, never followed), fsynced,
    /// renamed over the name (which replaces a link or a FIFO, and fails on a
    /// folder), then the folder fsynced.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), DemoFsError> {
        Self::check_name(name)?;
        let tmp = format!(".{name}.tmp");
        let fd = self.dir.as_raw_fd();
        let _ = nix::unistd::unlinkat(
            Some(fd),
            tmp.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(self.through_fd(&tmp)?)
            .map_err(self.io(&tmp))?;
        f.write_all(bytes).map_err(self.io(&tmp))?;
        f.sync_all().map_err(self.io(&tmp))?;
        drop(f);
        nix::fcntl::renameat(Some(fd), tmp.as_str(), Some(fd), name).map_err(|e| {
            let _ = nix::unistd::unlinkat(
                Some(fd),
                tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            self.io(name)(nix_io(e))
        })?;
        self.dir.sync_all().map_err(|source| DemoFsError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Writes the file only when what is there differs (reading no more
    /// than the new text's length and one byte); true when it wrote.
    pub fn write_if_changed(&self, name: &str, text: &str) -> Result<bool, DemoFsError> {
        let same = self
            .read_bounded(name, text.len() as u64)
            .is_ok_and(|old| old == text.as_bytes());
        if same {
            return Ok(false);
        }
        self.write_atomic(name, text.as_bytes())?;
        Ok(true)
    }
}

/// Runs `command` as the demos' account in a sandbox that sees `ro`
/// read-only and `rw` read-write and nothing else of showroom's: what root
/// would otherwise do to a tree the demo controls (a copy, a removal). It
/// dies with showroomd: bwrap's `--die-with-parent`, or without the sandbox
/// setpriv's `--pdeathsig`, set after any change of account. Spawn it from
/// an async task, never `spawn_blocking` (the death signal follows the
/// thread that forked, and blocking threads come and go). Returns why it
/// failed, with its stderr.
pub async fn run_as_demo(
    sandbox: &Sandbox,
    chdir: &Path,
    ro: Vec<&Path>,
    rw: Vec<&Path>,
    command: &[String],
) -> Result<(), String> {
    // The host's network (own_net needs the jail's pasta), none of it used.
    let spec = Spec {
        chdir,
        rw,
        ro,
        as_pid_1: false,
        own_net: false,
        tmp_size: None,
    };
    let mut argv = sandbox.argv(&spec, command);
    if !sandbox.enabled {
        let setpriv = sandbox.setpriv.display().to_string();
        if argv.first() == Some(&setpriv) {
            argv.insert(1, "--pdeathsig=KILL".into());
        } else {
            argv.splice(0..0, [setpriv, "--pdeathsig=KILL".into(), "--".into()]);
        }
    }
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(chdir)
        .env_clear()
        .envs(std::env::var_os("PATH").map(|p| ("PATH", p)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("could not run {}: {e}", argv[0]))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The end says why; a tree of thousands of files may fail on each.
    let cut = stderr.len().saturating_sub(2048);
    let cut = (cut..stderr.len())
        .find(|i| stderr.is_char_boundary(*i))
        .unwrap_or(stderr.len());
    Err(format!(
        "{} ended with {}: {}",
        command.first().map_or("", String::as_str),
        out.status,
        stderr[cut..].trim()
    ))
}

/// Removes everything inside `dir` as the demos' account (`find -delete`
/// follows no link), then `dir` itself and whatever the account could not
/// remove as showroomd, through std's `remove_dir_all`, which opens each
/// folder without following links (`openat`, `O_NOFOLLOW`) and never
/// leaves it.
pub async fn remove_tree(sandbox: &Sandbox, dir: &Path) -> std::io::Result<()> {
    let command = [
        "find".to_owned(),
        dir.display().to_string(),
        "-mindepth".into(),
        "1".into(),
        "-delete".into(),
    ];
    if let Err(why) = run_as_demo(sandbox, dir, vec![], vec![dir], &command).await {
        tracing::debug!(dir = %dir.display(), why, "the demos' account left some of the folder to remove");
    }
    let path = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// The folder's file `name`, read whole up to `max` bytes; for callers that
/// hold a full path (`demos/NAME/FILE`).
pub fn read_in(file: &Path, max: u64) -> Result<Vec<u8>, DemoFsError> {
    let (dir, name) = split(file)?;
    DemoDir::open(dir)?.read_bounded(name, max)
}

/// Splits `demos/NAME/FILE` into the folder and the one name in it.
pub fn split(file: &Path) -> Result<(&Path, &str), DemoFsError> {
    let bad = || DemoFsError::NotAName(file.display().to_string());
    let dir = file.parent().ok_or_else(bad)?;
    let name = file.file_name().and_then(|n| n.to_str()).ok_or_else(bad)?;
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("demo");
        std::fs::create_dir(&dir).unwrap();
        let outside = t.path().join("outside");
        std::fs::write(&outside, "secret\n").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o600)).unwrap();
        (t, dir, outside)
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_link_is_neither_read_nor_chmodded() {
        let (_t, dir, outside) = setup();
        std::os::unix::fs::symlink(&outside, dir.join("start.sh")).unwrap();
        let d = DemoDir::open(&dir).unwrap();
        assert!(!d.is_regular("start.sh"));
        let e = d.chmod("start.sh", 0o755, None).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(d.read_head("start.sh", 2).is_err());
        assert_eq!(mode(&outside), 0o600);
    }

    #[test]
    fn a_hard_link_is_not_chmodded() {
        let (_t, dir, outside) = setup();
        std::fs::hard_link(&outside, dir.join("start.sh")).unwrap();
        let d = DemoDir::open(&dir).unwrap();
        let e = d.chmod("start.sh", 0o755, None).unwrap_err();
        assert!(matches!(e, DemoFsError::HardLinked { links: 2, .. }), "{e}");
        assert_eq!(mode(&outside), 0o600);
    }

    #[test]
    fn a_file_of_another_owner_is_not_chmodded() {
        let (_t, dir, _) = setup();
        std::fs::write(dir.join("start.sh"), "#!/bin/sh\n").unwrap();
        let d = DemoDir::open(&dir).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let e = d.chmod("start.sh", 0o755, Some(me + 1)).unwrap_err();
        assert!(matches!(e, DemoFsError::NotTheDemos { .. }), "{e}");
        d.chmod("start.sh", 0o755, Some(me)).unwrap();
        assert_eq!(mode(&dir.join("start.sh")), 0o755);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (_t, dir, _) = setup();
        nix::unistd::mkfifo(&dir.join("demo.conf"), Mode::from_bits_truncate(0o600)).unwrap();
        let d = DemoDir::open(&dir).unwrap();
        let e = d.read_bounded("demo.conf", 100).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        // Written over: the FIFO is replaced, never opened.
        assert!(d.write_if_changed("demo.conf", "x = 1\n").unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("demo.conf")).unwrap(),
            "x = 1\n"
        );
        assert!(!d.write_if_changed("demo.conf", "x = 1\n").unwrap());
    }

    #[test]
    fn a_huge_sparse_file_is_read_only_as_far_as_needed() {
        let (_t, dir, _) = setup();
        let f = File::create(dir.join("start.sh")).unwrap();
        f.set_len(4 << 30).unwrap();
        let d = DemoDir::open(&dir).unwrap();
        assert_eq!(d.read_head("start.sh", 2).unwrap(), vec![0, 0]);
        assert!(matches!(
            d.read_bounded("start.sh", 1024).unwrap_err(),
            DemoFsError::TooBig { .. }
        ));
    }

    #[test]
    fn a_log_past_its_cap_keeps_its_end_and_starts_again() {
        let (_t, dir, _) = setup();
        std::fs::write(dir.join("access.log"), "0123456789").unwrap();
        let d = DemoDir::open(&dir).unwrap();
        assert!(!d.cut_to_end("access.log", 10, 4).unwrap());
        std::fs::write(dir.join("access.log"), "0123456789ab").unwrap();
        assert!(d.cut_to_end("access.log", 10, 4).unwrap());
        assert_eq!(std::fs::read(dir.join("access.log")).unwrap(), b"");
        assert_eq!(std::fs::read(dir.join("access.log.1")).unwrap(), b"89ab");
        std::fs::write(dir.join("apache2.pid.x"), "").unwrap();
        std::fs::write(dir.join("apache2.pid"), "1").unwrap();
        assert!(d.remove_if_empty("apache2.pid.x"));
        assert!(!d.remove_if_empty("apache2.pid"));
    }

    #[test]
    fn a_written_file_replaces_a_link_and_leaves_its_target() {
        let (_t, dir, outside) = setup();
        std::os::unix::fs::symlink(&outside, dir.join("supervisor.cfg")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(".supervisor.cfg.tmp")).unwrap();
        let d = DemoDir::open(&dir).unwrap();
        d.write_atomic("supervisor.cfg", b"[program:x]\n").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret\n");
        assert!(d.is_regular("supervisor.cfg"));
    }

    #[test]
    fn a_folder_replaced_by_a_link_is_not_entered() {
        let (t, dir, _) = setup();
        let link = t.path().join("linked");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(DemoDir::open(&link).is_err());
    }

    #[test]
    fn names_are_one_component() {
        let (_t, dir, _) = setup();
        let d = DemoDir::open(&dir).unwrap();
        for bad in ["", ".", "..", "../outside", "a/b"] {
            assert!(matches!(
                d.read_head(bad, 1).unwrap_err(),
                DemoFsError::NotAName(_)
            ));
        }
    }
}
