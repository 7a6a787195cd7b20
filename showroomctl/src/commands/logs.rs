//! `logs NAME [--follow] [--deploy N]`: the demo's deploy log, its output and a vhost's own Apache lines, each line with its time.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::localtime;
use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    follow: bool,
    lines: u32,
    deploy: u32,
    access: bool,
) -> Result<ExitCode, ClientError> {
    let req = if access {
        Request::AccessLog {
            name,
            follow,
            lines,
        }
    } else {
        Request::Logs {
            name,
            follow,
            lines,
            deploy,
        }
    };
    c.send(&req).await?;
    let mut last_source = String::new();
    loop {
        match c.next().await? {
            Some(Response::Log(chunk)) => {
                if as_json && access {
                    for line in chunk.text.lines() {
                        output::json(&access_json(line));
                    }
                    continue;
                }
                let mut out = std::io::stdout().lock();
                if !as_json && chunk.source != last_source {
                    let _ = writeln!(out, "==> {} <==", chunk.source);
                    last_source = chunk.source.clone();
                }
                for line in chunk.text.lines() {
                    let (at, text) = split_stamp(line);
                    let _ = if as_json {
                        writeln!(
                            out,
                            "{}",
                            json!({
                                "source": chunk.source,
                                "at": at.map(output::rfc3339),
                                "text": text,
                            })
                        )
                    } else {
                        match at {
                            Some(at) => {
                                writeln!(out, "{} {text}", localtime::short_time(at as i64))
                            }
                            None => writeln!(out, "{text}"),
                        }
                    };
                }
                let _ = out.flush();
            }
            Some(Response::Done) | None => return Ok(ExitCode::SUCCESS),
            Some(Response::Error(e)) => return Err(ClientError::Refused(e)),
            Some(other) => return Err(super::unexpected(other)),
        }
    }
}

/// A line of a demo's access log (`AT CLIENT METHOD STATUS BYTES MICROS
/// PATH`, the path last since it may hold spaces) as one JSON object.
fn access_json(line: &str) -> serde_json::Value {
    let f: Vec<&str> = line.splitn(7, ' ').collect();
    match f[..] {
        [at, client, method, status, bytes, micros, path] => json!({
            "at": at,
            "client": client,
            "method": method,
            "path": path,
            "status": status.parse::<u16>().ok(),
            "bytes": bytes.parse::<u64>().ok(),
            "duration_ms": micros.parse::<u64>().ok().map(|us| us as f64 / 1000.0),
        }),
        _ => json!({"text": line}),
    }
}

/// A line's RFC 3339 stamp (`2026-12-02T05:20:01Z `, which showroom puts on
/// the lines it writes and on the demo's output markers) and the rest. A
/// line without one (the process's own output) has no time.
fn split_stamp(line: &str) -> (Option<u64>, &str) {
    let Some((head, rest)) = line.split_once(' ') else {
        return (None, line);
    };
    if head.len() != 20 || !head.ends_with('Z') {
        return (None, line);
    }
    match humantime::parse_rfc3339(head) {
        Ok(t) => (
            t.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs()),
            rest,
        ),
        Err(_) => (None, line),
    }
}

#[cfg(test)]
mod tests {
    use super::split_stamp;

    #[test]
    fn stamps_are_split_off_and_other_lines_kept_whole() {
        assert_eq!(
            split_stamp("2026-12-02T05:20:01Z --- started ---"),
            (Some(1_796_188_801), "--- started ---")
        );
        assert_eq!(split_stamp("plain output"), (None, "plain output"));
        assert_eq!(
            split_stamp("2026-12-02 not a stamp"),
            (None, "2026-12-02 not a stamp")
        );
    }
}
