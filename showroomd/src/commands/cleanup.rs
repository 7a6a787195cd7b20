//! `cleanup`: destroy the demos that match (for cron), and remove what earlier failures left behind.

use protocol::{CleanupReport, CleanupRequest, ProtocolError, Response};
use tracing::{info, warn};

use crate::actor::Actor;
use crate::store::{self, Phase};
use crate::supervisor::config::APACHE_PROGRAM;

impl Actor {
    pub(crate) async fn cleanup(&mut self, req: CleanupRequest) -> Result<Response, ProtocolError> {
        self.refresh_all().await;
        let now = store::now_secs();
        let matching: Vec<String> = self
            .demos
            .iter()
            .filter(|(_, d)| d.record.phase == Phase::Installed)
            .filter(|(_, d)| {
                req.older_than_secs
                    .is_none_or(|age| now.saturating_sub(d.record.created) >= age)
            })
            .filter(|(_, d)| req.statuses.is_empty() || req.statuses.contains(&d.status))
            .map(|(n, _)| n.clone())
            .collect();

        let mut leftovers: Vec<(String, Leftover)> = Vec::new();
        for link in crate::apache::linked_names(&self.layout) {
            if !self.demos.get(&link).is_some_and(|d| d.has_vhost) {
                leftovers.push((format!("apache link {link}.conf"), Leftover::Link(link)));
            }
        }
        if let Ok(infos) = self.sup.all_process_info().await {
            for i in infos {
                if i.group != APACHE_PROGRAM && !self.demos.contains_key(&i.group) {
                    leftovers.push((
                        format!("supervisord group {}", i.group),
                        Leftover::Group(i.group),
                    ));
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.layout.logs().join("deploy")) {
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                // Only logs: a running deploy's process group is noted here too.
                let Some(demo) = file.strip_suffix(".log") else {
                    continue;
                };
                if !self.demos.contains_key(demo) {
                    leftovers.push((format!("deploy log {file}"), Leftover::File(e.path())));
                }
            }
        }

        let mut report = CleanupReport {
            dry_run: req.dry_run,
            destroyed: vec![],
            failed: vec![],
            leftovers: leftovers.iter().map(|(d, _)| d.clone()).collect(),
        };
        if req.dry_run {
            report.destroyed = matching;
            return Ok(Response::Cleanup(report));
        }
        for name in matching {
            match self.destroy_demo(&name).await {
                Ok(_) => {
                    // `destroy` keeps the deploy log for a post-mortem; cleanup is the end of the line.
                    remove_if_present(&self.layout.deploy_log(&name));
                    report.destroyed.push(name)
                }
                Err(e) => {
                    warn!(demo = %name, error = %e.message, "cleanup could not destroy it");
                    report.failed.push((name, e.message));
                }
            }
        }
        for (what, l) in leftovers {
            let r = match l {
                Leftover::Link(n) => crate::apache::unlink(&self.layout, &n)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Leftover::Group(g) => self.remove_group(&g).await.map_err(|e| e.to_string()),
                Leftover::File(p) => std::fs::remove_file(p).map_err(|e| e.to_string()),
            };
            if let Err(e) = r {
                report.failed.push((what, e));
            }
        }
        info!(
            destroyed = report.destroyed.len(),
            leftovers = report.leftovers.len(),
            failed = report.failed.len(),
            "cleanup done"
        );
        self.publish();
        Ok(Response::Cleanup(report))
    }
}

enum Leftover {
    Link(String),
    Group(String),
    File(std::path::PathBuf),
}

fn remove_if_present(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), error = %e, "could not remove a deploy log"),
    }
}
