//! `start NAME`: vhost config test, then the process, then the vhost; each failure undoes what came before.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, EventKind, ProtocolError, Response};
use tracing::{info, warn};

use crate::actor::vhosts::apache_error;
use crate::actor::{sup_error, Actor};
use crate::apache::{self, ApacheError};
use crate::apache_policy::{self, Policy};
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn start_demo(
        &mut self,
        name: &str,
    ) -> Result<Response, ProtocolError> {
        let demo = self.state.installed(name)?;
        if let Some(problem) = &demo.problem {
            return Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} is not started: {problem}"),
            )
            .with_detail(format!(
                "showroom keeps it as found; destroy it, or put its record back in {} and restart showroomd",
                self.layout.record(name).display()
            )));
        }
        self.require_supervisor().await?;
        let result = self
            .start_parts(name, demo.has_process, demo.has_vhost)
            .await;
        let linked = apache::is_linked(&self.layout, name);
        self.state.set_linked(name, linked);
        self.state.mark_hot(name, Instant::now());
        self.refresh(name).await;
        self.publish();
        match &result {
            Ok(_) => {
                self.set_wanted(name, protocol::Wanted::Running);
                info!(demo = name, "started");
                self.emit(Some(name), EventKind::Started, "");
            }
            Err(e) => {
                warn!(demo = name, error = %e.message, detail = e.detail.as_deref().unwrap_or(""), "start failed");
                self.emit(Some(name), EventKind::StartFailed, e.message.clone());
            }
        }
        result
    }

    /// Holds a demo's `apache2.conf` to what a vhost of that demo may do
    /// (`apache_policy`); returns the text checked.
    fn policy_check(&self, name: &str) -> Result<String, ProtocolError> {
        let demo_dir = self.layout.demo_dir(name);
        let mine: Vec<u16> = self.state.demos[name].record.port.into_iter().collect();
        let others: Vec<u16> = self
            .state
            .demos
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .filter_map(|(_, d)| d.record.port)
            .collect();
        let policy = Policy {
            demo_dir: &demo_dir,
            ports: &mine,
            others: &others,
        };
        apache_policy::check_file(&self.layout.vhost(name), &policy).map_err(|e| {
            ProtocolError::new(
                ErrorKind::ApacheConfig,
                format!("the virtual host of demo {name} is refused: {e}"),
            )
        })
    }

    async fn start_parts(
        &mut self,
        name: &str,
        process: bool,
        vhost: bool,
    ) -> Result<Response, ProtocolError> {
        let already_linked = apache::is_linked(&self.layout, name);
        // A link with no running Apache behind it (Apache died, or a crash
        // came between link and reload) is enabled again like a new one.
        let apache_up = vhost && self.apache_settle().await == Some(DemoStatus::Running);
        let enable = vhost && !(already_linked && apache_up);
        // A new vhost is the demo's file read once, here: what is tested is
        // what Apache gets. Already enabled, its checked copy stays.
        let text = if enable && !already_linked {
            Some(self.vhost_text(name)?)
        } else {
            None
        };
        let ports = match &text {
            Some(text) => apache::listen_ports_in(text),
            None if vhost => apache::listen_ports(&self.layout.apache_link(name)),
            None => vec![],
        };
        if enable {
            // Already enabled, it is in the live tree: `apache_apply` tests it there.
            if let Some(text) = &text {
                self.test_new_vhost(name, text).await?;
            }
            // Apache's config test passes a port someone else holds, and a
            // graceful reload onto it would take every vhost down with it.
            if let Some((p, e)) = apache::taken_port(&ports) {
                // Linked, it would keep Apache from starting for the others.
                if already_linked {
                    let _ = apache::unlink(&self.layout, name);
                }
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("port {p} of this demo's virtual host is taken by another program"),
                )
                .with_detail(e.to_string()));
            }
        }
        if process {
            // A process that ended by itself still runs on its old section.
            if !matches!(
                self.state.proc(name),
                Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff)
            ) {
                self.apply_stale_section(name).await?;
            }
            match self.sup.start_process(name).await {
                Ok(()) => {}
                Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => {}
                Err(e)
                    if matches!(
                        e.fault_code(),
                        Some(codes::SPAWN_ERROR | codes::ABNORMAL_TERMINATION)
                    ) =>
                {
                    return Err(ProtocolError::new(
                        ErrorKind::AbnormalTermination,
                        format!("ABNORMAL_TERMINATION: {name}"),
                    )
                    .with_detail(format!("supervisord: {e}")));
                }
                Err(e) => return Err(sup_error(e)),
            }
        }
        if enable {
            if let Some(text) = &text {
                apache::enable(&self.layout, name, text).map_err(apache_error)?;
            }
            let applied = self.apache_apply().await.and_then(|disabled| {
                match disabled.into_iter().find(|(n, _)| n == name) {
                    Some((_, why)) => Err(ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        "Apache refused the virtual host",
                    )
                    .with_detail(why)),
                    None => Ok(()),
                }
            });
            let serving =
                applied.is_ok() && apache::wait_ports(&ports, true, Duration::from_secs(5)).await;
            if !serving {
                // Undo: the demo goes back to stopped, Apache back to the others.
                let _ = apache::unlink(&self.layout, name);
                if let Err(e) = self.apache_apply().await {
                    warn!(error = %e.message, "restoring Apache after a failed vhost start");
                }
                if process {
                    let _ = self.stop_program(name).await;
                }
                return Err(applied.err().unwrap_or_else(|| {
                    ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        format!("Apache did not start serving port(s) {ports:?} of this demo"),
                    )
                }));
            }
        }
        Ok(Response::Done)
    }

    /// The demo's vhost as Apache will get it, read once and held to the
    /// policy before Apache reads a byte of it (start and restore both take
    /// it here): what is checked and tested is what is enabled. A refusal
    /// names the file, the line and the rule, never a value another file
    /// could have put there.
    pub(in crate::actor) fn vhost_text(&self, name: &str) -> Result<String, ProtocolError> {
        self.policy_check(name)
    }

    /// Tests a vhost about to be enabled, with the ones enabled already. A
    /// failure is charged to this demo only when the enabled ones pass
    /// without it; an enabled copy Apache now refuses on its own is
    /// disabled first (named in the log), so that one demo gone bad never
    /// blocks the others' starts.
    async fn test_new_vhost(&mut self, name: &str, text: &str) -> Result<(), ProtocolError> {
        let staged = apache::stage(&self.layout, name, text).map_err(apache_error)?;
        let mut pruned = false;
        loop {
            let msg =
                match apache::config_test(&self.layout, &self.cfg, &self.sandbox, Some(&staged))
                    .await
                {
                    Ok(()) => return Ok(()),
                    Err(ApacheError::Rejected(msg)) => msg,
                    Err(e) => return Err(apache_error(e)),
                };
            if apache::config_test(&self.layout, &self.cfg, &self.sandbox, None)
                .await
                .is_ok()
            {
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("Apache refused the virtual host of demo {name}"),
                )
                .with_detail(msg));
            }
            if pruned {
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("Apache refuses the virtual hosts already enabled, not only {name}'s"),
                )
                .with_detail(msg));
            }
            for (other, why) in apache::prune_rejected(&self.layout, &self.cfg, &self.sandbox).await
            {
                warn!(demo = %other, reason = %why, starting = name, "disabled an enabled vhost Apache now refuses, so that {name} can start");
                self.state.set_linked(&other, false);
            }
            pruned = true;
        }
    }
}
