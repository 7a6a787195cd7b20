//! `supervisor status|start|stop`.

use std::process::ExitCode;

use protocol::{Client, ClientError, Request, Response, SupervisorAction};
use serde_json::json;

use crate::cli::SupervisorCmd;
use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    action: SupervisorCmd,
) -> Result<ExitCode, ClientError> {
    let action = match action {
        SupervisorCmd::Status => SupervisorAction::Status,
        SupervisorCmd::Start => SupervisorAction::Start,
        SupervisorCmd::Stop => SupervisorAction::Stop,
    };
    let r = c.request(&Request::Supervisor(action)).await?;
    let Response::Supervisor(i) = r else {
        return Err(super::unexpected(r));
    };
    if as_json {
        output::json(&json!({
            "running": i.running,
            "pid": i.pid,
            "state": i.state,
            "version": i.version,
            "config": i.config,
            "front_door": i.front_door.as_ref().map(|f| json!({
                "serving": f.serving,
                "ports": f.ports,
                "reason": f.reason,
                "cert_names": f.cert_names,
                "cert_expires": f.cert_expires.map(output::rfc3339),
            })),
        }));
    } else if i.running {
        output::say(&format!(
            "supervisord is running (pid {}, version {}, state {})\nconfig: {}",
            i.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            i.version,
            i.state,
            i.config
        ));
    } else {
        output::say(&format!("supervisord is not running\nconfig: {}", i.config));
    }
    if let (false, Some(f)) = (as_json, &i.front_door) {
        let ports: Vec<String> = f.ports.iter().map(u16::to_string).collect();
        if f.serving {
            output::say(&format!(
                "front door: serving on ports {}",
                ports.join(", ")
            ));
        } else {
            output::say(&format!(
                "front door: not serving (ports {}): {}",
                ports.join(", "),
                f.reason
            ));
        }
        if let Some(at) = f.cert_expires {
            output::say(&format!(
                "certificate: {} until {}",
                f.cert_names.join(", "),
                output::rfc3339(at)
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
