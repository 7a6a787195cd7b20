//! `deploy APP NAME`, `clone SRC NEW` and `redeploy NAME`: the script's output as it comes, then where the demo is.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};

use crate::output;

/// Sends a `Deploy`, a `Clone` or a `Redeploy`: all are answered alike.
pub async fn run(c: &mut Client, as_json: bool, req: Request) -> Result<ExitCode, ClientError> {
    let verb = match req {
        Request::Clone(_) => "cloned",
        Request::Redeploy(_) => "redeployed",
        _ => "deployed",
    };
    // The daemon checks it again; here the refusal comes before any connection work.
    match &req {
        Request::Deploy(d) => d.validate()?,
        Request::Clone(c) => c.validate()?,
        Request::Redeploy(r) => r.validate()?,
        _ => {}
    }
    c.send(&req).await?;
    answer(c, as_json, verb).await
}

/// Reads a deploy's (a clone's, an import's) answer: its output as it comes, then the demo.
pub async fn answer(c: &mut Client, as_json: bool, verb: &str) -> Result<ExitCode, ClientError> {
    answer_demo(c, as_json, verb)
        .await
        .map(|_| ExitCode::SUCCESS)
}

/// The same, returning the demo made.
pub async fn answer_demo(
    c: &mut Client,
    as_json: bool,
    verb: &str,
) -> Result<protocol::DemoInfo, ClientError> {
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
                    let what = format!(
                        "{verb} {} (app {}) on port {} in {}",
                        d.name,
                        d.app,
                        d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        output::took(d.deploy_ms),
                    );
                    if verb == "redeployed" {
                        // Started again if it ran: its status says which.
                        output::say(&format!("{what}: {}", d.status));
                    } else {
                        output::say(&format!(
                            "{what}; start it with: showroomctl start {}",
                            d.name
                        ));
                        if let Some(url) = &d.url {
                            output::say(&format!("once started, served at {url}"));
                        } else if !d.not_served.is_empty() {
                            output::say(&format!("not served by name: {}", d.not_served));
                        }
                    }
                }
                return Ok(d);
            }
            Some(Response::Error(e)) => return Err(ClientError::Refused(e)),
            Some(other) => return Err(super::unexpected(other)),
            None => return Err(ClientError::Closed),
        }
    }
}
