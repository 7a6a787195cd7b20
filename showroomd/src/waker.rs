//! The waker: the front door proxies a sleeping demo's requests to this Unix socket; each is held while the demo is started (one wake a demo, `max_wake_jobs` at once, the rest in order) until its port answers, then its bytes are passed on and both directions spliced, so any client gets the demo's real answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::actor::{Command, Handle};
use protocol::DemoStatus;

/// A request head larger than this is refused: no demo's wake waits on it.
const HEAD_MAX: usize = 64 * 1024;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waking demo's port is tried.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// A wake's end: the demo's port, or why it did not wake (for the log).
type Outcome = Option<Result<u16, String>>;

#[derive(Debug, thiserror::Error)]
pub enum WakerError {
    #[error("binding the wake socket {path}: {source}")]
    Bind {
        path: String,
        source: std::io::Error,
    },
}

pub struct Waker {
    handle: Handle,
    /// `STATE/demos`: a demo's processes work in its folder there.
    demos: std::path::PathBuf,
    /// Each demo has a network of its own, its ports forwarded by pasta.
    own_network: bool,
    slots: Arc<Semaphore>,
    timeout: Duration,
    /// The wakes under way, each watched by the requests waiting for it.
    waking: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
}

/// Binds the wake socket (any stale one removed), reachable by the front
/// door's Apache, which runs as the sandbox's account.
pub fn bind(path: &std::path::Path) -> Result<UnixListener, WakerError> {
    let err = |source| WakerError::Bind {
        path: path.display().to_string(),
        source,
    };
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(err)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(err)?;
    Ok(l)
}

impl Waker {
    pub fn new(
        handle: Handle,
        max_jobs: usize,
        timeout: Duration,
        demos: std::path::PathBuf,
        own_network: bool,
    ) -> Arc<Waker> {
        Arc::new(Waker {
            handle,
            demos,
            own_network,
            // Tokio's semaphore is fair: queued wakes get their turn in order.
            slots: Arc::new(Semaphore::new(max_jobs)),
            timeout,
            waking: Mutex::new(HashMap::new()),
        })
    }

    /// Serves the socket until `stop`.
    pub async fn run(self: Arc<Self>, listener: UnixListener, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = listener.accept() => match r {
                    Ok((stream, _)) => {
                        tokio::spawn(self.clone().serve(stream));
                    }
                    Err(e) => {
                        warn!(error = %e, "the wake socket refused a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    async fn serve(self: Arc<Self>, mut client: UnixStream) {
        let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await {
            Ok(Ok(h)) => h,
            Ok(Err(why)) => {
                debug!(why, "a request to the waker was refused");
                let _ = answer(&mut client, 400, "Bad request").await;
                return;
            }
            Err(_) => return,
        };
        let Some(name) = header(&head, crate::frontdoor::WAKE_HEADER) else {
            let _ = answer(&mut client, 400, "Bad request").await;
            return;
        };
        let port = match self.wake(&name).await {
            Ok(p) => p,
            Err(why) => {
                warn!(demo = %name, reason = %why, "a request for a sleeping demo got a 503");
                let _ = answer(&mut client, 503, "This demo could not be woken up").await;
                return;
            }
        };
        let mut demo = match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(d) => d,
            Err(e) => {
                warn!(demo = %name, error = %e, "the woken demo's port refused the held request");
                let _ = answer(&mut client, 503, "This demo could not be woken up").await;
                return;
            }
        };
        let head = without_header(&head, crate::frontdoor::WAKE_HEADER);
        if demo.write_all(&head).await.is_err() {
            warn!(demo = %name, "a request for a sleeping demo got a 503: it closed the connection");
            let _ = answer(&mut client, 503, "This demo could not be woken up").await;
            return;
        }
        // Both ways at once (a body still coming, a WebSocket); but a demo
        // that dies before its first byte (a start that fails once its port
        // is open) is the visitor's 503, not the front door's 502.
        let (mut cr, mut cw) = client.split();
        let (mut dr, mut dw) = demo.split();
        let upstream = async {
            let _ = tokio::io::copy(&mut cr, &mut dw).await;
            let _ = dw.shutdown().await;
        };
        let downstream = async {
            let mut first = vec![0u8; 16 * 1024];
            match dr.read(&mut first).await {
                Ok(n) if n > 0 => {
                    if cw.write_all(&first[..n]).await.is_ok() {
                        let _ = tokio::io::copy(&mut dr, &mut cw).await;
                    }
                    let _ = cw.shutdown().await;
                }
                _ => {
                    warn!(demo = %name, "a request for a sleeping demo got a 503: it closed the connection before answering");
                    let _ = answer(&mut cw, 503, "This demo could not be woken up").await;
                }
            }
        };
        tokio::pin!(upstream);
        tokio::pin!(downstream);
        tokio::select! {
            _ = &mut downstream => {}
            _ = &mut upstream => downstream.await,
        }
    }

    /// Wakes the demo, or waits for the wake under way: its port, or why not.
    async fn wake(self: &Arc<Self>, name: &str) -> Result<u16, String> {
        let mut rx = {
            let mut waking = self.waking.lock().expect("waker map poisoned");
            match waking.get(name) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    waking.insert(name.to_owned(), rx.clone());
                    let me = self.clone();
                    let name = name.to_owned();
                    tokio::spawn(async move {
                        let outcome = me.wake_one(&name).await;
                        me.waking.lock().expect("waker map poisoned").remove(&name);
                        let _ = tx.send(Some(outcome));
                        // After the held requests are on their way: the front
                        // door's reload this brings does not delay them.
                        if let Err(e) = me.handle.command(Command::Woken(name.clone())).await {
                            warn!(demo = %name, error = %e.message, "the front door still holds its requests for the waker");
                        }
                    });
                    rx
                }
            }
        };
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| "the wake was cut short".to_owned())?;
        outcome.clone().expect("waited for an outcome")
    }

    /// One demo's wake: a start through the actor, ended by its port
    /// answering (not by the start's answer, which waits for supervisord's
    /// `startsecs`), by the start failing, or by `wake_timeout`.
    async fn wake_one(&self, name: &str) -> Result<u16, String> {
        let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
        let (port, app_ports, under_way) = self
            .handle
            .snapshot()
            .demos
            .get(name)
            .and_then(|d| {
                let port = d.record.port?;
                let ports = crate::sandbox::forwarded_ports(&d.record.ports(), d.has_vhost);
                Some((port, ports, d.status == DemoStatus::Starting))
            })
            .ok_or_else(|| format!("no demo {name} with a port"))?;
        let mut ready = crate::readiness::Readiness {
            dir: self.demos.join(name),
            port,
            app_ports,
            own_network: self.own_network,
            inside: None,
            // The wake's own bound is wake_timeout; RUNNING is not its end.
            past_running: std::time::Duration::ZERO,
        };
        let started = std::time::Instant::now();
        // Its own task: the start goes on when the port answers first.
        let handle = self.handle.clone();
        let owned = name.to_owned();
        let mut start = tokio::spawn(async move {
            if under_way {
                // Its wake's start has yet to end (the front door holds its
                // requests here until then): only its port is waited for, not
                // the actor, which holds a command for it until that end. (A
                // demo being put to sleep is still RUNNING: its wake waits
                // in the actor for the stop.)
                Ok(protocol::Response::Done)
            } else {
                handle.command(Command::Wake(owned)).await
            }
        });
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut start_done = false;
        loop {
            tokio::select! {
                r = &mut start, if !start_done => {
                    start_done = true;
                    match r {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(match e.detail {
                            Some(d) => format!("{} ({d})", e.message),
                            None => e.message,
                        }),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                _ = tokio::time::sleep(PROBE_EVERY) => {
                    if ready.answers().await {
                        info!(demo = name, ms = started.elapsed().as_millis() as u64, "awake: its port answers");
                        return Ok(port);
                    }
                }
                _ = &mut deadline => {
                    return Err(format!("its port did not answer within {:?}", self.timeout));
                }
            }
        }
    }
}

/// Reads up to the end of the request head (and whatever of the body came
/// with it): every byte read is passed on to the demo.
async fn read_head(client: &mut UnixStream) -> Result<Vec<u8>, &'static str> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).await.map_err(|_| "read failed")?;
        if n == 0 {
            return Err("closed before the end of its head");
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if buf[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(buf);
        }
        if buf.len() > HEAD_MAX {
            return Err("head too large");
        }
    }
}

/// A header's value in a request head, by name in any case.
fn header(head: &[u8], name: &str) -> Option<String> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&head[..end]).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// The bytes read with a header's lines left out of the head: the demo
/// gets the request as the front door would have sent it directly.
fn without_header(head: &[u8], name: &str) -> Vec<u8> {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return head.to_vec();
    };
    let mut out = Vec::with_capacity(head.len());
    // Each line with its CRLF; the blank line that ends the head and what follows, as they came.
    for line in head[..end + 2].split_inclusive(|b| *b == b'\n') {
        let is_it = line
            .iter()
            .position(|b| *b == b':')
            .is_some_and(|i| line[..i].trim_ascii().eq_ignore_ascii_case(name.as_bytes()));
        if !is_it {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&head[end + 2..]);
    out
}

/// A short page for the visitor (the front door passes it on).
async fn answer<W: tokio::io::AsyncWrite + Unpin>(
    client: &mut W,
    status: u16,
    words: &str,
) -> std::io::Result<()> {
    let reason = if status == 503 {
        "Service Unavailable"
    } else {
        "Bad Request"
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{words}</title></head><body><h1>{words}</h1><p>Please try again in a minute.</p></body></html>\n"
    );
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-cache\r\nRetry-After: 60\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(text.as_bytes()).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_named_by_the_front_doors_header() {
        let head = b"GET / HTTP/1.1\r\nHost: a.localhost\r\nx-showroom-wake: app\r\n\r\nbody";
        assert_eq!(header(head, "X-Showroom-Wake").as_deref(), Some("app"));
        assert_eq!(
            header(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "X-Showroom-Wake"),
            None
        );
        // Not a whole head: nothing is trusted.
        assert_eq!(
            header(
                b"GET / HTTP/1.1\r\nX-Showroom-Wake: a\r\n",
                "X-Showroom-Wake"
            ),
            None
        );
        // The demo gets the rest of the head and the body as they came.
        assert_eq!(
            without_header(head, "X-Showroom-Wake"),
            b"GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\nbody"
        );
    }
}
