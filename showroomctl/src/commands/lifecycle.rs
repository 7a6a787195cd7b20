//! `start`, `stop` and `destroy`: one request, "done" only once it has happened.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    verb: &str,
    name: String,
) -> Result<ExitCode, ClientError> {
    let (req, past) = match verb {
        "start" => (Request::Start { name: name.clone() }, "started"),
        "stop" => (Request::Stop { name: name.clone() }, "stopped"),
        _ => (Request::Destroy { name: name.clone() }, "destroyed"),
    };
    match c.request(&req).await? {
        Response::Done => {
            if as_json {
                output::json(&json!({"name": name, "done": past}));
            } else {
                output::say(&format!("{past} {name}"));
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}
