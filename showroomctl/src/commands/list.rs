//! `list`: installed demos, sorted by name.

use std::process::ExitCode;

use protocol::{Client, ClientError, DemoInfo, Request, Response};
use serde_json::json;

use crate::output;

/// The documented JSON shape of one demo (also used by `deploy --json`).
pub fn demo_json(d: &DemoInfo) -> serde_json::Value {
    let params: serde_json::Map<String, serde_json::Value> = d
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "name": d.name,
        "app": d.app,
        "port": d.port,
        "status": d.status.as_str(),
        "comment": d.comment,
        "created": output::rfc3339(d.created),
        "params": params,
        "url": d.url,
    })
}

pub async fn run(c: &mut Client, as_json: bool) -> Result<ExitCode, ClientError> {
    let r = c.request(&Request::List).await?;
    let Response::List(demos) = r else {
        return Err(super::unexpected(r));
    };
    if as_json {
        output::json(&serde_json::Value::Array(
            demos.iter().map(demo_json).collect(),
        ));
    } else {
        let rows: Vec<Vec<String>> = demos
            .iter()
            .map(|d| {
                vec![
                    d.name.clone(),
                    d.app.clone(),
                    d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    d.status.to_string(),
                    output::rfc3339(d.created),
                    d.comment.clone(),
                    d.url.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        output::table(
            &["NAME", "APP", "PORT", "STATUS", "CREATED", "COMMENT", "URL"],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}
