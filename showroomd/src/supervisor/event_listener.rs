//! `showroomd --supervisor-events SOCKET`: the event listener supervisord runs as its child, forwarding each process state change to showroomd as one line.
//!
//! supervisord sends the next event to a listener only once the last one is
//! acknowledged, and keeps the ones waiting in a bounded buffer whose oldest
//! it drops when full. So every event is acknowledged at once, whether or not
//! showroomd takes it: an event showroomd missed (it was restarting) is
//! covered by the full sweep it makes at start, and a late one is worse than
//! none. Nothing here blocks on showroomd for more than `WRITE_TIMEOUT`.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info, warn};

use super::events::{encode_line, Decoder, ProcessEvent, ACK, READY};

/// A showroomd this slow to read a line is busy: the event is dropped rather
/// than held up, and showroomd's resync on the next connection covers it.
const WRITE_TIMEOUT: Duration = Duration::from_millis(250);

/// Runs the listener on this process's stdin and stdout until supervisord
/// closes stdin (it is stopping the listener).
pub fn run(socket: &Path) -> anyhow::Result<()> {
    info!(socket = %socket.display(), "forwarding supervisord's process events");
    let mut fwd = Forwarder::new(socket);
    fwd.keep_connected();
    serve(std::io::stdin().lock(), std::io::stdout().lock(), &mut fwd)?;
    info!("supervisord closed the event stream");
    Ok(())
}

/// Speaks the listener protocol on `input`/`output`, handing each process
/// state event to `fwd`. Returns at the end of `input`; an error when the
/// stream cannot be read as supervisord's (supervisord then restarts the
/// listener, and the event it was sending goes to the next one).
pub fn serve(
    mut input: impl Read,
    mut output: impl Write,
    fwd: &mut Forwarder,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut send = |bytes: &[u8]| -> anyhow::Result<()> {
        output
            .write_all(bytes)
            .and_then(|()| output.flush())
            .context("writing to supervisord")
    };
    send(READY)?;
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading from supervisord"),
        };
        decoder.feed(&buf[..n]);
        while let Some(event) = decoder
            .next_event()
            .context("reading supervisord's event stream")?
        {
            // Acknowledged before it is forwarded: supervisord's buffer
            // drains at its own pace whatever showroomd does.
            send(ACK)?;
            if let Some(pe) = event.process_event() {
                fwd.send(&pe);
            } else {
                debug!(event = %event.eventname, "not a process state event; ignored");
            }
            send(READY)?;
        }
    }
}

/// The connection to showroomd's events socket, made when there is something
/// to say, and made again after showroomd restarted. With [`Forwarder::keep_connected`]
/// it is also held open between events: showroomd takes an open connection as
/// word that supervisord is alive (the listener dies with supervisord's pipe),
/// and so asks supervisord itself far more rarely.
pub struct Forwarder {
    path: PathBuf,
    conn: Shared,
    /// Whether the last attempt reached showroomd, so that an outage is
    /// logged once, not once per event.
    reachable: bool,
}

/// The current connection and its number. The lock exists because the
/// keeper thread (which makes the connection and notices its end) and the
/// event loop (which writes to it) share it; it is held for one connect, one
/// write or one swap, never while waiting to read.
type Shared = Arc<Mutex<(u64, Option<UnixStream>)>>;

/// How often the keeper tries to reach a showroomd that is not listening.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

impl Forwarder {
    pub fn new(path: &Path) -> Self {
        Forwarder {
            path: path.to_owned(),
            conn: Arc::new(Mutex::new((0, None))),
            reachable: true,
        }
    }

    /// Starts a thread that keeps a connection open while showroomd listens:
    /// it connects (again every `RECONNECT_EVERY` while it cannot) and waits
    /// for showroomd to close the connection. showroomd never writes to it.
    pub fn keep_connected(&self) {
        let path = self.path.clone();
        let shared = self.conn.clone();
        std::thread::spawn(move || loop {
            let current = {
                let mut guard = lock(&shared);
                match &guard.1 {
                    Some(c) => c.try_clone().ok().map(|c| (guard.0, c)),
                    None => match connect(&path) {
                        Ok(c) => {
                            guard.0 += 1;
                            let watched = c.try_clone().ok().map(|w| (guard.0, w));
                            guard.1 = Some(c);
                            debug!("connected to showroomd's events socket");
                            watched
                        }
                        Err(_) => None,
                    },
                }
            };
            if let Some((number, mut watched)) = current {
                // Returns when showroomd closes it (or the write side gave up on it).
                let mut byte = [0u8; 64];
                while matches!(watched.read(&mut byte), Ok(n) if n > 0) {}
                let mut guard = lock(&shared);
                if guard.0 == number {
                    guard.1 = None;
                }
            }
            std::thread::sleep(RECONNECT_EVERY);
        });
    }

    /// Forwards one event; whether showroomd took it. An event nobody takes is dropped.
    pub fn send(&mut self, event: &ProcessEvent) -> bool {
        let line = encode_line(event);
        // A connection to a showroomd that has since restarted fails at the
        // first write: one more try on a fresh connection.
        for _ in 0..2 {
            let written = {
                let mut guard = lock(&self.conn);
                if guard.1.is_none() {
                    match connect(&self.path) {
                        Ok(c) => {
                            guard.0 += 1;
                            guard.1 = Some(c);
                        }
                        Err(e) => {
                            drop(guard);
                            self.unreachable(&e);
                            return false;
                        }
                    }
                }
                let conn = guard.1.as_mut().expect("made just above");
                let r = conn.write_all(line.as_bytes());
                if r.is_err() {
                    // Shut down so that the keeper's read of it ends too.
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                    guard.1 = None;
                }
                r
            };
            match written {
                Ok(()) => {
                    if !self.reachable {
                        info!("showroomd takes events again");
                        self.reachable = true;
                    }
                    return true;
                }
                Err(e) => debug!(error = %e, "events connection lost"),
            }
        }
        self.unreachable(&std::io::Error::other("writes fail on a fresh connection"));
        false
    }

    fn unreachable(&mut self, e: &std::io::Error) {
        if self.reachable {
            warn!(socket = %self.path.display(), error = %e, "showroomd does not take events; dropping them until it does");
            self.reachable = false;
        }
    }
}

/// The shared connection; a panic elsewhere while holding it left nothing half done.
fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, (u64, Option<UnixStream>)> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn connect(path: &Path) -> std::io::Result<UnixStream> {
    let c = UnixStream::connect(path)?;
    c.set_write_timeout(Some(WRITE_TIMEOUT))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::os::unix::net::UnixListener;

    /// Hands out its bytes a few at a time, as a pipe may.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn events(names: &[(&str, &str)]) -> Vec<u8> {
        let mut out = vec![];
        for (i, (event, program)) in names.iter().enumerate() {
            let payload =
                format!("processname:{program} groupname:{program} from_state:STARTING pid:1");
            out.extend(
                format!("ver:3.0 server:supervisor serial:{i} pool:l poolserial:{i} eventname:{event} len:{}\n", payload.len())
                    .bytes(),
            );
            out.extend(payload.bytes());
        }
        out
    }

    fn acks(n: usize) -> Vec<u8> {
        let mut v = READY.to_vec();
        for _ in 0..n {
            v.extend(ACK);
            v.extend(READY);
        }
        v
    }

    const SAMPLE: &[(&str, &str)] = &[
        ("PROCESS_STATE_RUNNING", "a"),
        ("TICK_5", "ignored"),
        ("PROCESS_STATE_EXITED", "b"),
    ];

    #[test]
    fn every_event_is_acknowledged_when_nobody_listens() {
        let dir = tempfile::tempdir().unwrap();
        let mut fwd = Forwarder::new(&dir.path().join("none.sock"));
        let mut out = vec![];
        let input = Trickle {
            data: events(SAMPLE),
            pos: 0,
            step: 7,
        };
        serve(input, &mut out, &mut fwd).unwrap();
        assert_eq!(out, acks(3));
    }

    #[test]
    fn process_events_are_forwarded_as_lines_and_reconnected_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sock");
        let mut fwd = Forwarder::new(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let mut out = vec![];
        serve(&events(SAMPLE)[..], &mut out, &mut fwd).unwrap();
        assert_eq!(out, acks(3));
        let (conn, _) = listener.accept().unwrap();
        let mut lines = std::io::BufReader::new(conn).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "v1 RUNNING a a STARTING");
        assert_eq!(lines.next().unwrap().unwrap(), "v1 EXITED b b STARTING");

        // showroomd restarts: the old connection is gone, a new socket takes its place.
        drop(lines);
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        assert!(!fwd.send(&ProcessEvent {
            program: "lost".into(),
            group: "lost".into(),
            state: "RUNNING".into(),
            from: "STARTING".into(),
        }));
        let listener = UnixListener::bind(&path).unwrap();
        serve(
            &events(&[("PROCESS_STATE_FATAL", "c")])[..],
            &mut vec![],
            &mut fwd,
        )
        .unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut lines = std::io::BufReader::new(conn).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "v1 FATAL c c STARTING");
    }

    #[test]
    fn a_kept_connection_opens_with_no_event_and_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sock");
        let fwd = Forwarder::new(&path);
        fwd.keep_connected();
        // showroomd comes up after the listener: the connection follows within a second or so.
        let listener = UnixListener::bind(&path).unwrap();
        let (conn, _) = listener.accept().unwrap();
        drop(conn);
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        // A restarted showroomd is reached again, still with no event sent.
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let t0 = std::time::Instant::now();
        loop {
            match listener.accept() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        t0.elapsed() < Duration::from_secs(10),
                        "no reconnection within 10 s"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_stream_that_is_not_supervisords_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut fwd = Forwarder::new(&dir.path().join("none.sock"));
        let err = serve(&b"hello there\n"[..], &mut vec![], &mut fwd).unwrap_err();
        assert!(format!("{err:#}").contains("hello there"), "{err:#}");
    }
}
