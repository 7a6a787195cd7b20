//! supervisord's answers, read by the actor itself, into the state table: one program, all of them, whether it answers at all, Apache settled.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ProtocolError};
use tracing::warn;

use super::{sup_error, Actor, Observation};
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::codes;
use crate::supervisor::{ProcessInfo, RpcError, Supervisord};
use crate::wait;

impl<S: Supervisord> Actor<S> {
    /// Asks supervisord for one program's state and records it.
    pub(super) async fn refresh(&mut self, program: &str) {
        let at = Instant::now();
        match self.sup.process_info(program).await {
            Ok(i) => {
                let events = self.state.set_supervisor_up(true, "", at);
                self.send(events);
                self.state.note_info(program, Some(&i), at);
            }
            Err(e) if e.fault_code() == Some(codes::BAD_NAME) => {
                self.state.note_info(program, None, at);
            }
            Err(e) if e.is_unreachable() => {
                let events = self.state.set_supervisor_up(false, &e.to_string(), at);
                self.send(events);
            }
            Err(e) => warn!(program, error = %e, "cannot read process state"),
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

    /// Apache's state once it is not STARTING (or after 5 s): a USR1 before
    /// it has set up its signal handlers would kill it.
    pub(super) async fn apache_settle(&mut self) -> Option<DemoStatus> {
        let poll = wait::Poll::new(Duration::from_secs(5), Duration::from_millis(100));
        loop {
            self.refresh(APACHE_PROGRAM).await;
            let s = self.state.apache();
            if s != Some(DemoStatus::Starting) || !poll.next().await {
                return s;
            }
        }
    }
}
