//! `logs NAME`: the deploy log, the process's output and a vhost's own Apache lines, then (with follow) what they gain; `--deploy N` one of the deploy logs kept.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::codec::{self, CodecError};
use protocol::{ErrorKind, LogChunk, ProtocolError, Response};

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
    deploy: u32,
) -> Result<(), CodecError> {
    if let Err(e) = protocol::names::validate_name(name) {
        return super::reply(conn, Err(e)).await;
    }
    let sources: Vec<(&str, PathBuf)> = match deploy {
        0 => vec![
            ("deploy", ctx.layout.deploy_log(name)),
            ("stdout", ctx.layout.process_log(name, "stdout")),
            ("stderr", ctx.layout.process_log(name, "stderr")),
            ("vhost-access", ctx.layout.vhost_log(name, "access")),
            ("vhost-error", ctx.layout.vhost_log(name, "error")),
        ],
        n if n <= crate::deployer::DEPLOY_LOGS_KEPT
            && ctx.layout.deploy_log_nth(name, n).exists() =>
        {
            vec![("deploy", ctx.layout.deploy_log_nth(name, n))]
        }
        n => {
            let e = ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} has no deploy log {n}"),
            )
            .with_detail(format!(
                "showroom keeps a demo's last {} deploy logs: --deploy 1 is the last",
                crate::deployer::DEPLOY_LOGS_KEPT
            ));
            return super::reply(conn, Err(e)).await;
        }
    };
    // A destroyed demo's deploy log is still read (a failed deploy's).
    let known = ctx.layout.deploy_log(name).exists();
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
        return super::reply(conn, Err(ProtocolError::no_demo(name))).await;
    }
    let mut offsets = Vec::new();
    for (source, path) in sources {
        let (text, end) = tail::last_lines(path, lines as usize, MAX_TAIL_BYTES);
        if !text.is_empty() {
            codec::write_frame(
                conn,
                &Response::Log(LogChunk {
                    source: source.to_string(),
                    text: stamped(&source[..], text),
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
                                text: stamped(&source[..], text),
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

/// A vhost's access lines begin with seconds since the epoch (Apache's `%t`
/// is in its own zone): given the RFC 3339 stamp every other log line has.
fn stamped(source: &str, text: String) -> String {
    if source != "vhost-access" {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        match line.split_once(' ') {
            Some((secs, rest)) if secs.parse::<u64>().is_ok() => {
                let at =
                    std::time::UNIX_EPOCH + Duration::from_secs(secs.parse().expect("checked"));
                out += &format!("{} {rest}", humantime::format_rfc3339_seconds(at));
            }
            _ => out += line,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_lines_get_the_stamp_of_the_others() {
        assert_eq!(
            super::stamped(
                "vhost-access",
                "1764652801 127.0.0.1 \"GET / HTTP/1.1\" 200 5\nodd\n".into()
            ),
            "2025-12-02T05:20:01Z 127.0.0.1 \"GET / HTTP/1.1\" 200 5\nodd\n"
        );
        assert_eq!(super::stamped("stdout", "1 a\n".into()), "1 a\n");
    }
}
