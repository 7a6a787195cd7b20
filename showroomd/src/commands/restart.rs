//! `restart NAME`: one command to the actor (stop then start), answered once the demo runs again.

use protocol::{ProtocolError, Response};

use super::Ctx;
use crate::actor::Command;

pub async fn restart(ctx: &Ctx, name: String) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Restart(name)).await
}
