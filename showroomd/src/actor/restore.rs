//! The demos wanted running brought back after supervisord was started afresh (a reboot, `supervisor stop` then `start`, a crash): in batches of `restore_jobs`, each batch one message in the actor's inbox.
//!
//! Within a batch every process is started at once (supervisord's
//! `startProcess` without waiting), their states read together, and all
//! their vhosts enabled with one Apache reload: a batch costs about one
//! `startsecs`, not one per demo. Between batches the inbox is served, so
//! a `list`-and-`start` operator is not kept waiting behind fifty demos.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, EventKind, ProtocolError};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::vhosts::apache_error;
use super::{sup_error, warn_failed, Actor, Msg};
use crate::apache;
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisord;
use crate::wait;

/// How long a batch's processes may take to leave STARTING and BACKOFF.
const SETTLE: Duration = Duration::from_secs(30);

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
                let (done, wait) = oneshot::channel();
                if tx.send(Msg::Restore(batch, done)).await.is_err() {
                    return;
                }
                let Ok((ok, bad)) = wait.await else { return };
                back += ok;
                failed += bad;
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

    /// Starts one batch; returns how many came back and how many failed.
    pub(super) async fn restore_batch(&mut self, names: Vec<String>) -> (usize, usize) {
        // Asked since it was queued: a stop, a destroy, an expiry.
        let still: HashSet<String> = self.state.to_restore().into_iter().collect();
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| still.contains(n) && self.state.installed(n).is_ok())
            .collect();
        if names.is_empty() {
            return (0, 0);
        }
        if let Err(e) = self.require_supervisor().await {
            warn!(demos = ?names, error = %e.message, "cannot bring these demos back: supervisord does not answer");
            return (0, names.len());
        }
        let mut failed: Vec<(String, ProtocolError)> = Vec::new();
        let procs = self.restore_processes(&names, &mut failed).await;
        let vhosts: Vec<String> = names
            .iter()
            .filter(|n| {
                self.state
                    .demos
                    .get(n.as_str())
                    .is_some_and(|d| d.has_vhost)
            })
            .filter(|n| !failed.iter().any(|(f, _)| f == *n))
            .cloned()
            .collect();
        self.restore_vhosts(&vhosts, &mut failed).await;
        // A demo whose vhost failed goes back to stopped whole, as a failed `start` does.
        for (n, _) in &failed {
            if procs.contains(n) {
                let stopped = self.stop_program(n).await;
                warn_failed(
                    stopped,
                    n,
                    "stopping the process of a demo that did not come back",
                );
            }
        }
        let now = Instant::now();
        for n in &names {
            let enabled = apache::is_enabled(&self.layout, n);
            self.state.set_enabled(n, enabled);
            self.state.mark_hot(n, now);
            self.refresh(n).await;
        }
        for n in &names {
            match failed.iter().find(|(f, _)| f == n) {
                None => {
                    info!(demo = %n, "brought back: it was wanted running");
                    self.emit(
                        Some(n),
                        EventKind::Started,
                        "brought back after supervisord's fresh start",
                    );
                }
                Some((_, e)) => {
                    warn!(demo = %n, error = %e.message, detail = e.detail.as_deref().unwrap_or(""), "did not come back after supervisord's fresh start; it stays wanted running");
                    self.emit(Some(n), EventKind::StartFailed, e.message.clone());
                }
            }
        }
        self.publish();
        (names.len() - failed.len(), failed.len())
    }

    /// Starts the batch's processes together, then waits until each runs or
    /// has failed; returns those started.
    async fn restore_processes(
        &mut self,
        names: &[String],
        failed: &mut Vec<(String, ProtocolError)>,
    ) -> Vec<String> {
        let mut started = Vec::new();
        for n in names {
            if !self
                .state
                .demos
                .get(n.as_str())
                .is_some_and(|d| d.has_process)
            {
                continue;
            }
            if let Err(e) = self.apply_stale_section(n).await {
                failed.push((n.clone(), e));
                continue;
            }
            match self.sup.start_process_nowait(n).await {
                Ok(()) => started.push(n.clone()),
                Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => started.push(n.clone()),
                Err(e) => failed.push((n.clone(), sup_error(e))),
            }
        }
        let poll = wait::Poll::new(SETTLE, Duration::from_millis(200));
        while !started.is_empty() {
            // The batch's programs one by one: a full sweep costs supervisord
            // far more at 1000 programs than a few single reads.
            for n in &started {
                self.refresh(n).await;
            }
            let moving = started.iter().any(|n| {
                matches!(
                    self.state.proc(n),
                    Some(DemoStatus::Starting | DemoStatus::Backoff)
                )
            });
            if !moving || !poll.next().await {
                break;
            }
        }
        for n in &started {
            let state = self.state.proc(n);
            if state != Some(DemoStatus::Running) {
                let word = state.map_or("unknown to supervisord".into(), |s| s.to_string());
                failed.push((
                    n.clone(),
                    ProtocolError::new(
                        ErrorKind::AbnormalTermination,
                        format!("ABNORMAL_TERMINATION: {n}"),
                    )
                    .with_detail(format!("its process is {word}")),
                ));
            }
        }
        started
    }

    /// Enables the batch's vhosts with one Apache reload; those Apache
    /// refuses, or does not serve, are disabled again and failed.
    async fn restore_vhosts(
        &mut self,
        vhosts: &[String],
        failed: &mut Vec<(String, ProtocolError)>,
    ) {
        if vhosts.is_empty() {
            return;
        }
        let mut enabled = Vec::new();
        for n in vhosts {
            let copied = self
                .vhost_text(n)
                .and_then(|text| apache::enable(&self.layout, n, &text).map_err(apache_error));
            match copied {
                Ok(()) => enabled.push(n.clone()),
                Err(e) => failed.push((n.clone(), e)),
            }
        }
        let mut undo = Vec::new();
        match self.apache_apply().await {
            Ok(disabled) => {
                for (n, why) in disabled {
                    if enabled.contains(&n) {
                        let e = ProtocolError::new(
                            ErrorKind::ApacheConfig,
                            "Apache refused the virtual host",
                        )
                        .with_detail(why);
                        failed.push((n, e));
                    }
                }
            }
            Err(e) => {
                undo.extend(enabled.iter().cloned());
                failed.extend(enabled.iter().map(|n| (n.clone(), e.clone())));
            }
        }
        for n in &enabled {
            if failed.iter().any(|(f, _)| f == n) {
                continue;
            }
            let ports = apache::listen_ports(&self.layout.apache_copy(n));
            if !apache::wait_ports(&ports, true, Duration::from_secs(5)).await {
                undo.push(n.clone());
                failed.push((
                    n.clone(),
                    ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        format!("Apache did not start serving port(s) {ports:?} of this demo"),
                    ),
                ));
            }
        }
        if !undo.is_empty() {
            for n in &undo {
                let unlinked = apache::remove_copy(&self.layout, n);
                warn_failed(
                    unlinked,
                    n,
                    "disabling the vhost of a demo that did not come back",
                );
            }
            if let Err(e) = self.apache_apply().await {
                warn!(error = %e.message, "restoring Apache after vhosts that did not come back");
            }
        }
    }
}
