//! `supervisor status|start|stop`: the supervisord that showroomd drives.

use protocol::{ProtocolError, Response, SupervisorAction, SupervisorInfo};

use super::Ctx;
use crate::actor::Command;

pub async fn answer(ctx: &Ctx, action: SupervisorAction) -> Result<Response, ProtocolError> {
    match action {
        SupervisorAction::Status => {}
        SupervisorAction::Start => {
            ctx.handle.command(Command::SupervisorStart).await?;
        }
        SupervisorAction::Stop => {
            ctx.handle.command(Command::SupervisorStop).await?;
        }
    }
    Ok(Response::Supervisor(info(ctx).await))
}

async fn info(ctx: &Ctx) -> SupervisorInfo {
    let config = ctx.layout.supervisord_conf().display().to_string();
    let front_door = ctx.handle.snapshot().front_door.clone();
    match ctx.sup.state().await {
        Ok(state) => SupervisorInfo {
            running: true,
            pid: ctx.sup.pid().await.ok(),
            state,
            version: ctx.sup.version().await.unwrap_or_default(),
            config,
            front_door,
        },
        Err(_) => SupervisorInfo {
            running: false,
            pid: None,
            state: String::new(),
            version: String::new(),
            config,
            front_door,
        },
    }
}
