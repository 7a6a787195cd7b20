//! `logs NAME`: the deploy log and the process's output, then (with follow) what they gain.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::codec::{self, CodecError};
use protocol::{LogChunk, ProtocolError, Response};

use super::{Conn, Ctx};

/// Most bytes sent of one file's end when not following.
const MAX_TAIL_BYTES: u64 = 1 << 20;

pub async fn handle(
    ctx: &Ctx,
    conn: &mut Conn,
    name: &str,
    follow: bool,
    lines: u32,
) -> Result<(), CodecError> {
    if let Err(e) = protocol::names::validate_name(name) {
        return super::reply(conn, Err(e)).await;
    }
    let sources: Vec<(&str, PathBuf)> = vec![
        ("deploy", ctx.layout.deploy_log(name)),
        (
            "stdout",
            ctx.layout
                .supervisor_logs()
                .join(format!("{name}.stdout.log")),
        ),
        (
            "stderr",
            ctx.layout
                .supervisor_logs()
                .join(format!("{name}.stderr.log")),
        ),
    ];
    let known = ctx.handle.snapshot().demos.contains_key(name);
    if !known && !sources[0].1.exists() {
        return super::reply(conn, Err(ProtocolError::not_found())).await;
    }
    let mut offsets = Vec::new();
    for (source, path) in &sources {
        let (text, end) = tail(path, lines as usize);
        if !text.is_empty() {
            codec::write_frame(
                conn,
                &Response::Log(LogChunk {
                    source: source.to_string(),
                    text,
                }),
            )
            .await?;
        }
        offsets.push(end);
    }
    if follow {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = conn.next() => return Ok(()),
                _ = ctx.streams_stop.cancelled() => break,
            }
            for (i, (source, path)) in sources.iter().enumerate() {
                if let Some((text, end)) = grown(path, offsets[i]) {
                    offsets[i] = end;
                    if !text.is_empty() {
                        codec::write_frame(
                            conn,
                            &Response::Log(LogChunk {
                                source: source.to_string(),
                                text,
                            }),
                        )
                        .await?;
                    }
                }
            }
        }
    }
    super::reply(conn, Ok(Response::Done)).await
}

/// The last `lines` lines of a file (at most its last MiB) and its length.
fn tail(path: &PathBuf, lines: usize) -> (String, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (String::new(), 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(MAX_TAIL_BYTES);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return (String::new(), len);
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let keep = &all[all.len().saturating_sub(lines)..];
    let mut out = keep.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    (out, len)
}

/// What the file gained since `from` (from its start again if it was truncated or rotated).
fn grown(path: &PathBuf, from: u64) -> Option<(String, u64)> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len == from {
        return None;
    }
    let start = if len < from { 0 } else { from };
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_TAIL_BYTES).read_to_end(&mut buf).ok()?;
    Some((
        String::from_utf8_lossy(&buf).into_owned(),
        start + buf.len() as u64,
    ))
}
