//! `deploy APP NAME`: the script's output as it comes, then where the demo is.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, DeployRequest, Request, Response};

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    app: String,
    name: String,
    params: Vec<(String, String)>,
    comment: String,
) -> Result<ExitCode, ClientError> {
    c.send(&Request::Deploy(DeployRequest {
        app,
        name,
        params,
        comment,
    }))
    .await?;
    loop {
        match c.next().await? {
            // With --json, stdout carries the one result object: progress goes to stderr.
            Some(Response::Progress(line)) if as_json => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Some(Response::Progress(line)) => output::say(&format!("| {line}")),
            Some(Response::Deployed(d)) => {
                if as_json {
                    output::json(&super::list::demo_json(&d));
                } else {
                    output::say(&format!(
                        "deployed {} (app {}) on port {}; start it with: showroomctl start {}",
                        d.name,
                        d.app,
                        d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        d.name
                    ));
                    if let Some(url) = &d.url {
                        output::say(&format!("once started, served at {url}"));
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            Some(Response::Error(e)) => return Err(ClientError::Refused(e)),
            Some(other) => return Err(super::unexpected(other)),
            None => return Err(ClientError::Closed),
        }
    }
}
