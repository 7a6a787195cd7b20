//! `deploy APP NAME`: reserve the name and port, run the script as a job, then install or roll back.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use protocol::{DemoInfo, DemoStatus, DeployRequest, ErrorKind, EventKind, ProtocolError};
use tokio::sync::mpsc;
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

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn deploy_begin(
        &mut self,
        req: DeployRequest,
        progress: mpsc::Sender<String>,
        reply: Reply<DemoInfo>,
    ) {
        let job = match self.deploy_reserve(&req).await {
            Ok(job) => job,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let Some(tx) = self.self_tx.upgrade() else {
            self.deploy_rollback(&req.name).await;
            let _ = reply.send(Err(ProtocolError::new(
                ErrorKind::Busy,
                "showroomd is shutting down",
            )));
            return;
        };
        let slots = self.deploy_slots.clone();
        let cancel = self.jobs_cancel.clone();
        let name = req.name.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                permit = slots.acquire_owned() => {
                    let _permit = permit;
                    deployer::run(job, progress, cancel).await
                }
                _ = cancel.cancelled() => Outcome::cut_short(),
            };
            let _ = tx
                .send(Msg::DeployDone {
                    name,
                    outcome,
                    reply,
                })
                .await;
        });
    }

    /// Checks the request and reserves the name and the port, on disk first.
    async fn deploy_reserve(&mut self, req: &DeployRequest) -> Result<Job, ProtocolError> {
        let name = req.name.as_str();
        protocol::names::validate_name(name)?;
        let script = deployer::script_for(&self.cfg.scripts_dir, &req.app).ok_or_else(|| {
            ProtocolError::not_found().with_detail(format!(
                "no app {:?}: there is no demo_{}.sh in {}",
                req.app,
                req.app,
                self.cfg.scripts_dir.display()
            ))
        })?;
        if self.state.demos.contains_key(name) || self.layout.demo_dir(name).exists() {
            return Err(ProtocolError::already_exists());
        }
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

        let dir = self.layout.demo_dir(name);
        std::fs::create_dir(&dir).map_err(|e| internal("creating the demo folder", e))?;
        let record = DemoRecord {
            app: req.app.clone(),
            port: Some(port),
            comment: comment.clone(),
            created: store::now_secs(),
            phase: Phase::Deploying,
            params: req.params.iter().cloned().collect(),
        };
        if let Err(e) = store::write_record(&self.layout, name, &record) {
            let _ = std::fs::remove_dir_all(&dir);
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
            },
        );
        self.publish();
        info!(demo = name, app = %req.app, port, "deploy started");
        self.emit(
            Some(name),
            EventKind::DeployStarted,
            format!("app {} on port {port}", req.app),
        );

        let mut env = vec![
            ("name".to_owned(), name.to_owned()),
            ("PORT".to_owned(), port.to_string()),
            ("HOST".to_owned(), self.cfg.host.clone()),
        ];
        for p in declared
            .iter()
            .filter(|p| is_env_name(p) && !OWN_VARS.contains(&p.as_str()))
        {
            let value = if p == "comment" {
                comment.clone()
            } else {
                req.params
                    .iter()
                    .find(|(k, _)| k == p)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            env.push((p.clone(), value));
        }
        Ok(Job {
            script,
            cwd: dir,
            env,
            timeout: Duration::from_secs(self.cfg.deploy_timeout_secs),
            log: self.layout.deploy_log(name),
            pgid_file: self.layout.deploy_pgid(name),
        })
    }

    /// The job ended: install the demo, or undo everything the reservation did.
    pub(in crate::actor) async fn deploy_end(
        &mut self,
        name: &str,
        outcome: Outcome,
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
        match self.deploy_install(name).await {
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

    async fn deploy_install(&mut self, name: &str) -> Result<DemoInfo, ProtocolError> {
        let mut record = self.state.demos[name].record.clone();
        let port = record.port.expect("reserved with a port");
        let script = self.layout.start_script(name);
        if script.is_file() {
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| internal("making start.sh executable", e))?;
            self.write_section(name, port)?;
        }
        record.phase = Phase::Installed;
        store::write_record(&self.layout, name, &record)
            .map_err(|e| internal("writing the demo's record", e))?;
        let view = self.load_view(name, record);
        if view.has_process {
            self.add_program(name, port).await?;
            self.refresh(name).await;
        }
        self.state.demos.insert(name.to_owned(), view);
        self.publish();
        Ok(self.state.demos[name].info(name))
    }

    /// Removes every trace of a deploy: its supervisord group, its folder, its reservation.
    async fn deploy_rollback(&mut self, name: &str) {
        if self.layout.program_section(name).exists() {
            if let Err(e) = self.remove_group(name).await {
                warn!(demo = name, error = %e, "removing the group of a failed deploy");
            }
        }
        if let Err(e) = store::remove_demo_dir(&self.layout, name).await {
            warn!(demo = name, error = %e, "removing the folder of a failed deploy");
        }
        self.state.remove_demo(name, Instant::now());
        self.publish();
    }
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
