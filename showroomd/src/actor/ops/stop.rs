//! `stop NAME`: decided in the actor, the process and its vhost taken down beside it (`Work::stop`), the end applied when it reports back.

use protocol::{EventKind, ProtocolError, Response};
use tracing::info;

use crate::actor::state::Op;
use crate::actor::work::{AfterStop, StopDone, Worked};
use crate::actor::{Actor, Msg};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// A stop, or the stop a destroy, a cleanup's step or an expiry begins
    /// with: checked here, its I/O spawned, the demo in flight until
    /// `Worked::Stopped` comes back (`stop_end`).
    pub(in crate::actor) fn stop_begin(&mut self, name: String, then: AfterStop) {
        let (has_process, stale) = match self.state.installed(&name) {
            Ok(d) => (d.has_process, self.state.is_stale(&name)),
            Err(e) => return self.stop_refused(then, e),
        };
        let destroy = then.destroys();
        let op = match &then {
            AfterStop::Expire { .. } => Op::Expiring,
            _ if destroy => Op::Destroying,
            _ => Op::Stopping,
        };
        let work = self.work();
        self.spawn_work(&name.clone(), op, async move {
            let (result, done) = work.stop(&name, has_process, stale, destroy).await;
            Msg::Worked(Worked::Stopped {
                name,
                result,
                done,
                then,
            })
        });
    }

    /// A stop refused before it began: nothing was done.
    fn stop_refused(&mut self, then: AfterStop, e: ProtocolError) {
        match then {
            AfterStop::Stop(reply) | AfterStop::Restart(reply) | AfterStop::Destroy(reply) => {
                let _ = reply.send(Err(e));
            }
            AfterStop::CleanupOne(reply) => {
                let _ = reply.send(Err(e));
            }
            AfterStop::Expire { .. } | AfterStop::Sleep { .. } => {}
        }
    }

    /// What a stop's work did, into the table: readings, the section now
    /// applied, the vhosts Apache's round took out.
    pub(in crate::actor) fn take_stop_done(&mut self, name: &str, done: StopDone) {
        if done.stale_applied {
            self.state.clear_stale(name);
        }
        if let Some(applied) = &done.applied {
            self.take_applied(applied);
        }
        for r in done.readings {
            self.take_read(r);
        }
    }

    /// A stop's work came back: its end, then what comes after it.
    pub(in crate::actor) fn stop_end(
        &mut self,
        name: String,
        result: Result<(), ProtocolError>,
        done: StopDone,
        then: AfterStop,
    ) {
        self.take_stop_done(&name, done);
        self.publish();
        if let AfterStop::Restart(reply) = then {
            // Let go first: the start is the demo's next operation.
            self.release(&name);
            return self.restart_stopped(name, result, reply);
        }
        match then {
            AfterStop::Restart(_) => {}
            AfterStop::Sleep { idle } => self.asleep(&name, idle, result),
            // Answered once the front door says so too: a stopped demo's
            // page (no reload), a destroyed one's 404 (its config's round).
            AfterStop::Stop(reply) => {
                let result = result.map(|()| self.stopped(&name, "stopped"));
                self.answer_page(reply, result);
            }
            AfterStop::Destroy(reply) => {
                let result = result.and_then(|()| self.destroy_finish(&name));
                self.answer(reply, result);
            }
            AfterStop::CleanupOne(reply) => {
                let result = result.and_then(|()| self.destroy_finish(&name));
                let result = result.map(|_| self.cleanup_forget(&name));
                self.answer(reply, result);
            }
            AfterStop::Expire { destroy, now, was } => {
                let result = match (destroy, result) {
                    (true, Ok(())) => self.destroy_finish(&name).map(drop),
                    (false, Ok(())) => {
                        self.stopped(&name, "stopped");
                        Ok(())
                    }
                    (_, Err(e)) => Err(e),
                };
                self.expire_end(&name, destroy, now, was, result);
            }
        }
        self.release(&name);
    }

    /// A stop done: wanted stopped, its logs marked, said.
    pub(in crate::actor) fn stopped(&mut self, name: &str, mark: &str) -> Response {
        self.set_wanted(name, protocol::Wanted::Stopped);
        self.mark_logs(name, mark);
        info!(demo = name, "stopped");
        self.emit(Some(name), EventKind::Stopped, "");
        Response::Done
    }

    /// Shared by restart and redeploy, awaited in the actor: the work of a
    /// stop, its end taken in.
    pub(in crate::actor) async fn stop_parts(&mut self, name: &str) -> Result<(), ProtocolError> {
        let demo = self.state.installed(name)?;
        let (has_process, stale) = (demo.has_process, self.state.is_stale(name));
        let (result, done) = self.work().stop(name, has_process, stale, false).await;
        self.take_stop_done(name, done);
        result
    }
}

impl AfterStop {
    /// Whether the demo is destroyed after its stop.
    fn destroys(&self) -> bool {
        match self {
            AfterStop::Stop(_) | AfterStop::Restart(_) | AfterStop::Sleep { .. } => false,
            AfterStop::Destroy(_) | AfterStop::CleanupOne(_) => true,
            AfterStop::Expire { destroy, .. } => *destroy,
        }
    }
}
