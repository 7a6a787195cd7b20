//! `restart NAME`: stop then start as one action of the actor, answered once the demo runs again.

use protocol::{EventKind, ProtocolError, Response};
use tracing::info;

use crate::actor::work::{AfterStart, AfterStop};
use crate::actor::{Actor, Reply};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// Stops the demo's parts beside the actor (its wanted state stays: a
    /// restart that fails to start leaves it as the operator last asked),
    /// then starts it as `start` does, whose end answers (`restart_stopped`).
    pub(in crate::actor) fn restart_begin(&mut self, name: String, reply: Reply<Response>) {
        self.stop_begin(name, AfterStop::Restart(reply));
    }

    /// A restart's stop ended: its start begins, or the failure answers.
    pub(in crate::actor) fn restart_stopped(
        &mut self,
        name: String,
        result: Result<(), ProtocolError>,
        reply: Reply<Response>,
    ) {
        if let Err(e) = result {
            return self.answer(reply, Err(e));
        }
        self.mark_logs(&name, "stopped for a restart");
        info!(demo = %name, "stopped for its restart");
        self.emit(Some(&name), EventKind::Stopped, "restart");
        self.start_begin(name, AfterStart::Reply(reply));
    }
}
