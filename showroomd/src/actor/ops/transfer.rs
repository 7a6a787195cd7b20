//! `export NAME` and `import`: a demo's folder and record as one tar archive, and a new demo made from one, like a clone whose source came from elsewhere.

use std::path::{Path, PathBuf};
use std::time::Instant;

use protocol::{DemoInfo, ErrorKind, ProtocolError};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::clone::{showroom_files, Copy};
use super::deploy::Finish;
use crate::actor::{Actor, Msg, Reply};
use crate::deployer::{self, Outcome};
use crate::store::DemoRecord;
use crate::supervisor::Supervisord;

/// An archive unpacked by the connection side, handed to the actor.
#[derive(Debug)]
pub struct Unpacked {
    /// The new demo's name.
    pub name: String,
    /// The exported demo's name and record.
    pub old_name: String,
    pub record: DemoRecord,
    /// Where the exported demo's folder was, as its program section said.
    pub old_dir: Option<String>,
    /// The unpacked folder.
    pub dir: PathBuf,
}

impl<S: Supervisord> Actor<S> {
    /// Stops a running process for the copy (as a clone does), archives
    /// the folder beside the actor, starts it again, and answers the archive's path.
    pub(in crate::actor) async fn export_begin(&mut self, name: String, reply: Reply<PathBuf>) {
        let src = match self.state.installed(&name) {
            Ok(s) => s,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if let Err(e) = crate::store::restore_copy(&self.layout, &name, &src.record) {
            warn!(demo = %name, error = %e, "cannot bring the copy of its record up to date before its export");
        }
        let was_running = match self.pause_for_copy(&name, src.has_process).await {
            Ok(r) => r,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let archive = self.layout.archive(&format!("export-{name}"));
        let demos = self.layout.demos();
        // The record's copy and the program section go too (the import reads
        // the record and the old folder from them); temporary files do not.
        let skip = showroom_files(&self.layout, &name)
            .into_iter()
            .filter(|f| f != "demo.conf" && f != "supervisor.cfg")
            .collect::<Vec<_>>();
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let made = tar_create(&demos, &name, &skip, &archive).await;
            info!(demo = %name, ms = t0.elapsed().as_millis() as u64, ok = made.is_ok(), "export archived");
            if let Some(tx) = tx.upgrade() {
                // The answer once the demo runs again, as it did.
                let (started, back) = tokio::sync::oneshot::channel();
                let again = Msg::CloneCopied {
                    src: name.clone(),
                    was_running,
                    name,
                    started,
                };
                if tx.send(again).await.is_ok() {
                    let _ = back.await;
                }
            }
            let _ = reply.send(made.map(|()| archive));
        });
    }

    /// Reserves the new demo from the archive's record, then copies the
    /// unpacked folder in, rewrites its old folder's path, and runs the
    /// app's reconfigure step; a failure leaves nothing, as a deploy's.
    pub(in crate::actor) async fn import_begin(
        &mut self,
        unpacked: Unpacked,
        progress: mpsc::Sender<String>,
        reply: Reply<DemoInfo>,
    ) {
        let Unpacked {
            name,
            old_name,
            record,
            old_dir,
            dir,
        } = unpacked;
        if let Err(e) = self.require_new(&name) {
            let _ = reply.send(Err(e));
            return;
        }
        let job = match self
            .reserve_for_copy(&name, &old_name, &record, &record.comment, "import")
            .await
        {
            Ok(job) => job,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let to = self.layout.demo_dir(&name);
        let copy = Copy {
            src_name: old_name.clone(),
            from: dir,
            to: to.clone(),
            skip: showroom_files(&self.layout, &old_name),
            sandbox: self.sandbox.clone(),
        };
        let finish = Finish {
            started: Instant::now(),
            ttl_secs: None,
            redeploy: None,
            sleep_after_secs: None,
        };
        self.spawn_job(name, reply, finish, move |cancel| async move {
            if let Err(how) = copy.run(&progress).await {
                return Outcome::failed(how, vec![]);
            }
            if let Some(old) = old_dir {
                let new = to.display().to_string();
                for f in ["start.sh", "apache2.conf"] {
                    if let Err(e) = crate::upgrade::rewrite_no_follow(&to.join(f), &old, &new) {
                        return Outcome::failed(format!("rewriting {f}'s folder: {e}"), vec![]);
                    }
                }
            }
            deployer::run(job, progress, cancel).await
        })
        .await;
    }
}

/// `tar --create` of `demos/NAME` (less `skip`), as `NAME/…`, into `archive`.
/// GNU tar archives a link as a link and opens nothing through one.
async fn tar_create(
    demos: &Path,
    name: &str,
    skip: &[std::ffi::OsString],
    archive: &Path,
) -> Result<(), ProtocolError> {
    let mut cmd = tokio::process::Command::new("tar");
    cmd.arg("--create")
        .arg("--file")
        .arg(archive)
        .arg("--directory")
        .arg(demos);
    for s in skip {
        cmd.arg(format!("--exclude={name}/{}", s.to_string_lossy()));
    }
    let out = cmd
        .arg("--")
        .arg(name)
        .output()
        .await
        .map_err(|e| ProtocolError::new(ErrorKind::Internal, format!("cannot run tar: {e}")))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(archive);
        return Err(ProtocolError::new(
            ErrorKind::Internal,
            format!("archiving demo {name} failed ({})", out.status),
        )
        .with_detail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(())
}
