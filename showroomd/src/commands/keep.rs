//! `keep NAME [--off]`: one command to the actor, noted in the demo's record.

use protocol::{ProtocolError, Response};

use super::Ctx;
use crate::actor::Command;

pub async fn keep(ctx: &Ctx, name: String, keep: bool) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Keep(name, keep)).await
}
