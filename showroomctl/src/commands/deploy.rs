//! `deploy APP NAME` and `clone SRC NEW`: the script's output as it comes, then where the demo is.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};

use crate::output;

/// Sends a `Deploy` or a `Clone`: both are answered alike.
pub async fn run(c: &mut Client, as_json: bool, req: Request) -> Result<ExitCode, ClientError> {
    let verb = match req {
        Request::Clone(_) => "cloned",
        _ => "deployed",
    };
    // The daemon checks it again; here the refusal comes before any connection work.
    match &req {
        Request::Deploy(d) => d.validate()?,
        Request::Clone(c) => c.validate()?,
        _ => {}
    }
    c.send(&req).await?;
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
                        "{verb} {} (app {}) on port {} in {}; start it with: showroomctl start {}",
                        d.name,
                        d.app,
                        d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        output::took(d.deploy_ms),
                        d.name
                    ));
                    if let Some(url) = &d.url {
                        output::say(&format!("once started, served at {url}"));
                    } else if !d.not_served.is_empty() {
                        output::say(&format!("not served by name: {}", d.not_served));
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
