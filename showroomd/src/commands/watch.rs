//! `watch`: every event as it happens, until the client goes away or showroomd stops.

use futures_util::StreamExt;
use protocol::codec::{self, CodecError};
use protocol::Response;
use tokio::sync::broadcast::error::RecvError;

use super::{Conn, Ctx};

pub async fn handle(ctx: &Ctx, conn: &mut Conn) -> Result<(), CodecError> {
    let mut events = ctx.handle.subscribe();
    tracing::debug!("a watcher subscribed");
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(event) => codec::write_frame(conn, &Response::Event(event)).await?,
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "a watcher fell behind"),
                Err(RecvError::Closed) => return Ok(()),
            },
            // The client says nothing more; its end of the stream closing ends ours.
            _ = conn.next() => return Ok(()),
            _ = ctx.streams_stop.cancelled() => return Ok(()),
        }
    }
}
