//! showroomd's side of supervisord's process events: the socket the event listener forwards to, and the hints that come out of it.
//!
//! # How the hints are meant to be used
//!
//! A [`Hint::Process`] says "this program changed state; look now". Whoever
//! takes it (the poller, or the actor) reads that one program fresh with
//! `getProcessInfo` and feeds the reading in as any other observation. It is
//! never applied as the new state: events are delivered late (supervisord
//! buffers them, the listener forwards them one by one), so a `RUNNING` event
//! buffered before a `stop` could otherwise undo the stop's own later
//! reading. A fresh reading is always at least as new as the action that
//! preceded it. This also makes a forged line harmless: any process running
//! as showroom's user (a demo too) can reach the socket, but all it can do
//! is cause a `getProcessInfo`.
//!
//! [`Hint::Resync`] says "events may have been lost": a listener connected
//! (it may have dropped events while nobody listened, or it was restarted),
//! a line could not be read (a listener from another version), or hints came
//! faster than they were taken. The taker answers with one full sweep
//! (`getAllProcessInfo`). The periodic sweep stays, rarer, as the check that
//! supervisord is alive and that nothing was missed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, LinesCodec};
use tracing::{debug, info, warn};

use crate::supervisor::events::parse_line;
pub use crate::supervisor::events::ProcessEvent;

/// What comes out of the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Read this program's state fresh.
    Process(ProcessEvent),
    /// Events may have been lost: read every program's state.
    Resync,
    /// A listener's connection ended, as it does when supervisord dies (the
    /// listener exits at the end of its stdin): check that supervisord is alive.
    ListenerLeft,
}

/// Hints waiting to be taken; past this the taker is behind, and one resync replaces them.
const QUEUE: usize = 1024;
/// A forwarded line is well under this; a longer one is not the listener's.
const MAX_LINE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("cannot make {path} a private folder for the events socket: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot bind the events socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The bound events socket and the task reading it; dropping it stops the task.
pub struct Receiver {
    rx: mpsc::Receiver<Hint>,
    /// Listener connections open now, counted by their tasks.
    open: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    path: PathBuf,
}

impl Receiver {
    /// Binds `path` (replacing a socket left by an earlier showroomd) and
    /// starts taking connections. Its folder is made private to this user
    /// (0700): only supervisord's children running as showroom's user reach
    /// the socket. Must be called inside a tokio runtime.
    pub fn start(path: &Path) -> Result<Receiver, ReceiverError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|source| ReceiverError::Folder {
                path: dir.to_owned(),
                source,
            })?;
        let bind_err = |source| ReceiverError::Bind {
            path: path.to_owned(),
            source,
        };
        // One showroomd owns the state folder (it holds the lock): a socket
        // here is a dead one's.
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(bind_err(e)),
        }
        let listener = UnixListener::bind(path).map_err(bind_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let open = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(listener, tx, open.clone()));
        Ok(Receiver {
            rx,
            open,
            task,
            path: path.to_owned(),
        })
    }

    /// The next hint; None once the receiver stopped.
    pub async fn recv(&mut self) -> Option<Hint> {
        self.rx.recv().await
    }

    /// How many listeners are connected now. The listener holds its
    /// connection open between events and exits with supervisord, so one
    /// open connection is word that supervisord is alive.
    pub fn listeners(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A hint already waiting, if any, without waiting.
    pub fn try_recv(&mut self) -> Option<Hint> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: UnixListener, tx: mpsc::Sender<Hint>, open: Arc<AtomicUsize>) {
    let me = nix::unistd::geteuid().as_raw();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            // Reap finished connections as they end, so the set stays small.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "events socket: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(c) if c.uid() == me => {}
            Ok(c) => {
                warn!(
                    uid = c.uid(),
                    "events socket: refused a peer that is not showroom's user"
                );
                continue;
            }
            Err(e) => {
                warn!(error = %e, "events socket: no peer credentials; refused");
                continue;
            }
        }
        conns.spawn(read_conn(stream, tx.clone(), Open::count(&open)));
    }
}

/// One open connection in the count, until dropped.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn count(open: &Arc<AtomicUsize>) -> Open {
        open.fetch_add(1, Ordering::Relaxed);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn read_conn(stream: UnixStream, tx: mpsc::Sender<Hint>, open: Open) {
    debug!("event listener connected");
    read_lines(stream, &tx).await;
    drop(open);
    debug!("event listener disconnected");
    let _ = tx.send(Hint::ListenerLeft).await;
}

async fn read_lines(stream: UnixStream, tx: &mpsc::Sender<Hint>) {
    // It may have dropped events while nobody listened.
    if tx.send(Hint::Resync).await.is_err() {
        return;
    }
    let mut lines = FramedRead::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    while let Some(line) = lines.next().await {
        let hint = match line {
            Ok(l) => match parse_line(&l) {
                Some(e) => Hint::Process(e),
                None => {
                    info!(line = %l.chars().take(120).collect::<String>(), "events socket: a line not understood; resyncing");
                    Hint::Resync
                }
            },
            Err(e) => {
                warn!(error = %e, "events socket: unreadable; closing that connection");
                let _ = tx.send(Hint::Resync).await;
                return;
            }
        };
        match tx.try_send(hint) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Behind: this hint is dropped, and one resync (waited for,
                // holding up this connection meanwhile) stands for it.
                if tx.send(Hint::Resync).await.is_err() {
                    return;
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    async fn next(r: &mut Receiver) -> Hint {
        tokio::time::timeout(Duration::from_secs(5), r.recv())
            .await
            .expect("a hint within 5 s")
            .expect("receiver running")
    }

    #[tokio::test]
    async fn lines_become_hints_after_a_resync_and_bad_lines_resync() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("supervisor").join("events.sock");
        // A socket left by a dead showroomd is replaced.
        std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let mut r = Receiver::start(&sock).unwrap();
        let mode = std::fs::metadata(sock.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);

        let mut c = UnixStream::connect(&sock).await.unwrap();
        c.write_all(b"v1 RUNNING a a STARTING\nv9 whatever\nv1 EXITED a a RUNNING\n")
            .await
            .unwrap();
        assert_eq!(next(&mut r).await, Hint::Resync);
        let Hint::Process(e) = next(&mut r).await else {
            panic!("a process hint")
        };
        assert_eq!(
            (e.program.as_str(), e.state.as_str(), e.from.as_str()),
            ("a", "RUNNING", "STARTING")
        );
        assert_eq!(next(&mut r).await, Hint::Resync);
        assert!(matches!(next(&mut r).await, Hint::Process(e) if e.state == "EXITED"));

        // A second listener (supervisord restarted it) is heard as well.
        let mut c2 = UnixStream::connect(&sock).await.unwrap();
        c2.write_all(b"v1 FATAL b b BACKOFF\n").await.unwrap();
        assert_eq!(next(&mut r).await, Hint::Resync);
        assert!(matches!(next(&mut r).await, Hint::Process(e) if e.program == "b"));

        assert_eq!(r.listeners(), 2);

        // A line far too long closes that connection with a resync.
        c2.write_all(&vec![b'x'; MAX_LINE * 2]).await.unwrap();
        assert_eq!(next(&mut r).await, Hint::Resync);
        assert_eq!(next(&mut r).await, Hint::ListenerLeft);
        assert_eq!(r.listeners(), 1);
        // A listener that goes (with its supervisord) says so.
        drop(c);
        assert_eq!(next(&mut r).await, Hint::ListenerLeft);
        assert_eq!(r.listeners(), 0);
        drop(r);
        assert!(!sock.exists(), "the socket goes with the receiver");
    }

    #[tokio::test]
    async fn a_taker_behind_gets_a_resync_in_place_of_what_was_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("events.sock");
        let mut r = Receiver::start(&sock).unwrap();
        let mut c = UnixStream::connect(&sock).await.unwrap();
        let mut text = String::new();
        for i in 0..QUEUE + 10 {
            text += &format!("v1 RUNNING p{i} p{i} STARTING\n");
        }
        c.write_all(text.as_bytes()).await.unwrap();
        // Give the reader time to fill the queue before anything is taken.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut resyncs = 0;
        let mut processes = 0;
        while let Ok(Some(h)) = tokio::time::timeout(Duration::from_millis(300), r.recv()).await {
            match h {
                Hint::Resync => resyncs += 1,
                Hint::Process(_) => processes += 1,
                Hint::ListenerLeft => panic!("the connection is still open"),
            }
        }
        assert!(
            resyncs >= 2,
            "the connection's and at least one for the overflow"
        );
        assert!(processes < QUEUE + 10, "some were dropped");
        assert!(processes >= QUEUE - 1);
    }
}
