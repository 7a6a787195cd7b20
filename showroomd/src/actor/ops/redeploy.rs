//! `redeploy NAME [--param K=V]... [--comment TEXT]`: the app's script runs again in a fresh folder while the old demo serves on; on success one rename swaps the folders (`RENAME_EXCHANGE`) and the demo, same name, ports, comment, TTL and wanted state, is started again if it ran; on failure the old demo is untouched. A showroomd killed midway leaves the old or the new demo whole, repaired at its next start (`finish_redeploys`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Instant;

use protocol::{DemoInfo, DemoStatus, ErrorKind, EventKind, ProtocolError, RedeployRequest};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::deploy::{check_params, script_env, Finish};
use crate::actor::state::Op;
use crate::actor::{internal, sup_error, Actor, Reply};
use crate::deployer::{self, Outcome};
use crate::layout::Layout;
use crate::store::{self, DemoRecord, RedeployNote};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn redeploy_begin(
        &mut self,
        req: RedeployRequest,
        progress: mpsc::Sender<String>,
        reply: Reply<DemoInfo>,
    ) {
        match self.redeploy_reserve(&req).await {
            Ok((job, record)) => {
                let finish = Finish {
                    started: Instant::now(),
                    ttl_secs: None,
                    redeploy: Some(Box::new(record)),
                    sleep_after_secs: None,
                };
                self.spawn_job(req.name, reply, finish, move |cancel| {
                    deployer::run(job, progress, cancel)
                })
                .await;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks the request, makes the fresh folder (its marker first) and
    /// the job that runs the script in it, seen at the demo's own path.
    async fn redeploy_reserve(
        &mut self,
        req: &RedeployRequest,
    ) -> Result<(deployer::Job, DemoRecord), ProtocolError> {
        req.validate()?;
        let name = req.name.as_str();
        let old = self.state.installed(name)?;
        if let Some(problem) = &old.problem {
            return Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} cannot be redeployed: {problem}"),
            ));
        }
        if !self.sandbox.enabled {
            return Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} cannot be redeployed with `sandbox = false`"),
            )
            .with_detail(
                "a redeploy runs the script in a fresh folder that it must see at the demo's own path (scripts write that path into their configs): only the sandbox can show it there; destroy and deploy instead",
            ));
        }
        let app = old.record.app.clone();
        let script = deployer::script_for(&self.cfg.scripts_dir, &app)
            .ok_or_else(|| deployer::missing_app(&self.cfg.scripts_dir, &app))?;
        let declared = deployer::declared_params(&script);
        check_params(&app, &declared, &req.params)?;
        let mut record = old.record.clone();
        record.params.extend(req.params.iter().cloned());
        if let Some(c) = &req.comment {
            record.comment = c.clone();
        }
        // Its ports are kept; an app that now asks for more gets them anew.
        let count = deployer::declared_ports(&script)
            .map_err(|e| ProtocolError::new(ErrorKind::InvalidRequest, e))?;
        let mut ports = old.record.ports();
        if ports.len() < count {
            let more = self
                .state
                .free_ports(
                    (self.cfg.port_min, self.cfg.port_max),
                    count - ports.len(),
                    |p| crate::ports::held(p).is_none(),
                )
                .ok_or_else(|| {
                    ProtocolError::new(
                        ErrorKind::InvalidRequest,
                        format!(
                            "app {app} now asks for {count} ports, and {}..={} has no free one left for demo {name}",
                            self.cfg.port_min, self.cfg.port_max
                        ),
                    )
                })?;
            ports.extend(more);
        }
        ports.truncate(count);
        record.port = ports.first().copied();
        record.port2 = ports.get(1).copied();
        record.created = store::now_secs();
        self.require_supervisor().await?;

        let dir = self.layout.redeploy_dir(name);
        store::mark_redeploying(&self.layout, name, None)
            .map_err(|e| internal("noting the redeploy under way", e))?;
        // A fresh folder: whatever an earlier failure left goes first.
        let made = store::remove_dir(&self.layout, &dir, name, &self.sandbox)
            .await
            .map_err(|e| internal("removing an earlier redeploy's folder", e))
            .and_then(|()| {
                std::fs::create_dir(&dir).map_err(|e| internal("creating the fresh folder", e))
            })
            .and_then(|()| {
                self.sandbox
                    .prepare_demo_dir(&dir)
                    .map_err(|e| internal("giving the fresh folder to the sandbox's account", e))
            });
        if let Err(e) = made {
            self.redeploy_drop(name).await;
            return Err(e);
        }
        self.state.begin(name, Op::Redeploying);
        self.publish();
        info!(
            demo = name,
            app,
            ?ports,
            "redeploy started; the demo serves on meanwhile"
        );
        self.emit(
            Some(name),
            EventKind::DeployStarted,
            format!("redeploy: app {app} on port {}", ports[0]),
        );
        let params: Vec<(String, String)> = record.params.clone().into_iter().collect();
        let env = script_env(
            name,
            &ports,
            &self.cfg.host,
            &declared,
            &record.comment,
            &params,
        );
        let mut job = self.job(script, name, env);
        job.seen_at = Some(std::mem::replace(&mut job.cwd, dir));
        Ok((job, record))
    }

    /// The script ended: swap the folders in, or drop the fresh one.
    pub(in crate::actor) async fn redeploy_end(
        &mut self,
        name: &str,
        outcome: Outcome,
        record: DemoRecord,
        started: Instant,
    ) -> Result<DemoInfo, ProtocolError> {
        if !outcome.success {
            warn!(demo = name, how = %outcome.how, "redeploy script failed; the demo is unchanged");
            self.redeploy_drop(name).await;
            self.emit(Some(name), EventKind::DeployFailed, outcome.how.clone());
            let mut detail = format!(
                "the script ended with {}; demo {name} is unchanged and serves on as it did",
                outcome.how
            );
            if !outcome.tail.is_empty() {
                detail += &format!("\nits last output:\n{}", outcome.tail.join("\n"));
            }
            detail += &format!("\nthe whole output: showroomctl logs {name}");
            return Err(ProtocolError::new(
                ErrorKind::DeployFailed,
                "installation ended with an error",
            )
            .with_detail(detail));
        }
        let result = self.redeploy_swap(name, record, started).await;
        self.state.end(name);
        self.publish();
        match &result {
            Ok(_) => {
                info!(demo = name, "redeployed");
                self.emit(Some(name), EventKind::Deployed, "redeploy");
            }
            Err(e) => {
                warn!(demo = name, error = %e.message, "redeploy failed");
                self.emit(Some(name), EventKind::DeployFailed, e.message.clone());
            }
        }
        result
    }

    /// The fresh folder takes the old one's place: the old demo stopped if
    /// it ran, one atomic exchange of the two folders, the new record, the
    /// program brought in line, the old folder removed, the demo started.
    async fn redeploy_swap(
        &mut self,
        name: &str,
        mut record: DemoRecord,
        started: Instant,
    ) -> Result<DemoInfo, ProtocolError> {
        // The rest is this one step of the actor: nothing else acts on it meanwhile.
        self.state.end(name);
        let fresh = self.layout.redeploy_dir(name);
        let dir = self.layout.demo_dir(name);
        let script = fresh.join("start.sh");
        if script.is_file() {
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| internal("making start.sh executable", e))?;
        }
        record.deploy_ms = Some(started.elapsed().as_millis() as u64);
        let inode = std::fs::metadata(&fresh)
            .map_err(|e| internal("reading the fresh folder", e))?
            .ino();
        store::mark_redeploying(
            &self.layout,
            name,
            Some(&RedeployNote {
                inode,
                record: record.clone(),
            }),
        )
        .map_err(|e| internal("noting the redeploy's swap", e))?;
        let old = self.state.demos[name].clone();
        let was_running = old.enabled
            || matches!(
                self.state.proc(name),
                Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff)
            );
        if was_running {
            if let Err(e) = self.stop_parts(name).await {
                self.redeploy_drop(name).await;
                return Err(ProtocolError::new(
                    e.kind,
                    format!(
                        "demo {name} is not redeployed: its old version did not stop: {}",
                        e.message
                    ),
                ));
            }
        }
        if let Err(e) = exchange(&fresh, &dir) {
            self.redeploy_drop(name).await;
            return Err(internal("swapping the fresh folder in", e));
        }
        // From here the new demo is the demo: a crash finishes the swap at start.
        store::write_record(&self.layout, name, &record)
            .map_err(|e| internal("writing the demo's record", e))?;
        let view = self.load_view(name, record);
        let has_process = view.has_process;
        self.state.demos.insert(name.to_owned(), view);
        let before = self.sections.get(name).cloned();
        self.write_programs(Some(name))?;
        if before != self.sections.get(name).cloned() {
            if old.has_process {
                self.remove_group(name).await.map_err(sup_error)?;
            }
            if let (true, Some(port)) = (has_process, self.state.demos[name].record.port) {
                self.add_program(name, port).await?;
            }
        }
        if let Err(e) = store::unmark_redeploying(&self.layout, name) {
            warn!(demo = name, error = %e, "cannot remove its redeploy marker");
        }
        if let Err(e) = store::remove_dir(&self.layout, &fresh, name, &self.sandbox).await {
            warn!(demo = name, error = %e, "cannot remove its old folder");
        }
        self.refresh(name).await;
        self.publish();
        if was_running {
            if let Err(e) = self.start_demo(name).await {
                return Err(ProtocolError::new(
                    e.kind,
                    format!(
                        "demo {name} is redeployed, but its new version did not start: {}",
                        e.message
                    ),
                )
                .with_detail(e.detail.unwrap_or_default()));
            }
        }
        Ok(self.state.demos[name].info(name, self.state.front.as_ref()))
    }

    /// Drops a redeploy that did not swap: the fresh folder, then the marker.
    async fn redeploy_drop(&mut self, name: &str) {
        let fresh = self.layout.redeploy_dir(name);
        match store::remove_dir(&self.layout, &fresh, name, &self.sandbox).await {
            Ok(()) => {
                if let Err(e) = store::unmark_redeploying(&self.layout, name) {
                    warn!(demo = name, error = %e, "cannot remove its redeploy marker");
                }
            }
            Err(e) => {
                warn!(demo = name, error = %e, "cannot remove the folder of a failed redeploy")
            }
        }
        self.state.end(name);
        self.publish();
    }
}

/// Swaps two folders in one step: a reader (or a crash) sees both or neither moved.
fn exchange(a: &Path, b: &Path) -> nix::Result<()> {
    nix::fcntl::renameat2(None, a, None, b, nix::fcntl::RenameFlags::RENAME_EXCHANGE)
}

/// At start, before the demos are read: each redeploy a crash cut short
/// ends with the old demo or the new one whole. Before its swap was noted,
/// or noted and not done (the demo's folder is not the fresh one), the
/// fresh folder goes; once done, the new record is written and the old
/// folder goes. Returns what it did, one line a demo, for the log.
pub(in crate::actor) async fn finish_redeploys(
    layout: &Layout,
    sandbox: &crate::sandbox::Sandbox,
) -> Vec<String> {
    let mut done = Vec::new();
    for name in store::redeploying_names(layout) {
        let fresh = layout.redeploy_dir(&name);
        let swapped = match store::read_redeploying(layout, &name) {
            Ok(Some(note)) => std::fs::metadata(layout.demo_dir(&name))
                .is_ok_and(|m| m.ino() == note.inode)
                .then_some(note.record),
            Ok(None) => None,
            Err(e) => {
                warn!(demo = %name, error = %e, "its redeploy marker is unreadable: keeping the old demo");
                None
            }
        };
        let line = match swapped {
            Some(record) => match store::write_record(layout, &name, &record) {
                Ok(()) => format!(
                    "finished the redeploy of {name} cut short after its swap: the new version is installed (start it if it should run)"
                ),
                Err(e) => {
                    warn!(demo = %name, error = %e, "cannot write the redeployed demo's record");
                    continue;
                }
            },
            None => format!(
                "rolled back the redeploy of {name} cut short before its swap: the old demo is kept"
            ),
        };
        // The fresh folder, or after the swap the old one: either way it goes.
        if let Err(e) = store::remove_dir(layout, &fresh, &name, sandbox).await {
            warn!(demo = %name, error = %e, "cannot remove a redeploy's leftover folder");
            continue;
        }
        if let Err(e) = store::unmark_redeploying(layout, &name) {
            warn!(demo = %name, error = %e, "cannot remove its redeploy marker");
            continue;
        }
        done.push(line);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str) -> DemoRecord {
        DemoRecord {
            params: [("version".to_string(), version.to_string())].into(),
            wanted: protocol::Wanted::Running,
            ..DemoRecord::bare("versioned", Some(20000), 1, store::Phase::Installed)
        }
    }

    /// A demo `site` at version 1, and a redeploy's fresh folder holding `fresh`.
    fn setup() -> (tempfile::TempDir, Layout) {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(d.path());
        layout.create_dirs().unwrap();
        std::fs::create_dir(layout.demo_dir("site")).unwrap();
        store::write_record(&layout, "site", &record("1")).unwrap();
        std::fs::write(layout.demo_dir("site").join("old"), "").unwrap();
        std::fs::create_dir(layout.redeploy_dir("site")).unwrap();
        std::fs::write(layout.redeploy_dir("site").join("fresh"), "").unwrap();
        (d, layout)
    }

    fn note(layout: &Layout) -> RedeployNote {
        RedeployNote {
            inode: std::fs::metadata(layout.redeploy_dir("site"))
                .unwrap()
                .ino(),
            record: record("2"),
        }
    }

    fn version(layout: &Layout) -> String {
        store::read_record(layout, "site").unwrap().params["version"].clone()
    }

    #[tokio::test]
    async fn cut_short_at_any_point_the_old_or_the_new_demo_is_whole() {
        // While its script ran: the old demo.
        let (_d, layout) = setup();
        store::mark_redeploying(&layout, "site", None).unwrap();
        let said = finish_redeploys(&layout, &crate::sandbox::Sandbox::off()).await;
        assert!(said[0].contains("rolled back"), "{said:?}");
        assert!(layout.demo_dir("site").join("old").exists());
        assert!(!layout.redeploy_dir("site").exists());
        assert!(!layout.redeploy_marker("site").exists());
        assert_eq!(version(&layout), "1");

        // Its swap noted, not done: the old demo.
        let (_d, layout) = setup();
        store::mark_redeploying(&layout, "site", Some(&note(&layout))).unwrap();
        let said = finish_redeploys(&layout, &crate::sandbox::Sandbox::off()).await;
        assert!(said[0].contains("rolled back"), "{said:?}");
        assert!(layout.demo_dir("site").join("old").exists());
        assert_eq!(version(&layout), "1");

        // Swapped, its record not written yet: the new demo, finished.
        let (_d, layout) = setup();
        store::mark_redeploying(&layout, "site", Some(&note(&layout))).unwrap();
        exchange(&layout.redeploy_dir("site"), &layout.demo_dir("site")).unwrap();
        let said = finish_redeploys(&layout, &crate::sandbox::Sandbox::off()).await;
        assert!(said[0].contains("finished"), "{said:?}");
        assert!(layout.demo_dir("site").join("fresh").exists());
        assert!(!layout.redeploy_dir("site").exists());
        assert!(!layout.redeploy_marker("site").exists());
        assert_eq!(version(&layout), "2");
        assert!(finish_redeploys(&layout, &crate::sandbox::Sandbox::off())
            .await
            .is_empty());
    }
}
