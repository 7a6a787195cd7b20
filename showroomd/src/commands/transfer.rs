//! `export NAME` streams a demo's archive to the client in pieces; `import` takes one in pieces, unpacks it as the sandbox's account, and hands it to the actor like a clone.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use protocol::codec::{self, CodecError};
use protocol::{ErrorKind, ImportRequest, ProtocolError, Request, Response, ARCHIVE_PIECE_BYTES};
use tokio::sync::mpsc;

use super::{Conn, Ctx};
use crate::actor::Unpacked;

/// An archive larger than this is refused as it comes.
const MAX_ARCHIVE_BYTES: u64 = 8 << 30;
/// A record or program section larger than this is no record.
const MAX_SMALL_FILE: u64 = 1 << 20;

/// Removes an archive (or an unpacked one) however the request ends.
struct Scratch(Vec<PathBuf>);
impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p).or_else(|_| std::fs::remove_dir_all(p));
        }
    }
}

/// Made at start with the demos' account's group (an import is unpacked
/// and copied as that account); made here only if it went since.
fn archives_dir(ctx: &Ctx) -> Result<PathBuf, ProtocolError> {
    let dir = ctx.layout.archives();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| internal(&format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

fn internal(what: &str, e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::new(ErrorKind::Internal, format!("{what}: {e}"))
}

fn invalid(what: String) -> ProtocolError {
    ProtocolError::new(ErrorKind::InvalidRequest, what)
}

pub async fn export(ctx: &Ctx, conn: &mut Conn, name: String) -> Result<(), CodecError> {
    let archive = match archives_dir(ctx) {
        Ok(_) => ctx.handle.export(name).await,
        Err(e) => Err(e),
    };
    let archive = match archive {
        Ok(a) => a,
        Err(e) => return super::reply(conn, Err(e)).await,
    };
    let _scratch = Scratch(vec![archive.clone()]);
    let mut file = match std::fs::File::open(&archive) {
        Ok(f) => f,
        Err(e) => return super::reply(conn, Err(internal("reading the archive", e))).await,
    };
    let mut buf = vec![0u8; ARCHIVE_PIECE_BYTES];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return super::reply(conn, Err(internal("reading the archive", e))).await,
        };
        codec::write_frame(conn, &Response::Archive(buf[..n].to_vec())).await?;
    }
    super::reply(conn, Ok(Response::Done)).await
}

pub async fn import(ctx: &Ctx, conn: &mut Conn, req: ImportRequest) -> Result<(), CodecError> {
    let mut scratch = Scratch(vec![]);
    // The pieces are read whatever happens, so that the connection stays in step.
    let received = receive(ctx, conn, &mut scratch).await?;
    let unpacked = match received {
        Ok(archive) => match req.validate() {
            Ok(()) => unpack(ctx, &archive, &mut scratch)
                .await
                .and_then(|dir| read_unpacked(&dir, req.name)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let unpacked = match unpacked {
        Ok(u) => u,
        Err(e) => return super::reply(conn, Err(e)).await,
    };
    let (tx, rx) = mpsc::channel::<String>(256);
    super::deploy::stream(conn, rx, ctx.handle.import(unpacked, tx)).await
}

/// Writes the `Archive` pieces to a file of showroomd's until the empty one.
async fn receive(
    ctx: &Ctx,
    conn: &mut Conn,
    scratch: &mut Scratch,
) -> Result<Result<PathBuf, ProtocolError>, CodecError> {
    let mut file = archives_dir(ctx).and_then(|_| {
        let path = ctx.layout.archive("import");
        scratch.0.push(path.clone());
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map(|f| (f, path))
            .map_err(|e| internal("storing the archive", e))
    });
    let mut size = 0u64;
    loop {
        let piece = match codec::read_frame::<_, Request>(conn).await? {
            Some(Request::Archive(p)) => p,
            Some(other) => {
                return Ok(Err(invalid(format!(
                    "an import sends its archive as pieces, then an empty one; got {other:?}"
                ))))
            }
            None => return Err(CodecError::Io(std::io::ErrorKind::UnexpectedEof.into())),
        };
        if piece.is_empty() {
            break;
        }
        size += piece.len() as u64;
        if let Ok((f, _)) = &mut file {
            if size > MAX_ARCHIVE_BYTES {
                file = Err(invalid(format!(
                    "the archive is larger than {MAX_ARCHIVE_BYTES} bytes"
                )));
            } else if let Err(e) = f.write_all(&piece) {
                file = Err(internal("storing the archive", e));
            }
        }
    }
    Ok(file.map(|(_, path)| path))
}

/// `tar --extract` as the sandbox's account (so that nothing in the archive
/// lands as root's, and no path in it reaches past the folder), in a fresh
/// folder of that account's.
async fn unpack(
    ctx: &Ctx,
    archive: &Path,
    scratch: &mut Scratch,
) -> Result<PathBuf, ProtocolError> {
    let dir = archive.with_extension("d");
    scratch.0.push(dir.clone());
    std::fs::create_dir(&dir).map_err(|e| internal("making a folder to unpack into", e))?;
    ctx.sandbox
        .prepare_demo_dir(&dir)
        .map_err(|e| internal("giving it to the sandbox's account", e))?;
    let input = std::fs::File::open(archive).map_err(|e| internal("reading the archive", e))?;
    let mut argv = ctx.sandbox.drop_privileges();
    argv.extend(
        ["tar", "--extract", "--no-same-owner", "--file", "-"]
            .iter()
            .map(|s| s.to_string()),
    );
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        // Entered as root: the account needs no way through the state folder.
        .current_dir(&dir)
        .stdin(input)
        .output()
        .await
        .map_err(|e| internal("cannot run tar", e))?;
    if !out.status.success() {
        return Err(invalid(
            "the file is not an archive of showroomctl export: tar could not unpack it".into(),
        )
        .with_detail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(dir)
}

/// The one demo folder in it, its record (`demo.conf`) and old folder
/// (its program section's `directory=`), each read without following a link.
fn read_unpacked(dir: &Path, name: Option<String>) -> Result<Unpacked, ProtocolError> {
    let not_ours = || {
        invalid("the archive holds no demo of showroomctl export's (one folder NAME with NAME/demo.conf)".into())
    };
    let entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| internal("reading the unpacked archive", e))?
        .filter_map(Result::ok)
        .collect();
    let [entry] = entries.as_slice() else {
        return Err(not_ours());
    };
    if !entry.file_type().is_ok_and(|t| t.is_dir()) {
        return Err(not_ours());
    }
    let old_name = entry.file_name().to_string_lossy().into_owned();
    protocol::names::validate_name(&old_name).map_err(|_| not_ours())?;
    let folder = entry.path();
    let record_text = read_small(&folder.join("demo.conf")).ok_or_else(not_ours)?;
    let record: crate::store::DemoRecord = toml::from_str(&record_text)
        .map_err(|_| invalid("the archive's demo.conf is not a showroom record".into()))?;
    let old_dir = read_small(&folder.join("supervisor.cfg")).and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("directory=").map(str::to_owned))
    });
    Ok(Unpacked {
        name: name.unwrap_or_else(|| old_name.clone()),
        old_name,
        record,
        old_dir,
        dir: folder,
    })
}

/// A regular file of at most 1 MiB, opened without following a link.
fn read_small(path: &Path) -> Option<String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(MAX_SMALL_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}
