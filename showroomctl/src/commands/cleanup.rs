//! `cleanup`: destroy what matches, remove leftovers, say what was (or would be) done.

use std::process::ExitCode;

use protocol::{CleanupRequest, Client, ClientError, DemoStatus, Request, Response};
use serde_json::json;

use crate::output;

pub async fn run(
    c: &mut Client,
    as_json: bool,
    older_than_secs: Option<u64>,
    statuses: Vec<DemoStatus>,
    dry_run: bool,
) -> Result<ExitCode, ClientError> {
    let r = c
        .request(&Request::Cleanup(CleanupRequest {
            older_than_secs,
            statuses,
            dry_run,
        }))
        .await?;
    let Response::Cleanup(rep) = r else {
        return Err(super::unexpected(r));
    };
    if as_json {
        let failed: Vec<_> = rep
            .failed
            .iter()
            .map(|(n, why)| json!({"name": n, "error": why}))
            .collect();
        output::json(&json!({
            "dry_run": rep.dry_run,
            "destroyed": rep.destroyed,
            "leftovers": rep.leftovers,
            "failed": failed,
        }));
    } else {
        let (destroy, remove) = if dry_run {
            ("would destroy", "would remove")
        } else {
            ("destroyed", "removed")
        };
        for n in &rep.destroyed {
            output::say(&format!("{destroy} {n}"));
        }
        for l in &rep.leftovers {
            output::say(&format!("{remove} leftover {l}"));
        }
        for (n, why) in &rep.failed {
            output::say(&format!("failed {n}: {why}"));
        }
        if rep.destroyed.is_empty() && rep.leftovers.is_empty() && rep.failed.is_empty() {
            output::say("nothing to clean up");
        }
    }
    Ok(if rep.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILED)
    })
}
