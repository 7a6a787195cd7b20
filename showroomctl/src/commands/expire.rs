//! `expire NAME DURATION|never`: when a demo's time is up, from now.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    ttl_secs: Option<u64>,
) -> Result<ExitCode, ClientError> {
    let req = Request::Expire {
        name: name.clone(),
        ttl_secs,
    };
    match c.request(&req).await? {
        Response::Done => {
            // The daemon's own reckoning of the time, not this side's clock.
            let at = match c.request(&Request::List).await? {
                Response::List(demos) => demos
                    .into_iter()
                    .find(|d| d.name == name)
                    .and_then(|d| d.expires_at),
                other => return Err(super::unexpected(other)),
            };
            if as_json {
                output::json(&json!({"name": name, "expires_at": at.map(output::rfc3339)}));
            } else {
                match at {
                    Some(at) => output::say(&format!("{name} expires at {}", output::rfc3339(at))),
                    None => output::say(&format!("{name} never expires")),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}
