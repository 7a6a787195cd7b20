//! The Unix socket: binding it safely, and serving each connection in its own task (hello first, within a timeout), under a cap on connections and an idle limit.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use protocol::codec::{self, CodecError};
use protocol::{ErrorKind, ProtocolError, Request, Response, HELLO_TIMEOUT, PROTOCOL_VERSION};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::access::Access;
use crate::client_stream::ClientStream;
use crate::commands::{self, Conn, Ctx};

/// Binds the socket: a stale file is removed only once a connect to it has
/// failed, and the permissions are set between bind and listen, so no one
/// can connect while it is still open to all.
pub fn bind(
    path: &Path,
    mode: u32,
    group: Option<nix::unistd::Gid>,
) -> anyhow::Result<tokio::net::UnixListener> {
    secure_socket_dir(path)?;
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
    // A burst of clients (a cron run beside thousands of held connections)
    // queues here while the accept loop catches up; the kernel caps it at
    // net.core.somaxconn.
    socket::listen(&fd, Backlog::new(1024).expect("a valid backlog")).context("listening")?;
    let std_listener = std::os::unix::net::UnixListener::from(fd);
    std_listener.set_nonblocking(true)?;
    Ok(tokio::net::UnixListener::from_std(std_listener)?)
}

/// Makes the socket's folder (0700) when it is missing, and refuses one
/// another user could swap the socket in: a symbolic link, a folder of
/// another user than this one or root, a folder writable by its group or by
/// others (a `/tmp/showroom-UID` someone else made first). Checked before
/// anything else starts, and again at bind.
pub fn secure_socket_dir(path: &Path) -> anyhow::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !dir.exists() && dir.symlink_metadata().is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let meta = dir
        .symlink_metadata()
        .with_context(|| format!("reading {}", dir.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    let fix = "remove it, or name a socket in a folder of this user's own (--socket, `socket` in the config)";
    if meta.file_type().is_symlink() {
        bail!(
            "the socket's folder {} is a symbolic link: refusing to listen there ({fix})",
            dir.display()
        );
    }
    if !meta.is_dir() {
        bail!("the socket's folder {} is not a folder", dir.display());
    }
    if meta.uid() != me && meta.uid() != 0 {
        bail!(
            "the socket's folder {} belongs to uid {}, not to this user (uid {me}) nor root: refusing to listen there ({fix})",
            dir.display(),
            meta.uid()
        );
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        bail!(
            "the socket's folder {} is writable by others (mode {mode:04o}): anyone could replace the socket; refusing to listen there (chmod go-w it, or {fix})",
            dir.display()
        );
    }
    Ok(())
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

/// Descriptors kept for showroomd's own work (supervisord calls, deploy
/// pipes and logs, Apache's config tests) whatever the clients hold.
pub const RESERVED_FDS: u64 = 256;

/// How long a write to a client may make no progress before the client is
/// dropped: one that stopped reading must not hold its task (and, at
/// shutdown, showroomd) forever. Long enough for a person paging with `less`.
pub const WRITE_STALL: Duration = Duration::from_secs(60);

/// Raises the soft limit on open descriptors as far as the hard limit allows
/// (a system service starts at 1024: 1000 held connections would exhaust
/// it), but no further than showroomd needs, since the demos it starts
/// inherit it and some programs walk every possible descriptor. Returns the
/// soft limit now in force.
pub fn raise_fd_limit(max_connections: usize) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let wanted = (max_connections as u64 + RESERVED_FDS)
        .max(65_536)
        .min(hard);
    if wanted <= soft {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, wanted, hard) {
        Ok(()) => {
            info!(from = soft, to = wanted, "raised the open-descriptor limit");
            wanted
        }
        Err(e) => {
            warn!(soft, hard, error = %e, "cannot raise the open-descriptor limit");
            soft
        }
    }
}

/// The connections being served, so that a newcomer past the cap can take
/// the place of the longest-idle one: whoever holds many idle connections
/// loses their own oldest, never locks others out. Connections in a request
/// (a deploy, a `watch`) are never taken.
pub struct Connections {
    max: usize,
    slots: Mutex<Slots>,
    /// Cancelled at the end of shutdown: closes whatever still holds on.
    all: CancellationToken,
}

#[derive(Default)]
struct Slots {
    next: u64,
    open: HashMap<u64, Slot>,
}

struct Slot {
    /// Since when it waits for a request; None while one is answered.
    idle_since: Option<Instant>,
    cancel: CancellationToken,
}

/// One admitted connection; leaving its place when dropped.
pub struct Admitted {
    id: u64,
    conns: Arc<Connections>,
    cancel: CancellationToken,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections {
            max,
            slots: Mutex::new(Slots::default()),
            all: CancellationToken::new(),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic elsewhere cannot leave a slot map half changed: every change is one call.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection, closing the longest-idle one when all
    /// are taken; None when every connection is in a request.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut slots = self.slots();
        if slots.open.len() >= self.max {
            let oldest = slots
                .open
                .iter()
                .filter_map(|(id, s)| Some((s.idle_since?, *id)))
                .min()?;
            if let Some(evicted) = slots.open.remove(&oldest.1) {
                evicted.cancel.cancel();
            }
            debug!("closed the longest-idle connection for a new one");
        }
        let id = slots.next;
        slots.next += 1;
        let cancel = self.all.child_token();
        slots.open.insert(
            id,
            Slot {
                idle_since: Some(Instant::now()),
                cancel: cancel.clone(),
            },
        );
        Some(Admitted {
            id,
            conns: self.clone(),
            cancel,
        })
    }

    pub fn len(&self) -> usize {
        self.slots().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every connection (the last step of a shutdown).
    pub fn close_all(&self) {
        self.all.cancel();
    }
}

impl Admitted {
    fn set_idle(&self, idle: bool) {
        if let Some(slot) = self.conns.slots().open.get_mut(&self.id) {
            slot.idle_since = idle.then(Instant::now);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.conns.slots().open.remove(&self.id);
    }
}

/// Tells a connection there is no room for it, without waiting on it: the
/// frame fits a fresh socket's buffer, and a client that sent its hello reads
/// it as the answer.
pub fn refuse_full(stream: &UnixStream, max: usize) {
    let e = ProtocolError::new(
        ErrorKind::Busy,
        format!("showroomd is serving its {max} connections (max_connections), all of them busy: try again"),
    );
    if let Ok(payload) = codec::encode(&Response::Error(e)) {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let _ = stream.try_write(&frame);
    }
}

/// Serves one client until it goes away, says something malformed, stays
/// idle past the limit, loses its place to a newcomer, or showroomd stops.
pub async fn serve(ctx: Arc<Ctx>, access: Arc<Access>, stream: UnixStream, slot: Admitted) {
    let cancel = slot.cancel.clone();
    tokio::select! {
        _ = serve_admitted(ctx, access, stream, &slot) => {}
        _ = cancel.cancelled() => debug!("connection closed: its place was taken, or showroomd stops"),
    }
}

async fn serve_admitted(ctx: Arc<Ctx>, access: Arc<Access>, stream: UnixStream, slot: &Admitted) {
    let peer = stream.peer_cred().ok();
    let mut conn = codec::framed(ClientStream::new(stream, WRITE_STALL));
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
    let idle_limit = Duration::from_secs(ctx.cfg.idle_timeout_secs);
    loop {
        slot.set_idle(true);
        let next = tokio::select! {
            r = tokio::time::timeout(idle_limit, codec::read_frame::<_, Request>(&mut conn)) => r,
            // Idle connections end at shutdown; requests in flight finish first.
            _ = ctx.streams_stop.cancelled() => return,
        };
        slot.set_idle(false);
        let Ok(next) = next else {
            debug!("a client sent no request within {idle_limit:?}; closed");
            return;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newcomer_takes_the_place_of_the_longest_idle_connection_never_a_busy_one() {
        let conns = Connections::new(2);
        let first = conns.admit().unwrap();
        let second = conns.admit().unwrap();
        second.set_idle(false);
        let third = conns.admit().expect("the idle one makes room");
        assert!(first.cancel.is_cancelled());
        assert!(!second.cancel.is_cancelled());
        assert_eq!(conns.len(), 2);
        third.set_idle(false);
        assert!(conns.admit().is_none(), "all busy: refused");
        drop(third);
        assert!(conns.admit().is_some());
        conns.close_all();
        assert!(second.cancel.is_cancelled());
    }
}
