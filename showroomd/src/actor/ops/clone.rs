//! `clone SRC NEW`: NEW reserved like a deploy, SRC's folder copied (a reflink where the filesystem offers one), the app's reconfigure step run in the copy, then installed like a deploy, or rolled back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use protocol::{CloneRequest, DemoInfo, DemoStatus, ErrorKind, ProtocolError};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::deploy::{script_env, Finish};
use crate::actor::state::Op;
use crate::actor::work::{AfterStart, Reading, Worked};
use crate::actor::{ask, sup_error, warn_failed, Actor, Msg, Reply};
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
            redeploy: None,
            sleep_after_secs: None,
        };
        match self.clone_reserve(&req).await {
            Ok((job, copy)) => {
                let tx = self.self_tx.clone();
                let name = req.name.clone();
                self.spawn_job(req.name, reply, finish, move |cancel| async move {
                    // The slot is ours: only now is the source stopped, so
                    // that it runs on while the clone waits for a slot.
                    let Some(tx) = tx.upgrade() else {
                        return Outcome::cut_short();
                    };
                    let src = copy.src_name.clone();
                    let began = ask(&tx, |reply| Msg::CloneCopyBegins {
                        src: src.clone(),
                        name: name.clone(),
                        reply,
                    })
                    .await;
                    let was_running = match began {
                        Ok(was_running) => was_running,
                        Err(e) => {
                            let how = format!("its source {src} could not be copied: {}", e.message);
                            return Outcome::failed(how, vec![]);
                        }
                    };
                    let copied = copy.run(&progress).await;
                    // The source runs again as soon as its folder is copied,
                    // beside the reconfigure step; the clone ends once it does.
                    let (started, source_back) = tokio::sync::oneshot::channel();
                    let again = Msg::CloneCopied {
                        src,
                        was_running,
                        name,
                        started,
                    };
                    if tx.send(again).await.is_err() {
                        warn!(demo = %copy.src_name, "showroomd stopped before the source of a clone could run again: its next start starts it");
                    }
                    let outcome = match copied {
                        Ok(()) => deployer::run(job, progress, cancel).await,
                        Err(how) => Outcome::failed(how, vec![]),
                    };
                    let _ = source_back.await;
                    outcome
                })
                .await;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks the request and reserves NEW (SRC is stopped only once the
    /// job has its slot: `clone_stop_source`); returns the reconfigure job and the copy to make first.
    async fn clone_reserve(
        &mut self,
        req: &CloneRequest,
    ) -> Result<(deployer::Job, Copy), ProtocolError> {
        req.validate()?;
        let src = self.state.installed(&req.src)?;
        self.require_new(&req.name)?;
        let comment = if req.comment.is_empty() {
            src.record.comment.clone()
        } else {
            req.comment.clone()
        };
        let job = self
            .reserve_for_copy(&req.name, &req.src, &src.record, &comment, "clone")
            .await?;
        let copy = Copy {
            src_name: req.src.clone(),
            from: self.layout.demo_dir(&req.src),
            to: self.layout.demo_dir(&req.name),
            skip: showroom_files(&self.layout, &req.src),
            sandbox: self.sandbox.clone(),
        };
        Ok((job, copy))
    }

    /// Reserves NEW for a copy of SRC's folder (SRC's app, params and
    /// `comment`) and returns the app's reconfigure step, to run in the copy
    /// with `OLD_NAME` and `OLD_PORT` (`OLD_PORT2`); `what` names the kind of copy.
    pub(super) async fn reserve_for_copy(
        &mut self,
        name: &str,
        src_name: &str,
        src: &crate::store::DemoRecord,
        comment: &str,
        what: &str,
    ) -> Result<deployer::Job, ProtocolError> {
        let app = src.app.clone();
        let script = deployer::reconfigure_script_for(&self.cfg.scripts_dir, &app).ok_or_else(|| {
            if deployer::script_for(&self.cfg.scripts_dir, &app).is_none() {
                return deployer::missing_app(&self.cfg.scripts_dir, &app);
            }
            ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "app {app} cannot be {}: it has no reconfigure step",
                    if what == "clone" { "cloned" } else { "imported" }
                ),
            )
            .with_detail(format!(
                "a {what} runs reconfigure_{app}.sh from {} in the copy, to move it to its new name and port; there is none: deploy a new demo instead",
                self.cfg.scripts_dir.display()
            ))
        })?;
        if src.port.is_none() {
            return Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {src_name} has a damaged record: it cannot be copied"),
            ));
        }
        let old_ports = src.ports();
        let params: Vec<(String, String)> = src.params.clone().into_iter().collect();
        // As many ports as the app asks for now (a demo deployed before its
        // `# PORTS: 2` had one), and never fewer than SRC has.
        let count = deployer::script_for(&self.cfg.scripts_dir, &app)
            .and_then(|s| deployer::declared_ports(&s).ok())
            .unwrap_or(1)
            .max(old_ports.len());
        let ports = self
            .reserve(
                name,
                &app,
                comment,
                &params,
                (count, src.limits),
                &format!("{what} of {src_name}"),
            )
            .await?;
        let declared = deployer::script_for(&self.cfg.scripts_dir, &app)
            .map(|s| deployer::declared_params(&s))
            .unwrap_or_default();
        let mut env = script_env(name, &ports, &self.cfg.host, &declared, comment, &params);
        env.push(("OLD_NAME".into(), src_name.to_owned()));
        env.extend(
            crate::ports::env_vars(&old_ports)
                .into_iter()
                .map(|(k, v)| (format!("OLD_{k}"), v)),
        );
        Ok(self.job(script, name, env))
    }

    /// A process writes to its folder: a running one is stopped for a copy
    /// (its vhost stays: Apache only reads), and the demo is busy until
    /// `clone_release`. True when it ran.
    pub(super) async fn pause_for_copy(
        &mut self,
        name: &str,
        has_process: bool,
    ) -> Result<bool, ProtocolError> {
        let was_running = has_process
            && matches!(
                self.state.proc(name),
                Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff)
            );
        if was_running {
            self.stop_program(name).await.map_err(sup_error)?;
            info!(demo = %name, "stopped for a copy of its folder");
        }
        self.state.begin(name, Op::Copying);
        self.refresh(name).await;
        self.publish();
        Ok(was_running)
    }

    /// A clone's job has its slot: SRC, checked again, is stopped for the
    /// copy if it runs (a process writes to its folder; the vhost stays:
    /// Apache only reads), beside the actor; it is being copied from then
    /// (`clone_source_stopped`). The clone's marker names SRC while it is
    /// stopped, so that a start after a crash starts it again. Answers
    /// whether it ran.
    pub(in crate::actor) fn clone_stop_source(
        &mut self,
        src: String,
        name: &str,
        reply: Reply<bool>,
    ) {
        let demo = match self.state.installed(&src) {
            Ok(d) => d,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let was_running = demo.has_process
            && matches!(
                self.state.proc(&src),
                Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff)
            );
        if was_running {
            if let Err(e) = crate::store::note_stopped_source(&self.layout, name, Some(&src)) {
                let _ = reply.send(Err(crate::actor::internal(
                    "noting the source stopped for a clone",
                    e,
                )));
                return;
            }
        }
        let work = self.work();
        let clone = name.to_owned();
        self.spawn_work(&src.clone(), Op::Stopping, async move {
            let result = match was_running {
                true => work.stop_program(&src).await.map_err(sup_error),
                false => Ok(()),
            };
            let reading = work.read(&src).await;
            Msg::Worked(Worked::SourceStopped {
                src,
                clone,
                result: result.map(|()| was_running),
                reading,
                reply,
            })
        });
    }

    /// A clone's source stopped (or not): it is being copied from now,
    /// its requests refused with a word until `clone_release`.
    pub(in crate::actor) fn clone_source_stopped(
        &mut self,
        src: String,
        clone: String,
        result: Result<bool, ProtocolError>,
        reading: Reading,
        reply: Reply<bool>,
    ) {
        self.take_read(reading);
        self.release(&src);
        if let Ok(true) = result {
            info!(demo = %src, clone = %clone, "stopped for its copy");
        }
        if result.is_ok() {
            self.state.begin(&src, Op::Copying);
        }
        self.publish();
        let _ = reply.send(result);
    }

    /// The copy of SRC's folder ended: SRC may be acted on again, and runs
    /// again if it ran (a start beside the actor, `AfterStart::Source`).
    pub(in crate::actor) fn clone_release(
        &mut self,
        src: &str,
        was_running: bool,
        name: &str,
        started: tokio::sync::oneshot::Sender<()>,
    ) {
        self.state.end(src);
        if was_running {
            self.start_begin(
                src.to_owned(),
                AfterStart::Source {
                    clone: name.to_owned(),
                    started,
                },
            );
        } else {
            let _ = started.send(());
        }
        self.publish();
    }

    /// A clone's source runs again (or said in the log): no start after a
    /// crash need do it.
    pub(in crate::actor) fn clone_source_started(
        &mut self,
        src: &str,
        clone: &str,
        result: &Result<protocol::Response, ProtocolError>,
    ) {
        if let Err(e) = result {
            warn!(demo = src, error = %e.message, "could not start again after its copy");
        }
        if crate::store::is_marked_deploying(&self.layout, clone) {
            let noted = crate::store::note_stopped_source(&self.layout, clone, None);
            warn_failed(
                noted,
                clone,
                "clearing the source noted in the clone's marker",
            );
        }
    }
}

/// The files in a demo's folder that are showroom's, not the app's: a copy
/// leaves them out, and the install writes the clone's own.
pub(super) fn showroom_files(
    layout: &crate::layout::Layout,
    name: &str,
) -> Vec<std::ffi::OsString> {
    let own = [layout.record_copy(name), layout.program_section_copy(name)];
    own.iter()
        .chain(&own.clone().map(|p| crate::store::tmp_path(&p)))
        .filter(|p| p.parent() == Some(layout.demo_dir(name).as_path()))
        .filter_map(|p| p.file_name().map(|f| f.to_owned()))
        .collect()
}

/// A copy of a demo's folder into a reserved one.
pub(super) struct Copy {
    pub(super) src_name: String,
    pub(super) from: PathBuf,
    pub(super) to: PathBuf,
    pub(super) skip: Vec<std::ffi::OsString>,
    /// The copy runs as the demos' account, in a sandbox that sees the two
    /// folders alone, and dies with showroomd.
    pub(super) sandbox: std::sync::Arc<crate::sandbox::Sandbox>,
}

impl Copy {
    /// `cp -a --reflink=auto`: a reflink where the filesystem offers one
    /// (seconds for any size), a plain copy otherwise; never as root (the
    /// source is the demo's, with whatever links and special files it
    /// made). Returns why it failed.
    pub(super) async fn run(&self, progress: &mpsc::Sender<String>) -> Result<(), String> {
        let t0 = Instant::now();
        let entries = entries_but(&self.from, &self.skip)
            .map_err(|e| format!("reading {}: {e}", self.from.display()))?;
        if !entries.is_empty() {
            let mut cp: Vec<String> = ["cp", "-a", "--reflink=auto", "--"]
                .map(String::from)
                .into();
            cp.extend(entries.iter().map(|e| e.display().to_string()));
            cp.push(self.to.display().to_string());
            crate::demofs::run_as_demo(
                &self.sandbox,
                &self.to,
                vec![&self.from],
                vec![&self.to],
                &cp,
            )
            .await
            .map_err(|why| format!("copying {}: {why}", self.from.display()))?;
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
