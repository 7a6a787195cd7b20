//! A small async client: connect, say hello, then send requests and read responses.

use std::path::{Path, PathBuf};

use tokio::net::UnixStream;

use crate::codec::{self, CodecError, Connection};
use crate::error::{ErrorKind, ProtocolError};
use crate::messages::{Request, Response};
use crate::{HELLO_TIMEOUT, PROTOCOL_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there: showroomctl's exit code 3.
    #[error("cannot reach showroomd at {}: is it running? ({source})", path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A daemon listens but its queue of connections is full: a refusal
    /// (exit 1), not a missing daemon.
    #[error("showroomd at {} is too busy to take the connection (its queue is full): try again", path.display())]
    Busy { path: PathBuf },
    /// The socket is there but not for this user: showroomctl's exit code 1.
    #[error("permission denied on {}: ask for the socket's group (socket_group) or run as its owner", path.display())]
    Forbidden { path: PathBuf },
    #[error("showroomd did not answer the hello within {0:?}")]
    HelloTimeout(std::time::Duration),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("showroomd closed the connection before answering")]
    Closed,
    /// The daemon refused: its error as it sent it.
    #[error("{0}")]
    Refused(ProtocolError),
    #[error("unexpected answer from showroomd: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// True when there was no daemon to talk to, rather than a refusal.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. } | ClientError::HelloTimeout(_) | ClientError::Closed
        ) || matches!(self, ClientError::Codec(CodecError::Io(_)))
    }
}

/// How long a client waits for room in a full connection queue before it
/// reports the daemon busy: a burst passes, a jammed daemon is still reported.
const BUSY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// Connects, retrying while the daemon's queue is full (a burst of clients),
/// for at most [`BUSY_PATIENCE`].
async fn connect_patiently(path: &Path) -> Result<UnixStream, ClientError> {
    let deadline = tokio::time::Instant::now() + BUSY_PATIENCE;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        match UnixStream::connect(path).await {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if tokio::time::Instant::now() + pause > deadline {
                    return Err(ClientError::Busy {
                        path: path.to_owned(),
                    });
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ClientError::Forbidden {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(ClientError::Connect {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
}

pub struct Client {
    conn: Connection<UnixStream>,
    /// The daemon's protocol version, from its hello.
    pub server_version: u32,
}

impl Client {
    /// Connects and exchanges hellos.
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = connect_patiently(path).await?;
        let mut conn = codec::framed(stream);
        let hello = async {
            codec::write_frame(
                &mut conn,
                &Request::Hello {
                    version: PROTOCOL_VERSION,
                },
            )
            .await?;
            codec::read_frame::<_, Response>(&mut conn).await
        };
        let answer = tokio::time::timeout(HELLO_TIMEOUT, hello)
            .await
            .map_err(|_| ClientError::HelloTimeout(HELLO_TIMEOUT))??;
        match answer {
            Some(Response::Hello { version }) => Ok(Client {
                conn,
                server_version: version,
            }),
            Some(Response::Error(e)) => Err(ClientError::Refused(e)),
            Some(other) => Err(ClientError::Unexpected(format!("{other:?}"))),
            None => Err(ClientError::Closed),
        }
    }

    pub async fn send(&mut self, req: &Request) -> Result<(), ClientError> {
        codec::write_frame(&mut self.conn, req).await?;
        Ok(())
    }

    /// The next response frame; `Ok(None)` when the daemon closed the connection.
    pub async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        Ok(codec::read_frame(&mut self.conn).await?)
    }

    /// Sends a request that has exactly one answer; an `Error` answer becomes `Refused`.
    pub async fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.send(req).await?;
        match self.next().await? {
            Some(Response::Error(e)) => Err(ClientError::Refused(e)),
            Some(r) => Ok(r),
            None => Err(ClientError::Closed),
        }
    }
}

/// Turns an answer that should have been `Done` into a result.
pub fn expect_done(r: Response) -> Result<(), ClientError> {
    match r {
        Response::Done => Ok(()),
        other => Err(ClientError::Unexpected(format!("{other:?}"))),
    }
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        ClientError::Refused(e)
    }
}

/// The kind of a refusal, if it was one.
pub fn refusal_kind(e: &ClientError) -> Option<ErrorKind> {
    match e {
        ClientError::Refused(p) => Some(p.kind),
        _ => None,
    }
}
