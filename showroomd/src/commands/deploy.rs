//! `deploy APP NAME` and `clone SRC NEW`: hand the request to the actor, stream the script's output as it comes, then the deployed demo.

use std::future::Future;

use protocol::codec::{self, CodecError};
use protocol::{CloneRequest, DemoInfo, DeployRequest, ProtocolError, Response};
use tokio::sync::mpsc;

use super::{Conn, Ctx};

pub async fn handle(ctx: &Ctx, conn: &mut Conn, req: DeployRequest) -> Result<(), CodecError> {
    let (tx, rx) = mpsc::channel::<String>(256);
    stream(conn, rx, ctx.handle.deploy(req, tx)).await
}

pub async fn handle_clone(ctx: &Ctx, conn: &mut Conn, req: CloneRequest) -> Result<(), CodecError> {
    let (tx, rx) = mpsc::channel::<String>(256);
    stream(conn, rx, ctx.handle.clone_demo(req, tx)).await
}

/// Streams the script's output as `Progress` frames, then the result.
pub(super) async fn stream(
    conn: &mut Conn,
    mut rx: mpsc::Receiver<String>,
    result: impl Future<Output = Result<DemoInfo, ProtocolError>>,
) -> Result<(), CodecError> {
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
