//! `start`, `stop`, `restart` and `destroy`: one request, "done" only once it has happened.

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
        "restart" => (Request::Restart { name: name.clone() }, "restarted"),
        _ => (Request::Destroy { name: name.clone() }, "destroyed"),
    };
    match c.request(&req).await? {
        Response::Done => {
            let starts = matches!(verb, "start" | "restart");
            let (url, not_served) = if starts {
                url_of(c, &name).await?
            } else {
                (None, String::new())
            };
            if as_json {
                let mut v = json!({"name": name, "done": past});
                if starts {
                    v["url"] = json!(url);
                }
                output::json(&v);
            } else {
                output::say(&format!("{past} {name}"));
                if let Some(url) = url {
                    output::say(&format!("served at {url}"));
                } else if !not_served.is_empty() {
                    output::say(&format!("not served by name: {not_served}"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}

/// The demo's front-door URL, as `list` gives it, or why there is none.
async fn url_of(c: &mut Client, name: &str) -> Result<(Option<String>, String), ClientError> {
    match c.request(&Request::List).await? {
        Response::List(demos) => Ok(demos
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| (d.url, d.not_served))
            .unwrap_or_default()),
        other => Err(super::unexpected(other)),
    }
}
