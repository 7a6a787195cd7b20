//! `sleep-after NAME DURATION|never`: how long a demo may go without a request through the front door before it sleeps.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    idle_secs: Option<u64>,
) -> Result<ExitCode, ClientError> {
    let req = Request::SleepAfter {
        name: name.clone(),
        idle_secs,
    };
    match c.request(&req).await? {
        Response::Done => {
            if as_json {
                output::json(&json!({"name": name, "sleep_after_secs": idle_secs}));
            } else {
                match idle_secs {
                    Some(s) => output::say(&format!("{name} sleeps after {s} s without a request")),
                    None => output::say(&format!("{name} never sleeps")),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}
