//! `status NAME`: the status word alone.

use std::io::Write;
use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(c: &mut Client, as_json: bool, name: String) -> Result<ExitCode, ClientError> {
    match c.request(&Request::Status { name: name.clone() }).await? {
        Response::Status(s) => {
            if as_json {
                output::json(&json!({"name": name, "status": s.as_str()}));
            } else {
                output::say(s.as_str());
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
