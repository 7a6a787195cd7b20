//! `deploy APP NAME`: hand the request to the actor, stream the script's output as it comes, then the deployed demo.

use protocol::codec::{self, CodecError};
use protocol::{DeployRequest, Response};
use tokio::sync::mpsc;

use super::{Conn, Ctx};

/// Streams the script's output as `Progress` frames, then the result.
pub async fn handle(ctx: &Ctx, conn: &mut Conn, req: DeployRequest) -> Result<(), CodecError> {
    let (tx, mut rx) = mpsc::channel::<String>(256);
    let result = ctx.handle.deploy(req, tx);
    tokio::pin!(result);
    let result = loop {
        tokio::select! {
            biased;
            Some(line) = rx.recv() => codec::write_frame(conn, &Response::Progress(line)).await?,
            r = &mut result => break r,
        }
    };
    while let Ok(line) = rx.try_recv() {
        codec::write_frame(conn, &Response::Progress(line)).await?;
    }
    super::reply(conn, result.map(Response::Deployed)).await
}
