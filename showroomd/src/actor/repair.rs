//! The repairs at start: what a crash left half done is rolled back or finished, supervisord brought up, its groups and Apache brought in line with the folders and links.

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{error, info, warn};

use super::Actor;
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::Supervisord;
use crate::{apache, deployer, sandbox};

/// A record that cannot be read: the demo shows as FATAL until destroyed.
fn damaged(e: &store::StoreError) -> DemoRecord {
    DemoRecord {
        app: "?".into(),
        port: None,
        comment: format!("damaged record: {e}"),
        created: 0,
        phase: Phase::Installed,
        params: Default::default(),
    }
}

impl<S: Supervisord> Actor<S> {
    /// Repairs what a crash left half done, then brings supervisord up.
    pub(super) async fn recover(&mut self) -> anyhow::Result<()> {
        let layout = self.layout.clone();
        // Nothing showroomd writes is for other users: they read through the
        // socket. Apache's files take the account's group (`secure_state`).
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
        layout
            .create_dirs()
            .with_context(|| format!("creating the state folder {}", layout.root().display()))?;
        self.sandbox
            .secure_state(
                &[layout.root(), &layout.demos()],
                &[&layout.apache_dir(), &layout.apache_links()],
                &[&layout.apache_run(), &layout.apache_logs()],
                &[&layout.logs(), &layout.supervisor_dir(), &layout.trash()],
            )
            .context("securing the state folder")?;
        // Here, not at the first demo: a host that cannot sandbox says so now.
        self.sandbox
            .probe(&layout.root().join("sandbox-probe"))
            .context("the sandbox cannot be set up on this host")?;
        let trashed = store::empty_trash(&layout)?;
        if trashed > 0 {
            warn!(
                count = trashed,
                "finished removing folders an interrupted removal left behind"
            );
        }
        store::write_if_changed(
            &layout.supervisord_conf(),
            &crate::supervisor::config::render_main(&layout, &self.cfg, &self.sandbox)?,
        )?;
        store::write_if_changed(
            &layout.apache_conf(),
            &apache::render_main(&layout, &self.cfg, &self.sandbox),
        )?;

        // No deploy runs yet (the state lock is ours): every noted process
        // group is a script left by a showroomd that died while it ran.
        for (name, pgid_file) in deployer::noted_groups(&layout) {
            if deployer::kill_leftover(&pgid_file, &layout.demo_dir(&name)) {
                warn!(demo = %name, "killed its deploy script, still running since showroomd died");
            }
        }
        let rolled_back = self.load_demos().await?;
        self.end_strays().await;
        for link in apache::linked_names(&layout) {
            if self.state.is_leftover_link(&link) {
                warn!(link = %link, "removing an Apache link whose demo is gone");
                apache::unlink(&layout, &link)?;
            }
        }

        match self.sup.start_daemon(&layout, &self.cfg).await {
            Ok(started) => {
                let events = self
                    .state
                    .set_supervisor_up(true, "", std::time::Instant::now());
                self.send(events);
                if started {
                    self.disable_all_vhosts();
                } else {
                    info!("supervisord was already running: picking up its demos");
                }
                for name in &rolled_back {
                    if let Err(e) = self.remove_group(name).await {
                        warn!(demo = %name, error = %e, "removing the group of a rolled-back deploy");
                    }
                }
                if let Err(e) = self.sync_groups().await {
                    error!(error = %e, "cannot bring supervisord's groups in line with the demos");
                }
            }
            Err(e) => {
                error!(error = %e, "supervisord could not be started; demos show UNKNOWN until it is")
            }
        }
        self.refresh_all().await;
        if self.state.supervisor_up() {
            self.apache_reconcile().await;
        }
        self.publish();
        info!(
            demos = self.state.demos.len(),
            rolled_back = rolled_back.len(),
            "state loaded from {}",
            layout.root().display()
        );
        Ok(())
    }

    /// Ends what a supervisord that is gone left running of showroom's (a
    /// demo or Apache from before the sandbox, or with `sandbox = false`):
    /// a second copy would hold the ports. What a live supervisord runs stays.
    pub(super) async fn end_strays(&mut self) {
        let keep = if self.sup.state().await.is_ok() {
            let pid = std::fs::read_to_string(self.layout.supervisord_pid())
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok());
            if pid.is_none() {
                warn!("supervisord answers but its pid file cannot be read: not looking for leftover processes");
                return;
            }
            pid
        } else {
            None
        };
        for pid in sandbox::strays(&self.layout.demos(), &self.layout.apache_conf(), keep) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) => {
                    warn!(pid, command = %cmd.trim_end(), "killed a process left running by a supervisord that is gone")
                }
                Err(e) => {
                    warn!(pid, error = %e, "cannot kill a process left by a supervisord that is gone")
                }
            }
        }
    }

    /// Reads every demo folder into the state table, rolling back the
    /// deploys a crash cut short and rewriting program sections; returns the
    /// names rolled back.
    async fn load_demos(&mut self) -> anyhow::Result<Vec<String>> {
        let layout = self.layout.clone();
        let mut rolled_back = Vec::new();
        for name in store::demo_names(&layout)? {
            if let Err(e) = protocol::names::validate_name(&name) {
                warn!(folder = %name, "ignoring a folder that is not a demo: {e}");
                continue;
            }
            if store::remove_stale_tmp(&layout, &name) {
                warn!(demo = %name, "removed a record's temporary file left by an interrupted write");
            }
            let record = match store::read_record(&layout, &name) {
                Ok(r) => r,
                Err(store::StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    // The record is written right after the folder is made:
                    // a folder without one is a deploy cut short at its start.
                    warn!(demo = %name, "rolling back a deploy cut short before its record was written");
                    store::remove_demo_dir(&layout, &name).await?;
                    rolled_back.push(name);
                    continue;
                }
                Err(e) => {
                    error!(demo = %name, error = %e, "damaged record: the demo is shown as FATAL until destroyed");
                    damaged(&e)
                }
            };
            if record.phase == Phase::Deploying {
                warn!(demo = %name, "rolling back a deploy cut short by a stop of showroomd");
                store::remove_demo_dir(&layout, &name).await?;
                let _ = std::fs::remove_file(layout.program_section(&name));
                rolled_back.push(name);
                continue;
            }
            // A folder from before the sandbox becomes the account's.
            if let Err(e) = self.sandbox.prepare_demo_dir(&layout.demo_dir(&name)) {
                warn!(demo = %name, error = %e, "cannot give the demo's folder to the sandbox's account");
            }
            let view = self.load_view(&name, record);
            if let (true, Some(port)) = (view.has_process, view.record.port) {
                if self
                    .write_section(&name, port)
                    .map_err(|e| anyhow::anyhow!(e.message))?
                {
                    info!(demo = %name, "rewrote its supervisord program section");
                }
            }
            self.state.demos.insert(name, view);
        }
        Ok(rolled_back)
    }
}
