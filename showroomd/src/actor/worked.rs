//! An operation's work handed to a task beside the actor (`spawn_work`), its end applied when it comes back (`worked`), and the answers that wait for the front door to serve what was done (`answer`, `answer_page`).

use protocol::ProtocolError;
use tokio::sync::watch;
use tracing::warn;

use super::{state, work, Actor, Msg, Reply};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// What an operation's I/O needs, for a task beside the actor.
    pub(super) fn work(&self) -> work::Work<S> {
        work::Work {
            sup: self.sup.clone(),
            layout: self.layout.clone(),
            sandbox: self.sandbox.clone(),
            apache: self.apache.clone(),
            plugin_missing_told: self.plugin_missing_told.clone(),
            installs: self.installs.clone(),
        }
    }

    /// Runs a demo's work beside the actor: the demo is in flight (its
    /// requests held, in order) until the work's end comes back to the inbox.
    pub(super) fn spawn_work<F>(&mut self, name: &str, op: state::Op, work: F)
    where
        F: std::future::Future<Output = Msg> + Send + 'static,
    {
        self.set_moving(name, op);
        // A strong sender only while the work runs: the loop ends once every
        // handle and every work is gone.
        let tx = self.self_tx.upgrade();
        tokio::spawn(async move {
            let msg = work.await;
            if let Some(tx) = tx {
                let _ = tx.send(msg).await;
            }
        });
    }

    /// A work's end, applied.
    pub(super) async fn worked(&mut self, worked: work::Worked) {
        match worked {
            work::Worked::Stopped {
                name,
                result,
                done,
                then,
            } => self.stop_end(name, result, done, then),
            work::Worked::Started {
                name,
                result,
                done,
                then,
            } => self.start_worked(name, result, done, then),
            work::Worked::SourceStopped {
                src,
                clone,
                result,
                reading,
                reply,
            } => self.clone_source_stopped(src, clone, result, reading, reply),
            work::Worked::Installed {
                name,
                result,
                readings,
                reply,
            } => {
                for r in readings {
                    self.take_read(r);
                }
                // No longer installing: the snapshot the answer comes with says how it is.
                self.release(&name);
                self.deployed(&name, result, reply).await;
            }
        }
    }

    /// Answers once what was done is served: when the front door is on, a
    /// task beside the actor waits (5 s at most) until its config serves
    /// the snapshot published now, so that "ok" means a demo just deployed
    /// (or gone, or with new visitor rules) is served so by name, without
    /// holding the actor.
    pub(super) fn answer<T: Send + 'static>(
        &self,
        reply: Reply<T>,
        result: Result<T, ProtocolError>,
    ) {
        let served = self.front_served.as_ref().map(|s| s.conf.clone());
        self.answer_when(served, reply, result);
    }

    /// `answer` for what changes a demo's status alone (a start, a stop):
    /// its page, which says it, is written; no config round is waited for.
    pub(super) fn answer_page<T: Send + 'static>(
        &self,
        reply: Reply<T>,
        result: Result<T, ProtocolError>,
    ) {
        let served = self.front_served.as_ref().map(|s| s.pages.clone());
        self.answer_when(served, reply, result);
    }

    fn answer_when<T: Send + 'static>(
        &self,
        served: Option<watch::Receiver<u64>>,
        reply: Reply<T>,
        result: Result<T, ProtocolError>,
    ) {
        let seq = self.snapshot_tx.borrow().seq;
        match served {
            Some(mut served) if *served.borrow() <= seq => {
                tokio::spawn(async move {
                    let waited = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        served.wait_for(|s| *s > seq),
                    );
                    if waited.await.is_err() {
                        warn!("the front door has not taken the change in 5 s: answering anyway");
                    }
                    let _ = reply.send(result);
                });
            }
            _ => {
                let _ = reply.send(result);
            }
        }
    }
}
