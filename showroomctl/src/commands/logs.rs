//! `logs NAME [--follow]`: the demo's deploy log and output.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    follow: bool,
    lines: u32,
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
                } else if as_json {
                    output::json(&json!({"source": chunk.source, "text": chunk.text}));
                } else {
                    let mut out = std::io::stdout().lock();
                    if chunk.source != last_source {
                        let _ = writeln!(out, "==> {} <==", chunk.source);
                        last_source = chunk.source.clone();
                    }
                    let _ = out.write_all(chunk.text.as_bytes());
                    let _ = out.flush();
                }
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
