//! `logs NAME`: the deploy log and the process's output, then (with follow) what they gain.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::codec::{self, CodecError};
use protocol::{LogChunk, ProtocolError, Response};

use super::{Conn, Ctx};
use crate::tail;

/// Most bytes sent of one file's end when not following.
const MAX_TAIL_BYTES: u64 = 1 << 20;

pub async fn handle(
    ctx: &Ctx,
    conn: &mut Conn,
    name: &str,
    follow: bool,
    lines: u32,
) -> Result<(), CodecError> {
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
    // A destroyed demo's deploy log is still read (a failed deploy's).
    let known = sources[0].1.exists();
    send_sources(ctx, conn, name, known, &sources, follow, lines).await
}

/// `logs NAME --access`: what went through the front door to it, one
/// request a line (`access_log::Entry`).
pub async fn handle_access(
    ctx: &Ctx,
    conn: &mut Conn,
    name: &str,
    follow: bool,
    lines: u32,
) -> Result<(), CodecError> {
    let sources = vec![("access", ctx.layout.access_log(name))];
    send_sources(ctx, conn, name, false, &sources, follow, lines).await
}

/// The end of each source, then (with `follow`) what they gain; for a
/// valid name of a demo there is (or, `known`, was).
async fn send_sources(
    ctx: &Ctx,
    conn: &mut Conn,
    name: &str,
    known: bool,
    sources: &[(&str, PathBuf)],
    follow: bool,
    lines: u32,
) -> Result<(), CodecError> {
    if let Err(e) = protocol::names::validate_name(name) {
        return super::reply(conn, Err(e)).await;
    }
    if !known && !ctx.handle.snapshot().demos.contains_key(name) {
        return super::reply(conn, Err(ProtocolError::not_found())).await;
    }
    let mut offsets = Vec::new();
    for (source, path) in sources {
        let (text, end) = tail::last_lines(path, lines as usize, MAX_TAIL_BYTES);
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
                if let Some((text, end)) = tail::grown(path, offsets[i], MAX_TAIL_BYTES) {
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
