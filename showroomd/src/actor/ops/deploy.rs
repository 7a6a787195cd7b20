//! `deploy APP NAME`: reserve the name and port, run the script as a job, then install or roll back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use protocol::{DemoInfo, DemoStatus, DeployRequest, ErrorKind, EventKind, ProtocolError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::actor::state::Op;
use crate::actor::work::Worked;
use crate::actor::{internal, warn_failed, Actor, DemoView, Msg, Reply};
use crate::deployer::{self, Job, Outcome};
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::Supervisord;

/// Names a script may not be handed as params: showroom sets them.
const OWN_VARS: &[&str] = &["name", "PORT", "PORT2", "HOST"];

fn is_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a deploy-like job (a deploy, a clone) carries to its end besides the outcome.
#[derive(Debug)]
pub(crate) struct Finish {
    /// When the request was taken: the deploy's duration runs from here to the install.
    pub started: Instant,
    /// None: the daemon's `default_ttl`.
    pub ttl_secs: Option<u64>,
    /// A redeploy's new record: its end swaps folders instead of installing.
    pub redeploy: Option<Box<DemoRecord>>,
    /// None: the daemon's `sleep_after`.
    pub sleep_after_secs: Option<u64>,
}

/// Every param given is one the app's script declares, and none is showroom's own.
pub(super) fn check_params(
    app: &str,
    declared: &[String],
    params: &[(String, String)],
) -> Result<(), ProtocolError> {
    match params
        .iter()
        .find(|(k, _)| !declared.contains(k) || OWN_VARS.contains(&k.as_str()))
    {
        Some((k, _)) => Err(ProtocolError::new(
            ErrorKind::InvalidRequest,
            format!(
                "app {app} takes no param {k:?} (its params: {})",
                declared.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn deploy_begin(
        &mut self,
        req: DeployRequest,
        progress: mpsc::Sender<String>,
        reply: Reply<DemoInfo>,
    ) {
        let finish = Finish {
            started: Instant::now(),
            ttl_secs: req.ttl_secs,
            redeploy: None,
            sleep_after_secs: req.sleep_after_secs,
        };
        let job = match self.deploy_reserve(&req).await {
            Ok(job) => job,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        self.spawn_job(req.name, reply, finish, move |cancel| {
            deployer::run(job, progress, cancel)
        })
        .await;
    }

    /// Runs a reserved demo's job beside the actor, within `max_deploy_jobs`;
    /// its end comes back to the inbox as `DeployDone`.
    pub(super) async fn spawn_job<F, Fut>(
        &mut self,
        name: String,
        reply: Reply<DemoInfo>,
        finish: Finish,
        work: F,
    ) where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Outcome> + Send,
    {
        let Some(tx) = self.self_tx.upgrade() else {
            self.deploy_rollback(&name).await;
            let _ = reply.send(Err(ProtocolError::new(
                ErrorKind::Busy,
                "showroomd is shutting down",
            )));
            return;
        };
        let slots = self.deploy_slots.clone();
        let cancel = self.jobs_cancel.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                permit = slots.acquire_owned() => {
                    let _permit = permit;
                    work(cancel.clone()).await
                }
                _ = cancel.cancelled() => Outcome::cut_short(),
            };
            let _ = tx
                .send(Msg::DeployDone {
                    name,
                    outcome,
                    reply,
                    finish,
                })
                .await;
        });
    }

    /// Checks the request and reserves the name and the port, on disk first.
    async fn deploy_reserve(&mut self, req: &DeployRequest) -> Result<Job, ProtocolError> {
        let name = req.name.as_str();
        req.validate()?;
        let script = deployer::script_for(&self.cfg.scripts_dir, &req.app)
            .ok_or_else(|| deployer::missing_app(&self.cfg.scripts_dir, &req.app))?;
        self.require_new(name).map_err(|e| match e.kind {
            ErrorKind::AlreadyExists => e.with_detail(format!(
                "to run its app's script again in a fresh folder, on the same port: showroomctl redeploy {name}"
            )),
            _ => e,
        })?;
        let declared = deployer::declared_params(&script);
        check_params(&req.app, &declared, &req.params)?;
        let mut comment = req.comment.clone();
        if let Some((_, v)) = req.params.iter().find(|(k, _)| k == "comment") {
            if comment.is_empty() {
                comment = v.clone();
            }
        }
        let count = deployer::declared_ports(&script)
            .map_err(|e| ProtocolError::new(ErrorKind::InvalidRequest, e))?;
        let ports = self
            .reserve(
                name,
                &req.app,
                &comment,
                &req.params,
                (
                    count,
                    protocol::DemoLimits {
                        memory: req.memory,
                        procs: req.procs,
                        ..Default::default()
                    },
                ),
                "deploy",
            )
            .await?;
        let env = script_env(
            name,
            &ports,
            &self.cfg.host,
            &declared,
            &comment,
            &req.params,
        );
        Ok(self.job(script, name, env))
    }

    /// A new demo may take this name: no demo and no folder has it.
    pub(super) fn require_new(&self, name: &str) -> Result<(), ProtocolError> {
        protocol::names::validate_name(name)?;
        if self.state.demos.contains_key(name) || self.layout.demo_dir(name).exists() {
            return Err(ProtocolError::demo_exists(name));
        }
        Ok(())
    }

    /// Reserves the name and its ports (`count` of them), on disk first:
    /// the folder and a `deploying` record, which the repairs at start roll
    /// back. `what` is `deploy` or `clone of SRC`, for the log and the event.
    pub(super) async fn reserve(
        &mut self,
        name: &str,
        app: &str,
        comment: &str,
        params: &[(String, String)],
        (count, limits): (usize, protocol::DemoLimits),
        what: &str,
    ) -> Result<Vec<u16>, ProtocolError> {
        self.require_supervisor().await?;
        // A port another program holds would fail the demo's start: skipped.
        let ports = self
            .state
            .free_ports((self.cfg.port_min, self.cfg.port_max), count, |p| {
                crate::ports::held(p).is_none()
            })
            .ok_or_else(|| no_free_port(&self.state, self.cfg.port_min, self.cfg.port_max))?;

        // The marker first: a folder showroom finds at start with no marker
        // and no record is not provably its own, and is kept.
        store::mark_deploying(&self.layout, name)
            .map_err(|e| internal("noting the deploy under way", e))?;
        let dir = self.layout.demo_dir(name);
        let created =
            std::fs::create_dir(&dir).map_err(|e| internal("creating the demo folder", e));
        // Only a folder made here is removed on failure: another's stays.
        let ours = created.is_ok();
        let made = created.and_then(|()| {
            self.sandbox
                .prepare_demo_dir(&dir)
                .map_err(|e| internal("giving the demo folder to the sandbox's account", e))
        });
        let record = DemoRecord {
            app: app.to_owned(),
            port: ports.first().copied(),
            comment: comment.to_owned(),
            created: store::now_secs(),
            phase: Phase::Deploying,
            params: params.iter().cloned().collect(),
            wanted: Default::default(),
            expires_at: None,
            deploy_ms: None,
            keep: false,
            port2: ports.get(1).copied(),
            access: crate::visitors::Access {
                users: Vec::new(),
                allow: self.cfg.default_allow.clone(),
            },
            // Resolved now: a later change of the config's defaults leaves it as deployed.
            limits: crate::sandbox::limits::effective(&limits, &self.cfg.demo_limits()),
            sleep: Default::default(),
        };
        let written = made.and_then(|()| {
            store::write_record(&self.layout, name, &record)
                .map_err(|e| internal("writing the demo's record", e))
        });
        if let Err(e) = written {
            // Each undo that fails leaves what the next start rolls back: said in the log.
            if ours {
                warn_failed(
                    std::fs::remove_dir_all(&dir),
                    name,
                    "removing the demo folder",
                );
            }
            let removed = store::remove_record(&self.layout, name);
            warn_failed(removed, name, "removing the demo's record");
            let unmarked = store::unmark_deploying(&self.layout, name);
            warn_failed(unmarked, name, "removing the deploy marker");
            return Err(e);
        }
        self.state.demos.insert(
            name.to_owned(),
            DemoView {
                record,
                has_process: false,
                has_vhost: false,
                enabled: false,
                status: DemoStatus::Deploying,
                reason: String::new(),
                problem: None,
                oom: None,
            },
        );
        self.publish();
        let port = ports[0];
        info!(demo = name, app, ?ports, "{what} started");
        self.emit(
            Some(name),
            EventKind::DeployStarted,
            format!("{what}: app {app} on port {port}"),
        );
        Ok(ports)
    }

    /// A script run in the demo's folder, as a deploy job.
    pub(super) fn job(&self, script: PathBuf, name: &str, env: Vec<(String, String)>) -> Job {
        deployer::rotate_deploy_logs(&self.layout, name);
        Job {
            script,
            cwd: self.layout.demo_dir(name),
            env,
            timeout: Duration::from_secs(self.cfg.deploy_timeout_secs),
            log: self.layout.deploy_log(name),
            pgid_file: self.layout.deploy_pgid(name),
            log_max_bytes: self.cfg.deploy_log_max_bytes,
            sandbox: self.sandbox.clone(),
            seen_at: None,
            name: name.to_owned(),
            limits: self.limits_of(name),
        }
    }

    /// The job ended: install the demo (its program added beside the
    /// actor, `Worked::Installed` then answers), or undo everything the
    /// reservation did.
    pub(in crate::actor) async fn deploy_end(
        &mut self,
        name: &str,
        outcome: Outcome,
        finish: Finish,
        reply: Reply<DemoInfo>,
    ) {
        if !outcome.success {
            warn!(demo = name, how = %outcome.how, "deploy script failed; rolling back");
            self.deploy_rollback(name).await;
            self.emit(Some(name), EventKind::DeployFailed, outcome.how.clone());
            let mut detail = format!("the script ended with {}", outcome.how);
            if !outcome.tail.is_empty() {
                detail += &format!("; its last output:\n{}", outcome.tail.join("\n"));
            }
            let e = ProtocolError::new(ErrorKind::DeployFailed, "installation ended with an error")
                .with_detail(detail);
            return self.answer(reply, Err(e));
        }
        match self.deploy_install(name, finish) {
            Ok(None) => self.deployed(name, Ok(()), reply).await,
            Ok(Some(section)) => {
                let work = self.work();
                let name = name.to_owned();
                self.spawn_work(&name.clone(), Op::Installing, async move {
                    // Never closed: the semaphore lives as long as the actor.
                    let turn = work.installs.acquire().await;
                    let result = work.add_program(&name, &section).await;
                    drop(turn);
                    let readings = vec![work.read(&name).await];
                    Msg::Worked(Worked::Installed {
                        name,
                        result,
                        readings,
                        reply,
                    })
                });
            }
            Err(e) => self.deployed(name, Err(e), reply).await,
        }
    }

    /// A deploy's end, once its program is in supervisord (or failed).
    pub(in crate::actor) async fn deployed(
        &mut self,
        name: &str,
        result: Result<(), ProtocolError>,
        reply: Reply<DemoInfo>,
    ) {
        let result = result.and_then(|()| {
            self.publish();
            Ok(self.state.demo(name)?.info_served(
                name,
                self.state.front.as_ref(),
                self.state.front_door.as_ref(),
            ))
        });
        match &result {
            Ok(info) => {
                info!(demo = name, "deployed");
                self.emit(
                    Some(name),
                    EventKind::Deployed,
                    format!("port {}", info.port.unwrap_or(0)),
                );
            }
            Err(e) => {
                warn!(demo = name, error = %e, "installing the deployed demo failed; rolling back");
                self.deploy_rollback(name).await;
                self.emit(Some(name), EventKind::DeployFailed, e.message.clone());
            }
        }
        self.answer(reply, result);
    }

    /// The install's part in the actor: the record and the program section
    /// on disk, the table. Returns the section supervisord is to take, if
    /// the demo has a process.
    fn deploy_install(
        &mut self,
        name: &str,
        finish: Finish,
    ) -> Result<Option<String>, ProtocolError> {
        let mut record = self.state.demo(name)?.record.clone();
        self.make_start_executable(name)?;
        record.phase = Phase::Installed;
        // The demo's life runs from its install, however long the script took.
        record.expires_at = finish
            .ttl_secs
            .or(self.cfg.default_ttl)
            .map(|t| (self.clock)().saturating_add(t));
        record.sleep.after_secs = finish.sleep_after_secs.or(self.cfg.sleep_after);
        record.deploy_ms = Some(finish.started.elapsed().as_millis() as u64);
        let view = self.load_view(name, record.clone());
        let has_process = view.has_process;
        self.state.demos.insert(name.to_owned(), view);
        self.write_programs(Some(name))?;
        store::write_record(&self.layout, name, &record)
            .map_err(|e| internal("writing the demo's record", e))?;
        // Installed on disk: from here a crash keeps the demo.
        if let Err(e) = store::unmark_deploying(&self.layout, name) {
            warn!(demo = name, error = %e, "cannot remove its deploy marker");
        }
        match (has_process, record.port) {
            (true, Some(port)) => Ok(Some(self.section_of(name, port)?)),
            _ => Ok(None),
        }
    }

    /// Makes the script's `start.sh` executable, through a descriptor of the
    /// file itself: a link, a FIFO, a hard link or a file not the demos'
    /// account's is refused with its reason (the deploy fails and is rolled
    /// back), never followed. No `start.sh` at all is a vhost-only demo.
    fn make_start_executable(&self, name: &str) -> Result<(), ProtocolError> {
        let dir = crate::demofs::DemoDir::open(&self.layout.demo_dir(name))
            .map_err(|e| internal("opening the demo folder", e))?;
        let owner = self
            .sandbox
            .run_as
            .map_or_else(|| nix::unistd::geteuid().as_raw(), |a| a.uid);
        match dir.chmod(crate::layout::START_SCRIPT, 0o755, Some(owner)) {
            Err(e) if e.is_missing() => Ok(()),
            Err(e) => Err(ProtocolError::new(
                ErrorKind::DeployFailed,
                "installation ended with an error",
            )
            .with_detail(format!(
                "the script left a start.sh showroom cannot run: {e}"
            ))),
            Ok(()) => Ok(()),
        }
    }

    /// Removes every trace of a deploy: its supervisord group, its folder,
    /// its record, its reservation; the marker goes last, so that a crash
    /// midway leaves it to be rolled back at the next start.
    pub(super) async fn deploy_rollback(&mut self, name: &str) {
        let had_process = self.state.demos.get(name).is_some_and(|d| d.has_process);
        self.state.remove_demo(name, Instant::now());
        if had_process {
            if let Err(e) = self.write_programs(Some(name)) {
                warn!(demo = name, error = %e.message, "removing the program section of a failed deploy");
            }
            if let Err(e) = self.remove_group(name).await {
                warn!(demo = name, error = %e, "removing the group of a failed deploy");
            }
        }
        self.forget_limits(name);
        let removed = self
            .discard_demo_dir(name)
            .and_then(|()| store::remove_record(&self.layout, name));
        match removed {
            Ok(()) => {
                if let Err(e) = store::unmark_deploying(&self.layout, name) {
                    warn!(demo = name, error = %e, "removing the marker of a failed deploy");
                }
            }
            Err(e) => warn!(demo = name, error = %e, "removing the folder of a failed deploy"),
        }
        self.publish();
    }
}

/// The variables a script is run with: showroom's own, then each declared
/// param (`comment` from the comment, the others from `params`, empty when not given).
pub(super) fn script_env(
    name: &str,
    ports: &[u16],
    host: &str,
    declared: &[String],
    comment: &str,
    params: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = vec![
        ("name".to_owned(), name.to_owned()),
        ("HOST".to_owned(), host.to_owned()),
    ];
    env.extend(crate::ports::env_vars(ports));
    for p in declared
        .iter()
        .filter(|p| is_env_name(p) && !OWN_VARS.contains(&p.as_str()))
    {
        let value = if p == "comment" {
            comment.to_owned()
        } else {
            params
                .iter()
                .find(|(k, _)| k == p)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        env.push((p.clone(), value));
    }
    env
}

/// The refusal when every port of the range is held: the range, what holds
/// it (demos by status, and whatever else), and the two ways out.
fn no_free_port(state: &crate::actor::state::State, min: u16, max: u16) -> ProtocolError {
    let mut by_status: std::collections::BTreeMap<DemoStatus, usize> = Default::default();
    for d in state.demos.values() {
        let held = d.record.ports().into_iter();
        let n = held.filter(|p| (min..=max).contains(p)).count();
        if n > 0 {
            *by_status.entry(d.status).or_default() += n;
        }
    }
    let by_demos: usize = by_status.values().sum();
    let size = usize::from(max - min) + 1;
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let mut held = format!("{by_demos} of its {size} ports held by demos");
    if !statuses.is_empty() {
        held.push_str(&format!(" ({})", statuses.join(", ")));
    }
    if by_demos < size {
        held.push_str(&format!(", {} by other programs", size - by_demos));
    }
    ProtocolError::new(
        ErrorKind::NoFreePort,
        format!("no free port left in {min}..={max}: {held}"),
    )
    .with_detail(format!(
        "to free ports: showroomctl cleanup --status STOPPED --dry-run shows what a cleanup would destroy (run it again without --dry-run)\nor give showroomd a larger port_max (now {max}) in its config file and restart it"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_names() {
        assert!(super::is_env_name("comment"));
        assert!(super::is_env_name("_a1"));
        assert!(!super::is_env_name("1a"));
        assert!(!super::is_env_name("a-b"));
        assert!(!super::is_env_name(""));
    }
}
