//! `available`: the apps the scripts folder offers, with their params.

use protocol::{AppInfo, ErrorKind, ProtocolError, Response};

use super::Ctx;
use crate::deployer;

pub fn answer(ctx: &Ctx) -> Result<Response, ProtocolError> {
    let apps = deployer::available(&ctx.cfg.scripts_dir).map_err(|e| {
        ProtocolError::new(
            ErrorKind::Internal,
            format!(
                "cannot read the scripts folder {}: {e}",
                ctx.cfg.scripts_dir.display()
            ),
        )
    })?;
    Ok(Response::Available(
        apps.into_iter()
            .map(|(app, params)| (app, AppInfo { params }))
            .collect(),
    ))
}
