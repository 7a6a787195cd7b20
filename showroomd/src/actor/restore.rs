//! The demos wanted running brought back after supervisord was started afresh (a reboot, `supervisor stop` then `start`, a crash): `restore_jobs` at a time, each demo one message in the actor's inbox, checked again at its turn and started as `start` does.
//!
//! A batch's starts run together beside the actor, their vhosts made live
//! by Apache's keeper in one round when they come together: a batch costs
//! about one `startsecs`, not one per demo, and the inbox is served all
//! along.

use std::time::Instant;

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::work::AfterStart;
use super::{Actor, Msg, Reply};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// Queues the restore of every demo wanted running. A task hands the
    /// batches to the inbox one at a time, the next once the last is done,
    /// so that requests sent meanwhile are served between them.
    pub(super) fn restore_wanted(&mut self) {
        let names = self.state.to_restore();
        if !names.is_empty() {
            info!(
                demos = names.len(),
                at_once = self.cfg.restore_jobs,
                "supervisord was started afresh: bringing back the demos wanted running"
            );
        }
        self.restore_names(names);
    }

    /// Brings these demos back, in batches, through the inbox.
    pub(super) fn restore_names(&mut self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let Some(tx) = self.self_tx.upgrade() else {
            return;
        };
        let total = names.len();
        let batches: Vec<Vec<String>> = names
            .chunks(self.cfg.restore_jobs)
            .map(<[String]>::to_vec)
            .collect();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let (mut back, mut failed) = (0, 0);
            for batch in batches {
                // The batch's demos start together; the next batch once they ended.
                let mut answers = Vec::new();
                for name in batch {
                    let (reply, answer) = oneshot::channel();
                    if tx.send(Msg::RestoreOne(name.clone(), reply)).await.is_err() {
                        return;
                    }
                    answers.push((name, answer));
                }
                for (name, answer) in answers {
                    match answer.await {
                        Ok(Ok(true)) => back += 1,
                        Ok(Ok(false)) => {}
                        Ok(Err(e)) => {
                            failed += 1;
                            warn!(demo = %name, error = %e.message, detail = e.detail.as_deref().unwrap_or(""), "did not come back after supervisord's fresh start; it stays wanted running");
                        }
                        Err(_) => return,
                    }
                }
                info!(
                    back,
                    failed,
                    of = total,
                    "restoring the demos wanted running"
                );
            }
            let secs = t0.elapsed().as_secs_f64();
            if failed > 0 {
                warn!(
                    back,
                    failed, secs, "restore done: some demos did not come back (see above)"
                );
            } else {
                info!(
                    back,
                    secs, "restore done: every demo wanted running is back"
                );
            }
        });
    }

    /// One demo of a restore, checked again at its turn (still wanted
    /// running, still installed: a stop, a destroy or an expiry may have
    /// come since): started as `start` does, beside the actor. Answers
    /// whether it came back (false: skipped), or why it did not.
    pub(super) fn restore_one(&mut self, name: String, reply: Reply<bool>) {
        if !self.state.wants_restore(&name) || self.state.installed(&name).is_err() {
            let _ = reply.send(Ok(false));
            return;
        }
        self.start_begin(name, AfterStart::Restore(reply));
    }
}
