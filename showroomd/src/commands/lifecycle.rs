//! `start NAME`, `stop NAME`, `destroy NAME`, `cleanup`, `expire NAME`: each one command to the actor, answered once it happened.

use protocol::{CleanupRequest, ProtocolError, Response};

use super::Ctx;
use crate::actor::Command;

pub async fn start(ctx: &Ctx, name: String) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Start(name)).await
}

pub async fn stop(ctx: &Ctx, name: String) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Stop(name)).await
}

pub async fn destroy(ctx: &Ctx, name: String) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Destroy(name)).await
}

pub async fn cleanup(ctx: &Ctx, req: CleanupRequest) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Cleanup(req)).await
}

pub async fn expire(
    ctx: &Ctx,
    name: String,
    ttl_secs: Option<u64>,
) -> Result<Response, ProtocolError> {
    ctx.handle.command(Command::Expire(name, ttl_secs)).await
}
