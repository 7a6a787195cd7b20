//! `keep NAME [--off]`: whether no cleanup and no expiry may touch the demo.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    keep: bool,
) -> Result<ExitCode, ClientError> {
    match c
        .request(&Request::Keep {
            name: name.clone(),
            keep,
        })
        .await?
    {
        Response::Done => {
            if as_json {
                output::json(&json!({"name": name, "keep": keep}));
            } else if keep {
                output::say(&format!(
                    "kept {name}: no cleanup and no expiry touches it (`keep {name} --off` ends it)"
                ));
            } else {
                output::say(&format!(
                    "{name} is no longer kept: cleanups and its expiry apply again"
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}
