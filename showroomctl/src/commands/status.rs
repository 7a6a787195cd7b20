//! `status NAME`: the status word alone on standard output (scripts and the seed read it); why a process is not running on standard error.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, DemoStatus, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(c: &mut Client, as_json: bool, name: String) -> Result<ExitCode, ClientError> {
    match c.request(&Request::Status { name: name.clone() }).await? {
        Response::Status(s) => {
            if as_json {
                output::json(&json!({"name": name, "status": s.as_str()}));
            } else {
                output::say(s.as_str());
                if matches!(
                    s,
                    DemoStatus::Fatal | DemoStatus::Backoff | DemoStatus::Exited
                ) {
                    tell_why(c, &name).await?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        // The word alone on stdout, as scripts read it; the reason for a person.
        Response::StatusReason { status, reason } => {
            if as_json {
                output::json(&json!({"name": name, "status": status.as_str(), "reason": reason}));
            } else {
                output::say(status.as_str());
                let _ = writeln!(std::io::stderr().lock(), "{name}: {reason}");
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}

/// The reason `list` gives, and where to read more, on standard error.
async fn tell_why(c: &mut Client, name: &str) -> Result<(), ClientError> {
    let reason = match c.request(&Request::List).await? {
        Response::List(demos) => demos
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| d.reason)
            .unwrap_or_default(),
        other => return Err(super::unexpected(other)),
    };
    if !reason.is_empty() {
        eprintln!("{name}: {}", output::cell(&reason));
    }
    eprintln!("more: showroomctl logs {name}");
    Ok(())
}
