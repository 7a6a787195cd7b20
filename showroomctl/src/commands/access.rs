//! `access NAME --password USER | --remove-user USER | --allow RANGES | --open`: who may visit a demo through the front door. A password is read from the terminal (not echoed) or from stdin, never from argv, where every user of the host could read it.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use protocol::{AccessChange, Client, ClientError, Request, Response};
use serde_json::json;

use crate::output;

/// One line of stdin; on a terminal, asked for with `prompt` and not echoed
/// (`stty -echo`: no crate for so little).
fn read_password(prompt: &str) -> Result<String, String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        stty("-echo");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if tty {
        stty("echo");
        eprintln!();
    }
    read.map_err(|e| format!("reading the password: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("no password given (type it, or pipe it on stdin)".into());
    }
    Ok(password)
}

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    change: crate::cli::AccessArgs,
) -> Result<ExitCode, ClientError> {
    let (change, said) = if let Some(user) = change.password {
        let password = match read_password(&format!("password for {user} on {name}: ")) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("showroomctl: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let said = format!("{name}: user {user} may visit with that password");
        (AccessChange::Password { user, password }, said)
    } else if let Some(user) = change.remove_user {
        let said = format!("{name}: user {user} removed");
        (AccessChange::RemoveUser { user }, said)
    } else if let Some(ranges) = change.allow {
        let ranges: Vec<String> = ranges
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        let said = format!("{name}: visitors only from {}", ranges.join(", "));
        (AccessChange::Allow { ranges }, said)
    } else {
        (AccessChange::Open, format!("{name}: open to every visitor"))
    };
    match c
        .request(&Request::Access {
            name: name.clone(),
            change,
        })
        .await?
    {
        Response::Done => {
            if as_json {
                output::json(&json!({"name": name, "done": "access"}));
            } else {
                output::say(&said);
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected(other)),
    }
}
