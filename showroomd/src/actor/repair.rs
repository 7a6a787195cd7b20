//! The repairs at start: what a crash left half done is rolled back or finished, supervisord brought up, its groups and Apache brought in line with the folders and links.

use std::os::unix::fs::PermissionsExt;

use anyhow::Context;
use tracing::{error, info, warn};

use std::time::{Duration, Instant};

use tokio::task::{JoinError, JoinHandle};

use super::{Actor, Observation};
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::config::MainOptions;
use crate::supervisor::{ProcessInfo, RpcError, Supervisord};
use crate::{apache, deployer};

/// How long a start waits for its first reading of supervisord before it
/// answers `list` without it.
const FIRST_READING_WAIT: Duration = Duration::from_millis(300);

/// A first reading still under way, and when it was asked for.
pub(super) type PendingReading = (JoinHandle<Result<Vec<ProcessInfo>, RpcError>>, Instant);

/// showroomd's own binary, run by supervisord as its event listener; none
/// (polling alone) when it cannot be found.
fn events_listener_exe() -> Option<std::path::PathBuf> {
    std::env::current_exe()
        .inspect_err(|e| warn!(error = %e, "no path to showroomd itself: no event listener, changes are seen by polling"))
        .ok()
}

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
    /// Repairs what a crash left half done, brings supervisord up, and
    /// publishes what one reading says; returns the demos rolled back, whose
    /// groups `finish_checks` removes.
    pub(super) async fn recover(
        &mut self,
    ) -> anyhow::Result<(Vec<String>, Option<PendingReading>)> {
        self.state.set_checks_pending(true);
        let layout = self.layout.clone();
        layout
            .create_dirs()
            .with_context(|| format!("creating the state folder {}", layout.root().display()))?;
        // Apache (running as www-data when showroomd is root) must reach the demos' files.
        for d in [layout.root().to_path_buf(), layout.demos()] {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
        }
        let trashed = store::empty_trash(&layout)?;
        if trashed > 0 {
            warn!(
                count = trashed,
                "finished removing folders an interrupted removal left behind"
            );
        }
        store::write_if_changed(
            &layout.supervisord_conf(),
            &crate::supervisor::config::render_main_with(
                &layout,
                &self.cfg,
                &MainOptions {
                    event_listener: events_listener_exe(),
                    ..MainOptions::PER_DEMO_FILES
                },
            ),
        )?;
        store::write_if_changed(
            &layout.apache_conf(),
            &apache::render_main(&layout, &self.cfg),
        )?;

        // No deploy runs yet (the state lock is ours): every noted process
        // group is a script left by a showroomd that died while it ran.
        for (name, pgid_file) in deployer::noted_groups(&layout) {
            if deployer::kill_leftover(&pgid_file, &layout.demo_dir(&name)) {
                warn!(demo = %name, "killed its deploy script, still running since showroomd died");
            }
        }
        let rolled_back = self.load_demos().await?;
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
            }
            Err(e) => {
                error!(error = %e, "supervisord could not be started; demos show UNKNOWN until it is")
            }
        }
        // What `list` shows until the checks are done: one reading, no more,
        // and only if it comes soon; else the checks take it over.
        let first = self.first_reading().await;
        self.publish();
        info!(
            demos = self.state.demos.len(),
            rolled_back = rolled_back.len(),
            "state loaded from {}",
            layout.root().display()
        );
        Ok((rolled_back, first))
    }

    /// One reading of every program, published if it comes within
    /// `FIRST_READING_WAIT`; else (at 1000 programs it takes supervisord 0.5
    /// to 2 s) the socket is bound without it, demos show UNKNOWN, and the
    /// reading still under way is returned for `finish_checks` to take in.
    async fn first_reading(&mut self) -> Option<PendingReading> {
        if !self.state.supervisor_up() {
            return None;
        }
        let sup = self.sup.clone();
        let taken = Instant::now();
        let mut reading = tokio::spawn(async move { sup.all_process_info().await });
        match tokio::time::timeout(FIRST_READING_WAIT, &mut reading).await {
            Ok(read) => {
                self.take_reading(read, taken);
                None
            }
            Err(_) => {
                info!("supervisord is slow to list its programs: listing the demos as UNKNOWN until it has");
                Some((reading, taken))
            }
        }
    }

    fn take_reading(
        &mut self,
        read: Result<Result<Vec<ProcessInfo>, RpcError>, JoinError>,
        taken: Instant,
    ) {
        let read = read.unwrap_or_else(|e| Err(RpcError::Join(e.to_string())));
        match Observation::sweep(read, taken) {
            Ok(o) => {
                let events = self.state.observed(o, Instant::now());
                self.send(events);
            }
            Err(e) => warn!(error = %e, "cannot read process states"),
        }
        self.publish();
    }

    /// The checks a start leaves for after `list` answers: the groups of the
    /// deploys rolled back removed, supervisord's groups and Apache brought in
    /// line with the folders. Until then a program supervisord does not know
    /// shows UNKNOWN rather than FATAL.
    pub(super) async fn finish_checks(
        &mut self,
        rolled_back: Vec<String>,
        first: Option<PendingReading>,
    ) {
        if let Some((reading, taken)) = first {
            self.take_reading(reading.await, taken);
        }
        if self.state.supervisor_up() {
            for name in &rolled_back {
                if let Err(e) = self.remove_group(name).await {
                    warn!(demo = %name, error = %e, "removing the group of a rolled-back deploy");
                }
            }
            if let Err(e) = self.sync_groups().await {
                error!(error = %e, "cannot bring supervisord's groups in line with the demos");
            }
            self.refresh_all().await;
            self.apache_reconcile().await;
        }
        self.state.set_checks_pending(false);
        self.publish();
        info!("checks at start done");
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
