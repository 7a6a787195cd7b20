//! `watch`: every event as it happens, until the client goes away or showroomd stops.

use futures_util::StreamExt;
use protocol::codec::{self, CodecError};
use protocol::{Event, EventKind, Response};
use tokio::sync::broadcast::error::RecvError;

use super::{Conn, Ctx};

pub async fn handle(ctx: &Ctx, conn: &mut Conn) -> Result<(), CodecError> {
    let mut events = ctx.handle.subscribe();
    tracing::debug!("a watcher subscribed");
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(event) => codec::write_frame(conn, &Response::Event(event)).await?,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "a watcher fell behind");
                    // Say so in the stream: a script reading it must not take silence for no change.
                    let missed = Event {
                        at: crate::store::now_secs(),
                        demo: None,
                        kind: EventKind::Missed,
                        detail: format!("{n} events dropped while this watcher fell behind"),
                    };
                    codec::write_frame(conn, &Response::Event(missed)).await?
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            // The client says nothing more; its end of the stream closing ends ours.
            _ = conn.next() => return Ok(()),
            _ = ctx.streams_stop.cancelled() => return Ok(()),
        }
    }
}
