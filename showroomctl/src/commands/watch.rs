//! `watch`: one line per state change, as it happens.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(c: &mut Client, as_json: bool) -> Result<ExitCode, ClientError> {
    c.send(&Request::Watch).await?;
    loop {
        match c.next().await? {
            Some(Response::Event(e)) => {
                let kind = e.kind.to_string();
                if as_json {
                    output::json(&json!({
                        "at": output::rfc3339(e.at),
                        "demo": e.demo,
                        "event": kind,
                        "detail": e.detail,
                    }));
                } else {
                    let mut line = format!(
                        "{} {} {}",
                        output::rfc3339(e.at),
                        e.demo.as_deref().unwrap_or("-"),
                        kind
                    );
                    if !e.detail.is_empty() {
                        line += &format!(" ({})", e.detail);
                    }
                    output::say(&line);
                }
            }
            None => return Ok(ExitCode::SUCCESS),
            Some(Response::Error(e)) => return Err(ClientError::Refused(e)),
            Some(other) => return Err(super::unexpected(other)),
        }
    }
}
