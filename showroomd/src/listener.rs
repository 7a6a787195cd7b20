//! The Unix socket: binding it safely, and serving each connection in its own task (hello first, within a timeout).

use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use protocol::codec::{self, CodecError};
use protocol::{ErrorKind, ProtocolError, Request, Response, HELLO_TIMEOUT, PROTOCOL_VERSION};
use tokio::net::UnixStream;
use tracing::{debug, info, warn};

use crate::access::Access;
use crate::commands::{self, Conn, Ctx};

/// Binds the socket: a stale file is removed only once a connect to it has
/// failed, and the permissions are set between bind and listen, so no one
/// can connect while it is still open to all.
pub fn bind(
    path: &Path,
    mode: u32,
    group: Option<nix::unistd::Gid>,
) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // In a shared place such as /tmp, a folder made by another user
        // would let them swap the socket under the clients.
        let owner = std::fs::metadata(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .uid();
        let me = nix::unistd::geteuid().as_raw();
        if owner != me && owner != 0 {
            bail!(
                "the socket's folder {} belongs to uid {owner}, not to this user (uid {me}) nor root: refusing to listen there",
                dir.display()
            );
        }
    }
    ensure_unused(path)?;
    if let Ok(meta) = path.symlink_metadata() {
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket: refusing to remove it",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
        info!(socket = %path.display(), "removed a stale socket nobody listened on");
    }
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("creating the socket")?;
    let addr = UnixAddr::new(path).with_context(|| format!("socket path {}", path.display()))?;
    socket::bind(fd.as_raw_fd(), &addr).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the permissions of {}", path.display()))?;
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(gid))
            .with_context(|| format!("giving {} to group {gid}", path.display()))?;
    }
    socket::listen(&fd, Backlog::new(128).expect("a valid backlog")).context("listening")?;
    let std_listener = std::os::unix::net::UnixListener::from(fd);
    std_listener.set_nonblocking(true)?;
    Ok(tokio::net::UnixListener::from_std(std_listener)?)
}

/// Fails when a daemon already answers on `path`: checked before anything
/// else starts, so that a second showroomd changes nothing.
pub fn ensure_unused(path: &Path) -> anyhow::Result<()> {
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!(
            "another showroomd is already listening on {}",
            path.display()
        );
    }
    Ok(())
}

async fn refuse(conn: &mut Conn, e: ProtocolError) {
    let _ = codec::write_frame(conn, &Response::Error(e)).await;
}

fn bad_frame(e: &CodecError) -> ProtocolError {
    ProtocolError::new(ErrorKind::BadFrame, format!("bad frame: {e}"))
}

/// Serves one client until it goes away, says something malformed, or showroomd stops.
pub async fn serve(ctx: Arc<Ctx>, access: Arc<Access>, stream: UnixStream) {
    let peer = stream.peer_cred().ok();
    let mut conn = codec::framed(stream);
    match tokio::time::timeout(HELLO_TIMEOUT, codec::read_frame::<_, Request>(&mut conn)).await {
        Err(_) => {
            debug!("a client said nothing within {HELLO_TIMEOUT:?}; dropped");
            return;
        }
        Ok(Ok(Some(Request::Hello { version }))) if version == PROTOCOL_VERSION => {
            if codec::write_frame(
                &mut conn,
                &Response::Hello {
                    version: PROTOCOL_VERSION,
                },
            )
            .await
            .is_err()
            {
                return;
            }
        }
        Ok(Ok(Some(Request::Hello { version }))) => {
            let msg = format!("protocol version mismatch: the client speaks {version}, showroomd speaks {PROTOCOL_VERSION}");
            warn!("{msg}");
            return refuse(
                &mut conn,
                ProtocolError::new(ErrorKind::VersionMismatch, msg),
            )
            .await;
        }
        Ok(Ok(Some(_))) => {
            let e =
                ProtocolError::new(ErrorKind::InvalidRequest, "the first frame must be a hello");
            return refuse(&mut conn, e).await;
        }
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            warn!(error = %e, "bad frame in place of a hello");
            if e.is_malformed() {
                refuse(&mut conn, bad_frame(&e)).await;
            }
            return;
        }
    }
    loop {
        let next = tokio::select! {
            r = codec::read_frame::<_, Request>(&mut conn) => r,
            // Idle connections end at shutdown; requests in flight finish first.
            _ = ctx.streams_stop.cancelled() => return,
        };
        let req = match next {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "bad frame; closing that connection");
                if e.is_malformed() {
                    refuse(&mut conn, bad_frame(&e)).await;
                }
                return;
            }
        };
        if commands::is_mutating(&req) {
            if let Err(e) = access.check(peer.as_ref()) {
                refuse(&mut conn, e).await;
                continue;
            }
        }
        if let Err(e) = commands::dispatch(&ctx, &mut conn, req).await {
            debug!(error = %e, "connection ended while answering");
            return;
        }
    }
}
