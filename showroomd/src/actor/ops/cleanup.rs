//! `cleanup`: destroy the demos that match (for cron), and remove what earlier failures left behind.

use protocol::{CleanupReport, CleanupRequest, ErrorKind, ProtocolError, Response};
use tracing::{info, warn};

use crate::actor::apache_keeper::Change;
use crate::actor::work::AfterStop;
use crate::actor::{ask, gone, Actor, Msg, Reply};
use crate::apache;
use crate::store;
use crate::supervisor::{ProcessInfo, Supervisord};

/// What earlier failures left, each named by the demo it would belong to:
/// a leftover only while no demo of that name exists or is deploying.
enum Leftover {
    Copy(String),
    Group(String),
    /// A deploy log, and its demo's name.
    File(std::path::PathBuf, String),
}

/// A cleanup in progress: its report so far, the filter each demo is
/// checked against again at its turn, and the leftovers still to remove.
pub(crate) struct Batch {
    report: CleanupReport,
    req: CleanupRequest,
    leftovers: Vec<(String, Leftover)>,
}

impl<S: Supervisord> Actor<S> {
    /// Plans a cleanup; a dry run answers at once. Otherwise a task sends
    /// its demos' destroys one message at a time, so that every other
    /// request interleaves with them instead of waiting for the whole batch.
    /// The plan's one reading of every program is awaited here: the plan is
    /// a request on every demo, made at its turn from the world as it is
    /// then, before any request after it.
    pub(in crate::actor) async fn cleanup_begin(
        &mut self,
        req: CleanupRequest,
        reply: Reply<Response>,
    ) {
        let taken = std::time::Instant::now();
        let read = self.sup.all_process_info().await;
        let infos = read.as_ref().ok().cloned();
        self.take_sweep(read, taken);
        // While a shared part fails, the statuses behind it say nothing of
        // the demos: a cron's `--status FATAL` would destroy healthy ones.
        if let Some(failure) = self.state.shared_failure() {
            warn!(%failure, "cleanup refused: a shared part is failing");
            let _ = reply.send(Err(self.shared_failure_error(&failure)));
            return;
        }
        let matching = self.state.cleanup_matches(&req, store::now_secs());
        let leftovers = self.leftovers(infos);
        let mut batch = Batch {
            report: CleanupReport {
                dry_run: req.dry_run,
                destroyed: vec![],
                failed: vec![],
                leftovers: leftovers.iter().map(|(d, _)| d.clone()).collect(),
            },
            req,
            leftovers,
        };
        if batch.req.dry_run {
            batch.report.destroyed = matching;
            let _ = reply.send(Ok(Response::Cleanup(batch.report)));
            return;
        }
        let Some(tx) = self.self_tx.upgrade() else {
            let _ = reply.send(Err(gone()));
            return;
        };
        tokio::spawn(async move {
            for name in matching {
                let req = batch.req.clone();
                match ask(&tx, |r| Msg::CleanupOne(name.clone(), req, r)).await {
                    Ok(true) => batch.report.destroyed.push(name),
                    // No longer matches: started, or changed, since the plan.
                    Ok(false) => {}
                    // Destroyed meanwhile by another request: gone as wanted.
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => {
                        warn!(demo = %name, error = %e.message, "cleanup could not destroy it");
                        batch.report.failed.push((name, e.message));
                    }
                }
            }
            let _ = tx.send(Msg::CleanupEnd(batch, reply)).await;
        });
    }

    /// The refusal of a cleanup while a shared part fails.
    fn shared_failure_error(&self, failure: &str) -> ProtocolError {
        ProtocolError::new(
            ErrorKind::SharedFailure,
            format!("cleanup destroys nothing while {failure} (a shared part): fix it first"),
        )
        .with_detail(self.shared_fix_hint())
    }

    /// One demo of a cleanup, at its turn: destroyed (true), and its deploy
    /// log with it, if it still matches the filter; else left (false).
    /// One demo of a cleanup, checked again at its turn: a demo that no
    /// longer matches is left (answers false); one that does is destroyed
    /// as `destroy` does, its end answering true (`cleanup_forget`).
    pub(in crate::actor) fn cleanup_one(
        &mut self,
        name: String,
        req: &CleanupRequest,
        reply: Reply<bool>,
    ) {
        // A shared part that failed since the plan stops the rest of it:
        // the statuses it was made from no longer say anything.
        if let Some(failure) = self.state.shared_failure() {
            let _ = reply.send(Err(self.shared_failure_error(&failure)));
            return;
        }
        if let Err(e) = self.state.installed(&name) {
            let _ = reply.send(Err(e));
            return;
        }
        if !self.state.cleanup_match(&name, req, store::now_secs()) {
            info!(
                demo = name,
                "cleanup leaves it: it no longer matches since the cleanup was planned"
            );
            let _ = reply.send(Ok(false));
            return;
        }
        self.stop_begin(name, AfterStop::CleanupOne(reply));
    }

    /// A demo a cleanup destroyed: `destroy` keeps the deploy log for a
    /// post-mortem; cleanup is the end of the line.
    pub(in crate::actor) fn cleanup_forget(&self, name: &str) -> bool {
        for n in 1..=crate::deployer::DEPLOY_LOGS_KEPT {
            remove_if_present(&self.layout.deploy_log_nth(name, n));
        }
        for kind in ["access", "error"] {
            remove_if_present(&self.layout.vhost_log(name, kind));
        }
        true
    }

    /// A cleanup's end: what earlier failures left is removed, the report given.
    pub(in crate::actor) async fn cleanup_end(&mut self, batch: Batch) -> Response {
        let Batch {
            mut report,
            leftovers,
            ..
        } = batch;
        report.leftovers.clear();
        for (what, l) in leftovers {
            // Looked at again: a deploy of that name since the plan owns it now.
            let still = match &l {
                Leftover::Copy(n) => self.state.is_leftover_copy(n),
                Leftover::Group(g) => self.state.is_leftover_group(g),
                Leftover::File(_, demo) => !self.state.demos.contains_key(demo),
            };
            if !still {
                info!(leftover = %what, "cleanup leaves it: a demo of its name exists since the cleanup was planned");
                continue;
            }
            let r = match l {
                // Through Apache's keeper, as every change of its config.
                Leftover::Copy(n) => match self.apache.apply(vec![Change::Disable(n)]).await {
                    Ok(applied) => {
                        self.take_applied(&applied);
                        Ok(())
                    }
                    Err(e) => Err(e.message),
                },
                Leftover::Group(g) => self.remove_group(&g).await.map_err(|e| e.to_string()),
                Leftover::File(p, _) => std::fs::remove_file(p).map_err(|e| e.to_string()),
            };
            match r {
                Ok(()) => report.leftovers.push(what),
                Err(e) => report.failed.push((what, e)),
            }
        }
        info!(
            destroyed = report.destroyed.len(),
            leftovers = report.leftovers.len(),
            failed = report.failed.len(),
            "cleanup done"
        );
        self.publish();
        Response::Cleanup(report)
    }

    /// How to make the shared parts healthy again.
    fn shared_fix_hint(&self) -> String {
        if !self.state.supervisor_up() {
            return "start it with `showroomctl supervisor start`".into();
        }
        format!(
            "the demos whose vhost it serves show UNKNOWN meanwhile; its log: {}; \
             once whatever held its ports is gone, `showroomctl start NAME` of one of them starts it again",
            self.layout.apache_logs().join("error.log").display()
        )
    }

    /// What earlier failures left: links, groups and deploy logs without a demo.
    fn leftovers(&self, infos: Option<Vec<ProcessInfo>>) -> Vec<(String, Leftover)> {
        let mut leftovers = Vec::new();
        for link in apache::enabled_names(&self.layout) {
            if self.state.is_leftover_copy(&link) {
                leftovers.push((format!("Apache copy {link}.conf"), Leftover::Copy(link)));
            }
        }
        if let Some(infos) = infos {
            for i in infos {
                if self.state.is_leftover_group(&i.group) {
                    leftovers.push((
                        format!("supervisord group {}", i.group),
                        Leftover::Group(i.group),
                    ));
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.layout.logs().join("deploy")) {
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                // Only logs: a running deploy's process group is noted here too.
                // `NAME.log`, and the earlier ones kept, `NAME.log.1`…
                let kept = file
                    .rsplit_once(".log.")
                    .filter(|(_, n)| n.parse::<u32>().is_ok())
                    .map(|(demo, _)| demo);
                let Some(demo) = file.strip_suffix(".log").or(kept) else {
                    continue;
                };
                if !self.state.demos.contains_key(demo) {
                    leftovers.push((
                        format!("deploy log {file}"),
                        Leftover::File(e.path(), demo.to_owned()),
                    ));
                }
            }
        }
        leftovers
    }
}

fn remove_if_present(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), error = %e, "could not remove a deploy log"),
    }
}
