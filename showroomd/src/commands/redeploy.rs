//! `redeploy NAME`: handed to the actor, its script's output streamed as a deploy's, then the demo as it now is.

use protocol::codec::CodecError;
use protocol::RedeployRequest;
use tokio::sync::mpsc;

use super::{Conn, Ctx};

pub async fn handle(ctx: &Ctx, conn: &mut Conn, req: RedeployRequest) -> Result<(), CodecError> {
    let (tx, rx) = mpsc::channel::<String>(256);
    super::deploy::stream(conn, rx, ctx.handle.redeploy(req, tx)).await
}
