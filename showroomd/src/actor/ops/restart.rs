//! `restart NAME`: stop then start as one action of the actor, answered once the demo runs again.

use protocol::{EventKind, Response};
use tracing::info;

use crate::actor::work::AfterStart;
use crate::actor::{Actor, Reply};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// Stops the demo's parts (its wanted state stays: a restart that
    /// fails to start leaves it as the operator last asked), then starts
    /// it as `start` does, whose end answers.
    pub(in crate::actor) async fn restart_begin(&mut self, name: String, reply: Reply<Response>) {
        let stopped = match self.state.installed(&name) {
            Ok(_) => match self.require_supervisor().await {
                Ok(()) => self.stop_parts(&name).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = stopped {
            self.refresh(&name).await;
            self.publish();
            return self.answer(reply, Err(e));
        }
        self.mark_logs(&name, "stopped for a restart");
        info!(demo = %name, "stopped for its restart");
        self.emit(Some(&name), EventKind::Stopped, "restart");
        self.start_begin(name, AfterStart::Reply(reply));
    }
}
