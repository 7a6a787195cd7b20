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
) -> Result<ExitCode, ClientError> {
    c.send(&Request::Logs {
        name,
        follow,
        lines,
    })
    .await?;
    let mut last_source = String::new();
    loop {
        match c.next().await? {
            Some(Response::Log(chunk)) => {
                if as_json {
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
