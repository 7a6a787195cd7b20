//! `supervisor status|start|stop`: the supervisord that showroomd drives.

use protocol::{ProtocolError, Response, SupervisorAction, SupervisorInfo};
use tracing::error;

use super::Ctx;
use crate::actor::{sup_error, Actor, Command};
use crate::supervisor::control;

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
    match ctx.sup.state().await {
        Ok(state) => SupervisorInfo {
            running: true,
            pid: ctx.sup.pid().await.ok(),
            state,
            version: ctx.sup.version().await.unwrap_or_default(),
            config,
        },
        Err(_) => SupervisorInfo {
            running: false,
            pid: None,
            state: String::new(),
            version: String::new(),
            config,
        },
    }
}

impl Actor {
    pub(crate) async fn supervisor_start(&mut self) -> Result<Response, ProtocolError> {
        let started = control::start(&self.layout, &self.cfg, &self.sup)
            .await
            .map_err(|e| ProtocolError::new(protocol::ErrorKind::Supervisor, e.to_string()))?;
        if started {
            self.disable_all_vhosts();
            if let Err(e) = self.sync_groups().await {
                error!(error = %e, "cannot bring supervisord's groups in line with the demos");
                return Err(sup_error(e));
            }
        }
        self.refresh_all().await;
        self.publish();
        Ok(Response::Done)
    }

    pub(crate) async fn supervisor_stop(&mut self) -> Result<Response, ProtocolError> {
        control::stop(&self.sup)
            .await
            .map_err(|e| ProtocolError::new(protocol::ErrorKind::Supervisor, e.to_string()))?;
        self.refresh_all().await;
        self.publish();
        Ok(Response::Done)
    }
}
