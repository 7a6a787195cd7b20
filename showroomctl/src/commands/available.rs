//! `available`: apps and their params.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(c: &mut Client, as_json: bool) -> Result<ExitCode, ClientError> {
    let Response::Available(apps) = c.request(&Request::Available).await? else {
        return Err(super::unexpected(Response::Done));
    };
    if as_json {
        let obj: serde_json::Map<String, serde_json::Value> = apps
            .iter()
            .map(|(app, info)| (app.clone(), json!({"params": info.params})))
            .collect();
        output::json(&serde_json::Value::Object(obj));
    } else {
        let rows: Vec<Vec<String>> = apps
            .iter()
            .map(|(app, info)| vec![app.clone(), info.params.join(", ")])
            .collect();
        output::table(&["APP", "PARAMS"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
