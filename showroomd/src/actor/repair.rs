//! The repairs at start: what a crash left half done is rolled back or finished, supervisord brought up, its groups and Apache brought in line with the folders and links.

use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::task::{JoinError, JoinHandle};
use tracing::{error, info, warn};

use super::Actor;
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::config::MainOptions;
use crate::supervisor::{ProcessInfo, RpcError, Supervisord};
use crate::{apache, deployer, sandbox};

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

/// What the start makes of one demo folder, from its deploy marker, its
/// record and (only when the record cannot be read) the copy in its folder.
#[derive(Debug)]
pub(super) enum Found {
    /// A deploy showroom noted (its marker) and never finished: undone.
    CutDeploy,
    /// Its record. `adopted`: read from the copy in its folder (a state
    /// folder from before `records/`, or a record damaged), with why.
    Record {
        record: DemoRecord,
        adopted: Option<String>,
    },
    /// Kept as found, with what is wrong: showroom cannot vouch for it, so
    /// it neither removes it nor lets a cleanup do so.
    Kept {
        record: Option<DemoRecord>,
        problem: String,
    },
}

/// Decides what a folder is. Only a marker proves a deploy showroom's own
/// and unfinished: a folder with no marker is never removed here.
pub(super) fn decide(
    marker: bool,
    record: Result<DemoRecord, store::StoreError>,
    copy: impl FnOnce() -> Result<DemoRecord, store::StoreError>,
) -> Found {
    let installed = |r: &DemoRecord| r.phase == Phase::Installed;
    match record {
        Ok(record) if installed(&record) => Found::Record {
            record,
            adopted: None,
        },
        _ if marker => Found::CutDeploy,
        Ok(record) => Found::Kept {
            record: Some(record),
            problem: "its deploy was cut short, and its deploy marker is gone".into(),
        },
        Err(e) => {
            let lost = if is_missing(&e) {
                "its record is missing"
            } else {
                "its record is unreadable"
            };
            match copy() {
                Ok(copy) if installed(&copy) => Found::Record {
                    record: copy,
                    adopted: Some(lost.to_owned()),
                },
                Ok(copy) => Found::Kept {
                    record: Some(copy),
                    problem: format!("{lost}, and its demo.conf says a deploy was cut short"),
                },
                Err(_) => Found::Kept {
                    record: None,
                    problem: lost.to_owned(),
                },
            }
        }
    }
}

fn is_missing(e: &store::StoreError) -> bool {
    matches!(e, store::StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// The port showroom gave a demo whose record is lost, from what showroom
/// itself generated: its program section, else the Listen of its enabled
/// vhost copy. Read before the sections are written again.
fn recover_port(layout: &crate::layout::Layout, programs: &str, name: &str) -> Option<u16> {
    section_port(programs, name).or_else(|| {
        apache::listen_ports(&layout.apache_copy(name))
            .first()
            .copied()
    })
}

/// `PORT` in `[program:NAME]`'s environment line of the generated file.
fn section_port(programs: &str, name: &str) -> Option<u16> {
    let header = format!("[program:{name}]\n");
    let body = &programs[programs.find(&header)? + header.len()..];
    let body = &body[..body.find("\n[").unwrap_or(body.len())];
    body.lines().find_map(|l| {
        l.strip_prefix("environment=PORT=\"")?
            .split('"')
            .next()?
            .parse()
            .ok()
    })
}

/// The record shown for a demo kept without one: no app, no params, its
/// folder's time as its creation (never 1970, which every age filter matches).
fn record_for_kept(layout: &crate::layout::Layout, name: &str, port: Option<u16>) -> DemoRecord {
    let created = std::fs::metadata(layout.demo_dir(name))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(store::now_secs, |d| d.as_secs());
    DemoRecord::bare("?", port, created, Phase::Installed)
}

impl<S: Supervisord> Actor<S> {
    /// Repairs what a crash left half done, then brings supervisord up.
    pub(super) async fn recover(
        &mut self,
    ) -> anyhow::Result<(Vec<String>, Option<PendingReading>)> {
        self.state.set_checks_pending(true);
        let layout = self.layout.clone();
        // Nothing showroomd writes is for other users: they read through the
        // socket. Apache's files take the account's group (`secure_state`).
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
        layout
            .create_dirs()
            .with_context(|| format!("creating the state folder {}", layout.root().display()))?;
        self.sandbox
            .secure_state(
                // The trash too: the demos' account empties a removed folder
                // there (`demofs::remove_tree`), and must reach it; and the
                // archives, where an import unpacked as that account is copied from.
                &[
                    layout.root(),
                    &layout.demos(),
                    &layout.trash(),
                    &layout.archives(),
                ],
                // Apache (the account) reads these: its config, the enabled
                // and staged vhost copies, the front door's config and pages.
                &[
                    &layout.apache_dir(),
                    &layout.apache_copies(),
                    &layout.apache_staged_dir(),
                    &layout.frontdoor_dir(),
                    &layout.frontdoor_pages(),
                    &layout.frontdoor_auth(),
                ],
                &[
                    &layout.apache_run(),
                    &layout.apache_logs(),
                    &layout.frontdoor_run(),
                    &layout.frontdoor_logs(),
                ],
                &[&layout.logs(), &layout.supervisor_dir()],
            )
            .context("securing the state folder")?;
        // Here, not at the first demo: a host that cannot sandbox says so now.
        self.sandbox
            .probe(&layout.root().join("sandbox-probe"))
            .context("the sandbox cannot be set up on this host")?;
        crate::frontdoor::install_tls(&self.cfg, &layout, &self.sandbox, false)
            .context("handing the front door's certificate to Apache")?;
        let trashed = store::empty_trash(&layout, &self.sandbox).await?;
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
                &self.sandbox,
                &MainOptions {
                    event_listener: events_listener_exe(),
                },
            )?,
        )?;
        store::write_if_changed(
            &layout.apache_conf(),
            &apache::render_main(&layout, &self.cfg, &self.sandbox),
        )?;
        store::write_if_changed(
            &layout.frontdoor_main_conf(),
            &crate::frontdoor_server::render_main(
                &layout,
                &self.cfg,
                self.sandbox.run_as.is_none() && nix::unistd::geteuid().is_root(),
            ),
        )?;

        // No deploy runs yet (the state lock is ours): every noted process
        // group is a script left by a showroomd that died while it ran.
        for (name, pgid_file) in deployer::noted_groups(&layout) {
            if deployer::kill_leftover(&pgid_file, &layout.demo_dir(&name)) {
                warn!(demo = %name, "killed its deploy script, still running since showroomd died");
            }
        }
        let copied = apache::copy_links(&layout);
        if copied > 0 {
            warn!(
                count = copied,
                "Apache included demos' files through links: they are checked copies now"
            );
        }
        let rolled_back = self.load_demos().await?;
        self.end_strays().await;
        for link in apache::enabled_names(&layout) {
            if self.state.is_leftover_copy(&link) {
                warn!(link = %link, "removing an Apache link whose demo is gone");
                apache::remove_copy(&layout, &link)?;
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
                    // After the checks: the demos wanted running come back.
                    self.restore_after_checks = true;
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
        self.take_sweep(read, taken);
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
            if std::mem::take(&mut self.restore_after_checks) {
                self.restore_wanted();
            } else {
                self.restart_cut_clone_sources();
            }
        }
        self.state.set_checks_pending(false);
        self.publish();
        info!("checks at start done");
    }

    /// Starts again the sources that clones cut short by a crash had
    /// stopped for their copy, when still wanted running and not running.
    fn restart_cut_clone_sources(&mut self) {
        let wanted = self.state.to_restore();
        let names: Vec<String> = std::mem::take(&mut self.cut_clone_sources)
            .into_iter()
            .filter(|src| wanted.contains(src))
            .filter(|src| {
                !matches!(
                    self.state.proc(src),
                    Some(protocol::DemoStatus::Running | protocol::DemoStatus::Starting)
                )
            })
            .collect();
        for src in &names {
            warn!(demo = %src, "a clone cut short by a stop of showroomd had stopped it for its copy: starting it again (it is wanted running)");
        }
        self.restore_names(names);
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
        // The demos' Apache and the front door's: each names its main config.
        let mut strays = sandbox::strays(&self.layout.demos(), &self.layout.apache_conf(), keep);
        strays.extend(sandbox::strays(
            &self.layout.demos(),
            &self.layout.frontdoor_main_conf(),
            keep,
        ));
        strays.sort();
        strays.dedup();
        for pid in strays {
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
    /// deploys a crash cut short (and only those: a marker proves them),
    /// keeping whatever else it finds, and writing program sections again;
    /// returns the names rolled back.
    async fn load_demos(&mut self) -> anyhow::Result<Vec<String>> {
        let layout = self.layout.clone();
        let mut rolled_back = Vec::new();
        // Read before it is written again: a lost record's port is in it.
        let programs = std::fs::read_to_string(layout.programs_conf()).unwrap_or_default();
        for done in super::ops::redeploy::finish_redeploys(&layout, &self.sandbox).await {
            warn!("{done}");
        }
        let folders = store::demo_names(&layout)?;
        self.drop_records_without_folder(&folders);
        for name in folders {
            if let Err(e) = protocol::names::validate_name(&name) {
                warn!(folder = %name, "ignoring a folder that is not a demo: {e}");
                continue;
            }
            if store::remove_stale_tmp(&layout, &name) {
                warn!(demo = %name, "removed a record's temporary file left by an interrupted write");
            }
            let marker = store::is_marked_deploying(&layout, &name);
            let record = store::read_record(&layout, &name);
            if let Err(e) = &record {
                if !is_missing(e) {
                    error!(demo = %name, error = %e, "its record is unreadable");
                }
            }
            let found = decide(marker, record, || store::read_record_copy(&layout, &name));
            let (record, problem) = match found {
                Found::CutDeploy => {
                    warn!(demo = %name, "rolling back a deploy cut short by a stop of showroomd");
                    if let Some(src) = store::stopped_source(&layout, &name) {
                        self.cut_clone_sources.push(src);
                    }
                    store::remove_demo_dir(&layout, &name, &self.sandbox).await?;
                    store::remove_record(&layout, &name)?;
                    store::unmark_deploying(&layout, &name)?;
                    rolled_back.push(name);
                    continue;
                }
                Found::Record { record, adopted } => {
                    if let Some(why) = adopted {
                        warn!(demo = %name, "{why}: adopted the copy in its folder (demo.conf) as its record");
                        store::write_record(&layout, &name, &record)?;
                    } else if store::restore_copy(&layout, &name, &record).unwrap_or(false) {
                        info!(demo = %name, "restored the copy of its record in its folder (demo.conf)");
                    }
                    if marker {
                        info!(demo = %name, "its deploy was installed before showroomd stopped: done");
                        store::unmark_deploying(&layout, &name)?;
                    }
                    (record, None)
                }
                Found::Kept { record, problem } => {
                    let mut record = record.unwrap_or_else(|| {
                        record_for_kept(&layout, &name, recover_port(&layout, &programs, &name))
                    });
                    record.phase = Phase::Installed;
                    warn!(
                        demo = %name,
                        port = ?record.port,
                        "{problem}: kept as found (folder, process, vhost and port), shown UNKNOWN; \
                         no cleanup touches it: destroy it, or put its record back in {} and restart showroomd",
                        layout.record(&name).display()
                    );
                    (record, Some(problem))
                }
            };
            // A folder from before the sandbox becomes the account's.
            if let Err(e) = self.sandbox.prepare_demo_dir(&layout.demo_dir(&name)) {
                warn!(demo = %name, error = %e, "cannot give the demo's folder to the sandbox's account");
            }
            let mut view = self.load_view(&name, record);
            view.problem = problem;
            self.state.demos.insert(name, view);
        }
        self.write_programs(None)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(rolled_back)
    }

    /// A record whose folder is gone is a destroy cut short between the
    /// two (the folder goes first); so is a marker with neither: both end here.
    fn drop_records_without_folder(&self, folders: &[String]) {
        let layout = &self.layout;
        let records = store::names_in(&layout.records(), ".toml");
        let markers = store::names_in(&layout.deploying(), "");
        for name in records.iter().chain(&markers) {
            if folders.contains(name) {
                continue;
            }
            warn!(demo = %name, "finishing a removal cut short: its folder is gone, its record goes too");
            for r in [
                store::remove_record(layout, name),
                store::unmark_deploying(layout, name),
            ] {
                if let Err(e) = r {
                    warn!(demo = %name, error = %e, "cannot remove it");
                }
            }
        }
    }
}
