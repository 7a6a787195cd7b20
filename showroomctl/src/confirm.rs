//! Guard rails: what cannot be undone asks first, on a terminal only, so cron, scripts and pipes act at once.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use protocol::{
    CleanupRequest, Client, ClientError, DemoStatus, ErrorKind, ProtocolError, Request, Response,
};

use crate::cli::{Cmd, SupervisorCmd};

/// Asks before `cmd` when it needs it and a person is at a terminal; Err
/// (`Declined`, exit 1) unless the answer is yes. The question is read on a
/// connection of its own, closed before asking: a person may take longer
/// to answer than showroomd keeps an idle connection.
pub async fn ask_before(cmd: &Cmd, socket: &Path) -> Result<(), ClientError> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Ok(());
    }
    let question = match cmd {
        Cmd::Destroy { name } => {
            let mut c = Client::connect(socket).await?;
            // A refusal (a bad name, no such demo) is the destroy's to report.
            match c.request(&Request::Status { name: name.clone() }).await {
                Ok(Response::Status(s)) if runs(s) => {
                    format!("demo {name:?} is {s}: destroy it and all its data?")
                }
                _ => return Ok(()),
            }
        }
        Cmd::Cleanup {
            all: true,
            dry_run: false,
            ..
        } => {
            let mut c = Client::connect(socket).await?;
            let req = Request::Cleanup(CleanupRequest {
                older_than_secs: None,
                statuses: vec![],
                dry_run: true,
            });
            match c.request(&req).await {
                Ok(Response::Cleanup(r)) if !r.destroyed.is_empty() => format!(
                    "destroy every demo, running ones too ({}: {})?",
                    r.destroyed.len(),
                    r.destroyed.join(", ")
                ),
                _ => return Ok(()),
            }
        }
        Cmd::Supervisor {
            action: SupervisorCmd::Stop,
        } => "stop supervisord, and with it every demo's process and Apache?".to_owned(),
        _ => return Ok(()),
    };
    if answer_is_yes(&question) {
        Ok(())
    } else {
        Err(ClientError::Refused(ProtocolError::new(
            ErrorKind::Declined,
            "not confirmed: nothing was done (--yes answers yes)",
        )))
    }
}

/// Statuses of a demo whose process or vhost is up, or coming up.
fn runs(s: DemoStatus) -> bool {
    matches!(
        s,
        DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff | DemoStatus::Partial
    )
}

/// Prints the question on stderr (stdout is the command's output) and reads one line.
fn answer_is_yes(question: &str) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
