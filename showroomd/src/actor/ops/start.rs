//! `start NAME`: vhost config test, then the process (its wait beside the actor), then the vhost; each failure undoes what came before.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, EventKind, ProtocolError, Response};
use tracing::{info, warn};

use crate::actor::vhosts::apache_error;
use crate::actor::{sup_error, warn_failed, Actor, Msg, Reply};
use crate::apache::{self, ApacheError};
use crate::apache_policy::{self, Policy};
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisord;

/// What a start decided before its process was asked to start: the rest
/// (enabling the vhost) follows once the process runs.
#[derive(Debug)]
pub(crate) struct StartPlan {
    process: bool,
    /// The vhost is to be enabled (it is not served now).
    enable: bool,
    /// The vhost's text, read and checked now, when it is not enabled yet.
    text: Option<String>,
    /// The ports the vhost listens on.
    ports: Vec<u16>,
}

impl<S: Supervisord> Actor<S> {
    /// `start`, waiting for the process inside the actor: for a start the
    /// actor makes itself (a clone's source running again).
    pub(in crate::actor) async fn start_demo(
        &mut self,
        name: &str,
    ) -> Result<Response, ProtocolError> {
        match self.start_prepare(name).await? {
            Ok(plan) => self.start_here(name, plan).await,
            Err(e) => self.start_end(name, Err(e)).await,
        }
    }

    /// `start` from a client. supervisord's start waits `startsecs` (a
    /// second by default) before it says the process runs: that wait runs
    /// beside the actor, which serves other demos meanwhile. The demo is
    /// "in motion" until `StartWaited` comes back: requests naming it wait
    /// for that, in order (`Actor::hold`).
    pub(in crate::actor) async fn start_begin(&mut self, name: String, reply: Reply<Response>) {
        let result = match self.start_prepare(&name).await {
            Ok(Ok(plan)) => match self.self_tx.upgrade().filter(|_| plan.process) {
                Some(tx) => {
                    self.set_moving(&name);
                    let sup = self.sup.clone();
                    let told = self.telling(&name);
                    tokio::spawn(async move {
                        let process = start_process(&sup, &name, &told).await;
                        let _ = tx
                            .send(Msg::StartWaited {
                                name,
                                plan,
                                process,
                                reply,
                            })
                            .await;
                    });
                    return;
                }
                // No process to wait for (or the actor is shutting down): all here.
                None => self.start_here(&name, plan).await,
            },
            Ok(Err(e)) => self.start_end(&name, Err(e)).await,
            Err(e) => Err(e),
        };
        self.front_door_sync().await;
        let _ = reply.send(result);
    }

    /// The rest of a start, its process waited for here.
    async fn start_here(&mut self, name: &str, plan: StartPlan) -> Result<Response, ProtocolError> {
        let process = if plan.process {
            start_process(&self.sup, name, &self.telling(name)).await
        } else {
            Ok(())
        };
        self.start_finish(name, plan, process).await
    }

    /// The process of a start from a client runs (or failed): the rest of
    /// the start, the answer, and the demo's waiting requests.
    pub(in crate::actor) async fn start_waited(
        &mut self,
        name: &str,
        plan: StartPlan,
        process: Result<(), ProtocolError>,
        reply: Reply<Response>,
    ) {
        let result = self.start_finish(name, plan, process).await;
        self.front_door_sync().await;
        let _ = reply.send(result);
        self.release(name);
    }

    /// The checks that refuse a start outright (the outer error: nothing
    /// was tried), then what can be done before the process starts (the
    /// inner error: a start that failed, said as such).
    async fn start_prepare(
        &mut self,
        name: &str,
    ) -> Result<Result<StartPlan, ProtocolError>, ProtocolError> {
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
        let (process, vhost) = (demo.has_process, demo.has_vhost);
        self.require_supervisor().await?;
        Ok(self.start_plan(name, process, vhost).await)
    }

    /// The rest of a start once its process runs (or failed), and its end.
    async fn start_finish(
        &mut self,
        name: &str,
        plan: StartPlan,
        process: Result<(), ProtocolError>,
    ) -> Result<Response, ProtocolError> {
        let result = match process {
            Ok(()) => self.start_vhost(name, &plan).await,
            Err(e) => Err(e),
        };
        self.start_end(name, result.map(|()| Response::Done)).await
    }

    /// What every start ends with, done or failed: the table, the wanted
    /// state, the event.
    async fn start_end(
        &mut self,
        name: &str,
        result: Result<Response, ProtocolError>,
    ) -> Result<Response, ProtocolError> {
        let enabled = apache::is_enabled(&self.layout, name);
        self.state.set_enabled(name, enabled);
        self.state.mark_hot(name, Instant::now());
        self.refresh(name).await;
        self.publish();
        match &result {
            Ok(_) => {
                self.set_wanted(name, protocol::Wanted::Running);
                self.mark_logs(name, "started");
                info!(demo = name, "started");
                self.emit(Some(name), EventKind::Started, "");
            }
            Err(e) => {
                warn!(demo = name, error = %e.message, detail = e.detail.as_deref().unwrap_or(""), "start failed");
                self.mark_logs(name, &format!("start failed: {}", e.message));
                // The first line of the cause beside the words: how it ended.
                let why = match e.detail.as_deref().and_then(|d| d.lines().next()) {
                    Some(first) => format!("{}: {first}", e.message),
                    None => e.message.clone(),
                };
                self.emit(Some(name), EventKind::StartFailed, why);
            }
        }
        result
    }

    /// What a failed start of this demo's process reads to say why.
    fn telling(&self, name: &str) -> Telling {
        let demo = self.state.demos.get(name);
        let ports = demo.map(|d| d.record.ports()).unwrap_or_default();
        // With a network of its own the demo binds inside it; what the host
        // must have free are the ports pasta forwards.
        let forwarded = if self.sandbox.jail.is_some() && self.sandbox.own_net() {
            crate::sandbox::forwarded_ports(&ports, demo.is_some_and(|d| d.has_vhost))
        } else {
            vec![]
        };
        Telling {
            supervisord_log: self.layout.supervisord_log(),
            stderr_log: self.layout.process_log(name, "stderr"),
            ports,
            forwarded,
        }
    }

    /// Holds a demo's `apache2.conf` to what a vhost of that demo may do
    /// (`apache_policy`); returns the text checked.
    fn policy_check(&self, name: &str) -> Result<String, ProtocolError> {
        let demo_dir = self.layout.demo_dir(name);
        let mine: Vec<u16> = self.state.demo(name)?.record.ports();
        let others: Vec<u16> = self
            .state
            .demos
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .flat_map(|(_, d)| d.record.ports())
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

    /// What comes before the process: a new vhost read once, held to the
    /// policy and tested with Apache's config test; the process's section
    /// brought up to date.
    async fn start_plan(
        &mut self,
        name: &str,
        process: bool,
        vhost: bool,
    ) -> Result<StartPlan, ProtocolError> {
        let already_enabled = apache::is_enabled(&self.layout, name);
        // A link with no running Apache behind it (Apache died, or a crash
        // came between link and reload) is enabled again like a new one.
        let apache_up = vhost && self.apache_settle().await == Some(DemoStatus::Running);
        let enable = vhost && !(already_enabled && apache_up);
        // A new vhost is the demo's file read once, here: what is tested is
        // what Apache gets. Already enabled, its checked copy stays.
        let text = if enable && !already_enabled {
            Some(self.vhost_text(name)?)
        } else {
            None
        };
        let ports = match &text {
            Some(text) => apache::listen_ports_in(text),
            None if vhost => apache::listen_ports(&self.layout.apache_copy(name)),
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
                if already_enabled {
                    let unlinked = apache::remove_copy(&self.layout, name);
                    warn_failed(unlinked, name, "disabling the vhost whose port is taken");
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
        }
        Ok(StartPlan {
            process,
            enable,
            text,
            ports,
        })
    }

    /// The vhost, once the process runs; a failure undoes the process too.
    async fn start_vhost(&mut self, name: &str, plan: &StartPlan) -> Result<(), ProtocolError> {
        let ports = &plan.ports;
        if plan.enable {
            if let Some(text) = &plan.text {
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
                applied.is_ok() && apache::wait_ports(ports, true, Duration::from_secs(5)).await;
            if !serving {
                // Undo: the demo goes back to stopped, Apache back to the others.
                let unlinked = apache::remove_copy(&self.layout, name);
                warn_failed(unlinked, name, "disabling the vhost of a failed start");
                if let Err(e) = self.apache_apply().await {
                    warn!(error = %e.message, "restoring Apache after a failed vhost start");
                }
                if plan.process {
                    let stopped = self.stop_program(name).await;
                    warn_failed(stopped, name, "stopping the process of a failed start");
                }
                return Err(applied.err().unwrap_or_else(|| {
                    ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        format!("Apache did not start serving port(s) {ports:?} of this demo"),
                    )
                }));
            }
        }
        Ok(())
    }

    /// The demo's vhost as Apache will get it, read once and held to the
    /// policy before Apache reads a byte of it (start and restore both take
    /// it here): what is checked and tested is what is enabled. A refusal
    /// names the file, the line and the rule, never a value another file
    /// could have put there.
    pub(in crate::actor) fn vhost_text(&self, name: &str) -> Result<String, ProtocolError> {
        let checked = self.policy_check(name)?;
        Ok(apache::with_own_logs(&self.layout, name, &checked))
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
                self.state.set_enabled(&other, false);
            }
            pruned = true;
        }
    }
}

/// Where a failed start looks for its cause: the process's stderr, the ports it should listen on.
pub(crate) struct Telling {
    supervisord_log: std::path::PathBuf,
    stderr_log: std::path::PathBuf,
    ports: Vec<u16>,
    /// The host ports pasta forwards to it (none on the host's network).
    forwarded: Vec<u16>,
}

/// Asks supervisord to start a demo's program and waits until it runs
/// (`startsecs`) or failed; one already running is started. A failure keeps
/// the seed's words and adds why: how it ended, for how long, its stderr,
/// a port some other program holds.
async fn start_process<S: Supervisord>(
    sup: &S,
    name: &str,
    told: &Telling,
) -> Result<(), ProtocolError> {
    // In its own network the demo binds its port whatever holds the host's:
    // pasta alone would fail (or share it), and the start look fine. So a
    // forwarded port another program holds refuses the start here, naming
    // the holder, as a process that cannot bind its port does.
    if !told.forwarded.is_empty() {
        let runs = sup.process_info(name).await.is_ok_and(|i| {
            matches!(
                crate::status::from_supervisor(&i.statename),
                DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff
            )
        });
        // The forwarder of the demo's last run may still be going (its
        // supervisord was just killed): a port is taken only if it stays so.
        let taken = || {
            told.forwarded
                .iter()
                .copied()
                .filter(|p| !runs && crate::ports::held(*p).is_some())
                .collect::<Vec<u16>>()
        };
        let mut ports = taken();
        let since = std::time::Instant::now();
        while !ports.is_empty() && since.elapsed() < std::time::Duration::from_secs(3) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            ports = taken();
        }
        let held: Vec<String> = ports.into_iter().map(crate::ports::held_by).collect();
        if !held.is_empty() {
            let detail = held
                .into_iter()
                .chain([crate::failure::see_logs(name)])
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ProtocolError::new(
                ErrorKind::AbnormalTermination,
                format!("ABNORMAL_TERMINATION: {name}"),
            )
            .with_detail(detail));
        }
    }
    match sup.start_process(name).await {
        Ok(()) => Ok(()),
        Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => Ok(()),
        Err(e)
            if matches!(
                e.fault_code(),
                Some(codes::SPAWN_ERROR | codes::ABNORMAL_TERMINATION)
            ) =>
        {
            let mut lines = Vec::new();
            // Ended, it holds no port: one held now is another program's.
            for p in told
                .ports
                .iter()
                .filter(|p| crate::ports::held(**p).is_some())
            {
                lines.push(crate::ports::held_by(*p));
            }
            if let Ok(info) = sup.process_info(name).await {
                let state = crate::status::from_supervisor(&info.statename);
                let ending = crate::failure::Ending::read(
                    &info,
                    state,
                    &told.supervisord_log,
                    &told.stderr_log,
                );
                lines.push(ending.detail(name));
                if state == DemoStatus::Backoff {
                    lines.push(format!(
                        "that was its first try of {}: supervisord tries again, then gives up (FATAL)",
                        crate::failure::START_RETRIES + 1
                    ));
                }
            }
            lines.push(format!("supervisord: {e}"));
            lines.push(crate::failure::see_logs(name));
            let detail = lines.join("\n");
            Err(ProtocolError::new(
                ErrorKind::AbnormalTermination,
                format!("ABNORMAL_TERMINATION: {name}"),
            )
            .with_detail(detail))
        }
        Err(e) => Err(sup_error(e)),
    }
}
