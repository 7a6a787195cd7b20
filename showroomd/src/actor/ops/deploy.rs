//! `deploy APP NAME`: reserve the name and port, run the script as a job, then install or roll back.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use protocol::{DemoInfo, DemoStatus, DeployRequest, ErrorKind, EventKind, ProtocolError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::actor::{internal, Actor, DemoView, Msg, Reply};
use crate::deployer::{self, Job, Outcome};
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::Supervisord;

/// Names a script may not be handed as params: showroom sets them.
const OWN_VARS: &[&str] = &["name", "PORT", "HOST"];

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
    /// None: the daemon's `sleep_after`.
    pub sleep_after_secs: Option<u64>,
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
        self.require_new(name)?;
        let declared = deployer::declared_params(&script);
        let mut comment = req.comment.clone();
        for (k, v) in &req.params {
            if !declared.contains(k) || OWN_VARS.contains(&k.as_str()) {
                return Err(ProtocolError::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "app {} takes no param {k:?} (its params: {})",
                        req.app,
                        declared.join(", ")
                    ),
                ));
            }
            if k == "comment" && comment.is_empty() {
                comment = v.clone();
            }
        }
        let port = self
            .reserve(name, &req.app, &comment, &req.params, "deploy")
            .await?;
        let env = script_env(name, port, &self.cfg.host, &declared, &comment, &req.params);
        Ok(self.job(script, name, env))
    }

    /// A new demo may take this name: no demo and no folder has it.
    pub(super) fn require_new(&self, name: &str) -> Result<(), ProtocolError> {
        protocol::names::validate_name(name)?;
        if self.state.demos.contains_key(name) || self.layout.demo_dir(name).exists() {
            return Err(ProtocolError::already_exists());
        }
        Ok(())
    }

    /// Reserves the name and a port, on disk first: the folder and a
    /// `deploying` record, which the repairs at start roll back. `what` is
    /// `deploy` or `clone of SRC`, for the log and the event.
    pub(super) async fn reserve(
        &mut self,
        name: &str,
        app: &str,
        comment: &str,
        params: &[(String, String)],
        what: &str,
    ) -> Result<u16, ProtocolError> {
        self.require_supervisor().await?;
        let port = self
            .state
            .free_port(self.cfg.port_min, self.cfg.port_max)
            .ok_or_else(|| {
                ProtocolError::new(
                    ErrorKind::Internal,
                    format!(
                        "no free port left in {}..={}",
                        self.cfg.port_min, self.cfg.port_max
                    ),
                )
            })?;

        // The marker first: a folder showroom finds at start with no marker
        // and no record is not provably its own, and is kept.
        store::mark_deploying(&self.layout, name)
            .map_err(|e| internal("noting the deploy under way", e))?;
        let dir = self.layout.demo_dir(name);
        if let Err(e) = std::fs::create_dir(&dir) {
            let _ = store::unmark_deploying(&self.layout, name);
            return Err(internal("creating the demo folder", e));
        }
        if let Err(e) = self.sandbox.prepare_demo_dir(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = store::unmark_deploying(&self.layout, name);
            return Err(internal(
                "giving the demo folder to the sandbox's account",
                e,
            ));
        }
        let record = DemoRecord {
            app: app.to_owned(),
            port: Some(port),
            comment: comment.to_owned(),
            created: store::now_secs(),
            phase: Phase::Deploying,
            params: params.iter().cloned().collect(),
            wanted: Default::default(),
            expires_at: None,
            deploy_ms: None,
            access: crate::visitors::Access {
                users: Vec::new(),
                allow: self.cfg.default_allow.clone(),
            },
            sleep: Default::default(),
        };
        if let Err(e) = store::write_record(&self.layout, name, &record) {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = store::remove_record(&self.layout, name);
            let _ = store::unmark_deploying(&self.layout, name);
            return Err(internal("writing the demo's record", e));
        }
        self.state.demos.insert(
            name.to_owned(),
            DemoView {
                record,
                has_process: false,
                has_vhost: false,
                linked: false,
                status: DemoStatus::Deploying,
                reason: String::new(),
                problem: None,
            },
        );
        self.publish();
        info!(demo = name, app, port, "{what} started");
        self.emit(
            Some(name),
            EventKind::DeployStarted,
            format!("{what}: app {app} on port {port}"),
        );
        Ok(port)
    }

    /// A script run in the demo's folder, as a deploy job.
    pub(super) fn job(&self, script: PathBuf, name: &str, env: Vec<(String, String)>) -> Job {
        Job {
            script,
            cwd: self.layout.demo_dir(name),
            env,
            timeout: Duration::from_secs(self.cfg.deploy_timeout_secs),
            log: self.layout.deploy_log(name),
            pgid_file: self.layout.deploy_pgid(name),
            log_max_bytes: self.cfg.deploy_log_max_bytes,
            sandbox: self.sandbox.clone(),
        }
    }

    /// The job ended: install the demo, or undo everything the reservation did.
    pub(in crate::actor) async fn deploy_end(
        &mut self,
        name: &str,
        outcome: Outcome,
        finish: Finish,
    ) -> Result<DemoInfo, ProtocolError> {
        if !outcome.success {
            warn!(demo = name, how = %outcome.how, "deploy script failed; rolling back");
            self.deploy_rollback(name).await;
            self.emit(Some(name), EventKind::DeployFailed, outcome.how.clone());
            let mut detail = format!("the script ended with {}", outcome.how);
            if !outcome.tail.is_empty() {
                detail += &format!("; its last output:\n{}", outcome.tail.join("\n"));
            }
            return Err(ProtocolError::new(
                ErrorKind::DeployFailed,
                "installation ended with an error",
            )
            .with_detail(detail));
        }
        match self.deploy_install(name, finish).await {
            Ok(info) => {
                info!(demo = name, "deployed");
                self.emit(
                    Some(name),
                    EventKind::Deployed,
                    format!("port {}", info.port.unwrap_or(0)),
                );
                Ok(info)
            }
            Err(e) => {
                warn!(demo = name, error = %e, "installing the deployed demo failed; rolling back");
                self.deploy_rollback(name).await;
                self.emit(Some(name), EventKind::DeployFailed, e.message.clone());
                Err(e)
            }
        }
    }

    async fn deploy_install(
        &mut self,
        name: &str,
        finish: Finish,
    ) -> Result<DemoInfo, ProtocolError> {
        let mut record = self.state.demos[name].record.clone();
        let script = self.layout.start_script(name);
        if script.is_file() {
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| internal("making start.sh executable", e))?;
        }
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
        if let (true, Some(port)) = (has_process, record.port) {
            self.add_program(name, port).await?;
            self.refresh(name).await;
        }
        self.publish();
        Ok(self.state.demos[name].info_served(
            name,
            self.state.front.as_ref(),
            self.state.front_door.as_ref(),
        ))
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
        let removed = store::remove_demo_dir(&self.layout, name)
            .await
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
    port: u16,
    host: &str,
    declared: &[String],
    comment: &str,
    params: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = vec![
        ("name".to_owned(), name.to_owned()),
        ("PORT".to_owned(), port.to_string()),
        ("HOST".to_owned(), host.to_owned()),
    ];
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
