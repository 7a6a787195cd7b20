//! Frames on the socket: a 4-byte big-endian length, then a bincode payload, each with its own limit.

use futures_util::{SinkExt, StreamExt};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest frame either side accepts or sends. A `list` of 10,000 demos fits;
/// a length prefix above it is refused before anything is allocated.
pub const MAX_FRAME_BYTES: usize = 8 << 20;

/// Most bytes bincode may claim while decoding one payload, so that a forged
/// collection length cannot make it allocate more than a frame could hold.
pub const MAX_DECODE_BYTES: usize = MAX_FRAME_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("reading or writing a frame: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    #[error("malformed message: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("message could not be encoded: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("malformed message: {0} bytes left over after it")]
    Trailing(usize),
}

impl CodecError {
    /// True when the bytes were read but were not a message we know: the
    /// peer can still be told why before the connection is closed.
    pub fn is_malformed(&self) -> bool {
        match self {
            CodecError::Decode(_) | CodecError::Trailing(_) | CodecError::TooLarge(_) => true,
            CodecError::Io(e) => e.kind() == std::io::ErrorKind::InvalidData,
            CodecError::Encode(_) => false,
        }
    }
}

pub type Connection<S> = Framed<S, LengthDelimitedCodec>;

/// Wraps a stream in the 4-byte length framing with the frame limit.
pub fn framed<S: AsyncRead + AsyncWrite>(io: S) -> Connection<S> {
    LengthDelimitedCodec::builder()
        .big_endian()
        .length_field_length(4)
        .max_frame_length(MAX_FRAME_BYTES)
        .new_framed(io)
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_DECODE_BYTES>()
}

pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(msg, config())?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (msg, used) = bincode::serde::decode_from_slice(bytes, config())?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(msg)
}

/// Reads one message; `Ok(None)` when the peer closed the connection between frames.
pub async fn read_frame<S, T>(conn: &mut Connection<S>) -> Result<Option<T>, CodecError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: DeserializeOwned,
{
    match conn.next().await {
        None => Ok(None),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(bytes)) => decode(&bytes).map(Some),
    }
}

/// Writes one message and flushes it.
pub async fn write_frame<S, T>(conn: &mut Connection<S>, msg: &T) -> Result<(), CodecError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Serialize,
{
    let bytes = encode(msg)?;
    conn.send(tokio_util::bytes::Bytes::from(bytes)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn every_request_round_trips() {
        let reqs = vec![
            Request::Hello { version: 7 },
            Request::List,
            Request::Deploy(DeployRequest {
                app: "test1".into(),
                name: "x".into(),
                params: vec![("comment".into(), "hi".into())],
                comment: "hi".into(),
                ttl_secs: Some(3600),
                memory: Some(512 << 20),
                procs: Some(200),
                sleep_after_secs: Some(60),
            }),
            Request::Cleanup(CleanupRequest {
                older_than_secs: Some(3600),
                statuses: vec![DemoStatus::Fatal],
                dry_run: true,
            }),
            Request::Clone(CloneRequest {
                src: "a".into(),
                name: "b".into(),
                comment: String::new(),
            }),
            Request::Expire {
                name: "a".into(),
                ttl_secs: None,
            },
        ];
        for r in reqs {
            let back: Request = decode(&encode(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        assert!(decode::<Request>(&[0xff, 0xff, 0xff])
            .unwrap_err()
            .is_malformed());
        let mut b = encode(&Request::List).unwrap();
        b.push(0);
        assert!(matches!(
            decode::<Request>(&b),
            Err(CodecError::Trailing(1))
        ));
        // Variant 200 does not exist.
        assert!(decode::<Request>(&[200]).is_err());
    }

    #[test]
    fn a_forged_length_inside_the_payload_does_not_allocate() {
        // Deploy variant, then a string claiming u64::MAX bytes.
        let mut b = vec![4u8, 0xfd];
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        let e = decode::<Request>(&b).unwrap_err();
        assert!(e.is_malformed(), "{e}");
    }

    #[tokio::test]
    async fn oversized_length_prefix_is_refused_before_reading_it() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut conn = framed(a);
        b.write_all(&(u32::MAX).to_be_bytes()).await.unwrap();
        let e = read_frame::<_, Request>(&mut conn).await.unwrap_err();
        assert!(e.is_malformed(), "{e}");
    }

    #[tokio::test]
    async fn frames_carry_messages_both_ways() {
        let (a, b) = tokio::io::duplex(1024);
        let (mut a, mut b) = (framed(a), framed(b));
        write_frame(&mut a, &Request::Status { name: "t".into() })
            .await
            .unwrap();
        let got: Request = read_frame(&mut b).await.unwrap().unwrap();
        assert_eq!(got, Request::Status { name: "t".into() });
        drop(a);
        assert!(read_frame::<_, Request>(&mut b).await.unwrap().is_none());
    }
}
