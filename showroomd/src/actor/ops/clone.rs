//! `clone SRC NEW`: NEW reserved like a deploy, SRC's folder copied (a reflink where the filesystem offers one), the app's reconfigure step run in the copy, then installed like a deploy, or rolled back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use protocol::{CloneRequest, DemoInfo, DemoStatus, ErrorKind, ProtocolError};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::deploy::{script_env, Finish};
use crate::actor::{sup_error, Actor, Msg, Reply};
use crate::deployer::{self, Outcome};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn clone_begin(
        &mut self,
        req: CloneRequest,
        progress: mpsc::Sender<String>,
        reply: Reply<DemoInfo>,
    ) {
        let finish = Finish {
            started: Instant::now(),
            ttl_secs: None,
            sleep_after_secs: None,
        };
        match self.clone_reserve(&req).await {
            Ok((job, copy)) => {
                let tx = self.self_tx.clone();
                self.spawn_job(req.name, reply, finish, move |cancel| async move {
                    let copied = copy.run(&progress).await;
                    // The source runs again as soon as its folder is copied, not after the reconfigure step.
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx
                            .send(Msg::CloneCopied {
                                src: copy.src_name,
                                was_running: copy.was_running,
                            })
                            .await;
                    }
                    match copied {
                        Ok(()) => deployer::run(job, progress, cancel).await,
                        Err(how) => Outcome::failed(how, vec![]),
                    }
                })
                .await;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks the request, stops SRC's process for a consistent copy, and
    /// reserves NEW; returns the reconfigure job and the copy to make first.
    async fn clone_reserve(
        &mut self,
        req: &CloneRequest,
    ) -> Result<(deployer::Job, Copy), ProtocolError> {
        req.validate()?;
        let src = self.state.installed(&req.src)?;
        self.require_new(&req.name)?;
        let app = src.record.app.clone();
        let script = deployer::reconfigure_script_for(&self.cfg.scripts_dir, &app).ok_or_else(|| {
            ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("app {app} cannot be cloned: it has no reconfigure step"),
            )
            .with_detail(format!(
                "a clone runs reconfigure_{app}.sh from {} in the copy, to move it to its new name and port; there is none: deploy a new demo instead",
                self.cfg.scripts_dir.display()
            ))
        })?;
        let old_port = src.record.port.ok_or_else(|| {
            ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {} has a damaged record: it cannot be cloned", req.src),
            )
        })?;
        let comment = if req.comment.is_empty() {
            src.record.comment.clone()
        } else {
            req.comment.clone()
        };
        let params: Vec<(String, String)> = src.record.params.clone().into_iter().collect();
        let port = self
            .reserve(
                &req.name,
                &app,
                &comment,
                &params,
                &format!("clone of {}", req.src),
            )
            .await?;
        // A process writes to its folder: it is stopped for the copy. The vhost
        // stays: Apache only reads.
        let was_running = src.has_process
            && matches!(
                self.state.proc(&req.src),
                Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff)
            );
        if was_running {
            if let Err(e) = self.stop_program(&req.src).await {
                self.deploy_rollback(&req.name).await;
                return Err(sup_error(e));
            }
            info!(demo = %req.src, clone = %req.name, "stopped for its copy");
        }
        self.state.set_busy(&req.src, true);
        self.refresh(&req.src).await;
        self.publish();

        let declared = deployer::script_for(&self.cfg.scripts_dir, &app)
            .map(|s| deployer::declared_params(&s))
            .unwrap_or_default();
        let mut env = script_env(
            &req.name,
            port,
            &self.cfg.host,
            &declared,
            &comment,
            &params,
        );
        env.push(("OLD_NAME".into(), req.src.clone()));
        env.push(("OLD_PORT".into(), old_port.to_string()));
        let copy = Copy {
            src_name: req.src.clone(),
            was_running,
            from: self.layout.demo_dir(&req.src),
            to: self.layout.demo_dir(&req.name),
            skip: showroom_files(&self.layout, &req.src),
        };
        Ok((self.job(script, &req.name, env), copy))
    }

    /// The copy of SRC's folder ended: SRC may be acted on again, and runs again if it ran.
    pub(in crate::actor) async fn clone_release(&mut self, src: &str, was_running: bool) {
        self.state.set_busy(src, false);
        if was_running {
            if let Err(e) = self.start_demo(src).await {
                warn!(demo = src, error = %e.message, "could not start again after its copy");
            }
        }
        self.publish();
    }
}

/// The files in a demo's folder that are showroom's, not the app's: a copy
/// leaves them out, and the install writes the clone's own.
fn showroom_files(layout: &crate::layout::Layout, name: &str) -> Vec<std::ffi::OsString> {
    let own = [layout.record_copy(name), layout.program_section_copy(name)];
    own.iter()
        .chain(&own.clone().map(|p| crate::store::tmp_path(&p)))
        .filter(|p| p.parent() == Some(layout.demo_dir(name).as_path()))
        .filter_map(|p| p.file_name().map(|f| f.to_owned()))
        .collect()
}

/// A copy of a demo's folder into a reserved one.
struct Copy {
    src_name: String,
    was_running: bool,
    from: PathBuf,
    to: PathBuf,
    skip: Vec<std::ffi::OsString>,
}

impl Copy {
    /// `cp -a --reflink=auto`: a reflink where the filesystem offers one
    /// (seconds for any size), a plain copy otherwise. Returns why it failed.
    async fn run(&self, progress: &mpsc::Sender<String>) -> Result<(), String> {
        let t0 = Instant::now();
        let entries = entries_but(&self.from, &self.skip)
            .map_err(|e| format!("reading {}: {e}", self.from.display()))?;
        if !entries.is_empty() {
            let out = tokio::process::Command::new("cp")
                .args(["-a", "--reflink=auto", "--"])
                .args(&entries)
                .arg(&self.to)
                .output()
                .await
                .map_err(|e| format!("could not run cp: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "copying {} ended with {}: {}",
                    self.from.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let line = format!(
            "showroomd: copied {} in {} ms",
            self.src_name,
            t0.elapsed().as_millis()
        );
        info!(from = %self.from.display(), to = %self.to.display(), ms = t0.elapsed().as_millis() as u64, "clone copied");
        let _ = progress.send(line).await;
        Ok(())
    }
}

fn entries_but(dir: &Path, skip: &[std::ffi::OsString]) -> std::io::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if !skip.contains(&e.file_name()) {
            v.push(e.path());
        }
    }
    Ok(v)
}
