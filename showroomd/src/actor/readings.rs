//! supervisord's answers, read by the actor itself, into the state table: one program, all of them, whether it answers at all.

use std::time::Instant;

use protocol::ProtocolError;
use tracing::warn;

use super::work::{Read, Reading};
use super::{sup_error, Actor, Observation};
use crate::supervisor::{ProcessInfo, RpcError, Supervisord};

impl<S: Supervisord> Actor<S> {
    /// Asks supervisord for one program's state and records it.
    pub(super) async fn refresh(&mut self, program: &str) {
        let reading = self.work().read(program).await;
        self.take_read(reading);
    }

    /// One program's state, read beside the actor, into the table.
    pub(super) fn take_read(&mut self, r: Reading) {
        match r.info {
            Read::Info(i) => {
                let events = self.state.set_supervisor_up(true, "", r.taken);
                self.send(events);
                self.state.note_info(&r.program, Some(&i), r.taken);
            }
            Read::Unknown => {
                self.state.note_info(&r.program, None, r.taken);
            }
            Read::Down(why) => {
                let events = self.state.set_supervisor_up(false, &why, r.taken);
                self.send(events);
            }
            Read::Failed => {}
        }
    }

    /// Asks supervisord for every program's state.
    pub(super) async fn refresh_all(&mut self) {
        let taken = Instant::now();
        let read = self.sup.all_process_info().await;
        self.take_sweep(read, taken);
    }

    /// A reading of every program (taken at `taken`) into the table, published.
    pub(super) fn take_sweep(&mut self, read: Result<Vec<ProcessInfo>, RpcError>, taken: Instant) {
        match Observation::sweep(read, taken) {
            Ok(o) => {
                let events = self.state.observed(o, Instant::now());
                self.send(events);
            }
            Err(e) => warn!(error = %e, "cannot read process states"),
        }
        self.publish();
    }

    /// Fails with a clear error when supervisord does not answer.
    pub(super) async fn require_supervisor(&mut self) -> Result<(), ProtocolError> {
        let at = Instant::now();
        match self.sup.state().await {
            Ok(_) => {
                let events = self.state.set_supervisor_up(true, "", at);
                self.send(events);
                Ok(())
            }
            Err(e) => {
                if e.is_unreachable() {
                    let events = self.state.set_supervisor_up(false, &e.to_string(), at);
                    self.send(events);
                    self.publish();
                }
                Err(sup_error(e))
            }
        }
    }
}
