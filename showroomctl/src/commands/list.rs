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
        "reason": d.reason,
        "wanted": d.wanted.as_str(),
        "expires_at": d.expires_at.map(output::rfc3339),
        "deploy_secs": d.deploy_ms.map(|ms| ms as f64 / 1000.0),
        "url": d.url,
        "limits": {
            "memory": d.limits.memory,
            "procs": d.limits.procs,
            "tmp_size": d.limits.tmp_size,
            "nofile": d.limits.nofile,
        },
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
        // A REASON column only when some demo has one: the usual table,
        // and the column positions scripts split on, stay as they were.
        let reasons = demos.iter().any(|d| !d.reason.is_empty());
        let rows: Vec<Vec<String>> = demos
            .iter()
            .map(|d| {
                let mut row = vec![
                    d.name.clone(),
                    d.app.clone(),
                    d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    d.status.to_string(),
                    d.wanted.as_str().to_owned(),
                    output::rfc3339(d.created),
                    d.expires_at
                        .map(output::rfc3339)
                        .unwrap_or_else(|| "never".into()),
                    output::took(d.deploy_ms),
                    d.comment.clone(),
                    d.url.clone().unwrap_or_else(|| "-".into()),
                ];
                if reasons {
                    row.push(d.reason.clone());
                }
                row
            })
            .collect();
        let mut header = vec![
            "NAME", "APP", "PORT", "STATUS", "WANTED", "CREATED", "EXPIRES", "DEPLOY", "COMMENT",
            "URL",
        ];
        if reasons {
            header.push("REASON");
        }
        output::table(&header, &rows);
    }
    Ok(ExitCode::SUCCESS)
}
