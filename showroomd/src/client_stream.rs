//! A client's stream whose writes fail once the client reads nothing for a while: the connection side makes it, the commands write their frames through it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;

/// A client's stream whose writes fail once they make no progress for
/// the given limit (`listener::WRITE_STALL` for clients).
pub struct ClientStream {
    inner: UnixStream,
    stall: Duration,
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ClientStream {
    pub fn new(inner: UnixStream, stall: Duration) -> Self {
        ClientStream {
            inner,
            stall,
            stalled_since: None,
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.stalled_since = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let stall = this.stall;
                let timer = this
                    .stalled_since
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.stalled_since = None;
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the client read nothing for {}s", stall.as_secs()),
                    )));
                }
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::net::UnixStream;

    use super::ClientStream;

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_stall_limit() {
        use tokio::io::AsyncWriteExt;
        let (a, _b) = UnixStream::pair().unwrap();
        let mut s = ClientStream::new(a, Duration::from_millis(200));
        let chunk = vec![0u8; 64 * 1024];
        let t0 = Instant::now();
        let e = loop {
            if let Err(e) = s.write_all(&chunk).await {
                break e;
            }
        };
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
