//! The front door's own Apache, driven by the actor: its config staged and reloaded after each message, started whenever it does not run, a port another program holds retried every few seconds and said, its certificate watched and swapped without a restart.

use std::sync::Arc;
use std::time::Duration;

use protocol::{DemoStatus, FrontDoorInfo};
use tracing::{error, info, warn};

use super::{Actor, Snapshot};
use crate::frontdoor::{self, FrontDemo, Rendered, Staged};
use crate::frontdoor_server::{self, FRONT_PROGRAM};
use crate::frontdoor_tls::{self, CertFacts, Stamp};
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisord;

/// How often a front door that does not serve is tried again, and the
/// certificate files are looked at.
pub(super) const FRONT_TICK: Duration = Duration::from_secs(3);

/// A warning in the log this long before the certificate expires.
const EXPIRY_WARNING_SECS: u64 = 14 * 86_400;

/// What the actor remembers of the front door between publishes: one
/// state for the whole door (the per-demo part is each `FrontDemo`, what
/// its vhost was last rendered from).
#[derive(Debug, Default)]
pub(super) struct FrontDoor {
    /// The demos it was last staged for; None: stage at the next sync.
    staged: Option<Vec<FrontDemo>>,
    /// The snapshot `staged` was made from: the same one again has the same
    /// demos, and the list need not be built (the sync runs after every message).
    seen: Option<Arc<Snapshot>>,
    /// Why it last failed to serve, as logged: said once, not every tick.
    told: Option<String>,
    /// The certificate files as last installed or refused.
    cert_stamp: Option<Stamp>,
    /// The certificate served, once checked.
    cert: Option<CertFacts>,
    /// The expiry warning was logged for this expiry.
    expiry_warned: Option<u64>,
}

impl<S: Supervisord> Actor<S> {
    /// Brings the front door in line with the snapshot just published:
    /// pages rewritten, a changed config put live only after Apache's config
    /// test, then a graceful reload (or a start, when it does not run).
    /// Called once per message the actor handles, so a burst of changes
    /// makes one reload each time round, never one per change.
    pub(super) async fn front_door_sync(&mut self) {
        let Some(settings) = self.state.front.clone() else {
            return;
        };
        let snap = self.snapshot_tx.borrow().clone();
        let seen = self.front.seen.as_ref();
        if self.front.staged.is_some() && seen.is_some_and(|s| Arc::ptr_eq(s, &snap)) {
            return;
        }
        let demos: Vec<FrontDemo> = snap.demos.iter().map(|(n, d)| front_demo(n, d)).collect();
        self.front.seen = Some(snap);
        if self.front.staged.as_ref() == Some(&demos) {
            return;
        }
        let rendered = frontdoor::render(&settings, &demos);
        let staged = match frontdoor::stage(&self.layout, &self.cfg, &self.sandbox, &rendered).await
        {
            Ok(staged) => staged,
            Err(e) => {
                error!(error = %e, "the front door's new config was not put live; the old one serves on");
                Staged::Unchanged
            }
        };
        let first = self.front.staged.is_none();
        self.front.staged = Some(demos);
        if staged == Staged::Reload || first {
            // At showroomd's start a running front door is reloaded too: its
            // main config (written at this start) may have changed.
            self.front_serve(true, Some(&rendered)).await;
        }
        if staged == Staged::Reload {
            if let Err(e) = frontdoor::tidy(&self.layout, &rendered) {
                warn!(error = %e, "cannot remove the front door's old pages");
            }
        }
        self.publish();
    }

    /// Every few seconds: a front door that does not run is started (its
    /// ports tried again), and a changed certificate checked and served.
    pub(super) async fn front_door_tick(&mut self) {
        if self.state.front.is_none() {
            return;
        }
        let reload = self.cert_watch().await;
        let running = matches!(
            self.state.proc(FRONT_PROGRAM),
            Some(DemoStatus::Running | DemoStatus::Starting)
        );
        let serving = self.state.front_door.as_ref().is_some_and(|f| f.serving);
        if reload || !running || !serving {
            self.front_serve(reload, None).await;
            self.publish();
        }
    }

    /// Makes the front door's Apache serve the live config: a graceful
    /// reload when it runs and `reload`, a start when it does not (unless
    /// another program holds one of its ports: then it says who, and the
    /// next tick tries again). `rendered`: the config just put live, whose
    /// generation a fresh request must get before the sync answers.
    async fn front_serve(&mut self, reload: bool, rendered: Option<&Rendered>) {
        let Some(settings) = self.state.front.clone() else {
            return;
        };
        self.refresh(FRONT_PROGRAM).await;
        let state = self.state.proc(FRONT_PROGRAM);
        let result = match state {
            Some(DemoStatus::Running | DemoStatus::Starting) => {
                if reload {
                    self.apache_graceful(FRONT_PROGRAM)
                        .await
                        .map_err(|e| format!("its graceful reload failed: {}", e.message))
                } else {
                    Ok(())
                }
            }
            _ => self.front_start(&settings.ports()).await,
        };
        match result {
            Ok(()) => {
                if self.front.told.take().is_some() || state != Some(DemoStatus::Running) {
                    info!(ports = ?settings.ports(), "the front door serves");
                }
                self.set_front_door(true, String::new(), &settings.ports());
                if let Some(g) = rendered.and_then(|r| frontdoor::generation_of(&r.conf)) {
                    // "ok" means done: the reply waits until new connections get this config.
                    if !front_serves(settings.port, &settings.domain, g).await {
                        warn!(
                            generation = g,
                            "the front door's new config is not answering yet after 5 s"
                        );
                    }
                }
            }
            Err(why) => {
                if self.front.told.as_deref() != Some(why.as_str()) {
                    error!(reason = %why, "the front door does not serve; trying again every {} s", FRONT_TICK.as_secs());
                    self.front.told = Some(why.clone());
                }
                self.set_front_door(false, why, &settings.ports());
            }
        }
    }

    /// Starts the front door's Apache once its ports are free; the program
    /// is added first to a supervisord started before it existed.
    async fn front_start(&mut self, ports: &[u16]) -> Result<(), String> {
        if let Some(why) = ports.iter().find_map(|p| frontdoor_server::port_holder(*p)) {
            return Err(why);
        }
        let mut r = self.sup.start_process(FRONT_PROGRAM).await;
        if r.as_ref().err().and_then(|e| e.fault_code()) == Some(codes::BAD_NAME) {
            // A supervisord from before the front door was a program: its
            // config (rewritten at this start) is read again for it.
            let added = match self.sup.reload_config().await {
                Ok(_) => self.sup.add_process_group(FRONT_PROGRAM).await,
                Err(e) => Err(e),
            };
            r = match added {
                Ok(()) => self.sup.start_process(FRONT_PROGRAM).await,
                Err(e) => Err(e),
            };
        }
        let r = match r {
            Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => Ok(()),
            r => r,
        };
        self.refresh(FRONT_PROGRAM).await;
        r.map_err(|e| {
            let log = self.layout.frontdoor_logs().join("error.log");
            let (tail, _) = crate::tail::last_lines(&log, 3, 8 * 1024);
            format!("its Apache did not start: {e} {}", tail.trim_end())
                .trim_end()
                .to_owned()
        })
    }

    /// Puts what `supervisor status` says of the front door in the table.
    fn set_front_door(&mut self, serving: bool, reason: String, ports: &[u16]) {
        self.state.front_door = Some(FrontDoorInfo {
            serving,
            ports: ports.to_vec(),
            reason,
            cert_names: self
                .front
                .cert
                .as_ref()
                .map(|c| c.names.clone())
                .unwrap_or_default(),
            cert_expires: self.front.cert.as_ref().map(|c| c.expires),
        });
    }

    /// Looks at the certificate files: a changed pair is checked and, when
    /// it may be served, copied where Apache reads it (true: reload); a bad
    /// one is refused with the reason in the log, and the copies in the run
    /// folder (the old pair) serve on.
    async fn cert_watch(&mut self) -> bool {
        let (Some(cert), Some(key)) = (self.cfg.tls_cert.clone(), self.cfg.tls_key.clone()) else {
            return false;
        };
        let stamp = frontdoor_tls::stamp(&[&cert, &key]);
        if self.front.cert_stamp.as_ref() == Some(&stamp) {
            self.expiry_warning();
            return false;
        }
        self.front.cert_stamp = Some(stamp);
        let domain = self.cfg.domain.clone();
        let facts = match frontdoor_tls::check(&cert, &key, &domain).await {
            Ok(f) => f,
            Err(e) => {
                error!(cert = %cert.display(), key = %key.display(), error = %e, "the front door's certificate was refused; the one served before serves on");
                return false;
            }
        };
        self.front.cert = Some(facts);
        self.expiry_warning();
        if let Some(f) = self.state.front_door.clone() {
            self.set_front_door(f.serving, f.reason, &f.ports);
        }
        match frontdoor::install_tls(&self.cfg, &self.layout, &self.sandbox, true) {
            // At start the copies were those of the pair served before: the
            // files may have been renewed while showroomd was down.
            Ok(changed) => {
                if changed {
                    info!(cert = %cert.display(), "the front door's certificate changed on disk: checked, and served from now on");
                }
                changed
            }
            Err(e) => {
                error!(error = %e, "cannot hand the new certificate to the front door; the old one serves on");
                false
            }
        }
    }

    /// Warns, once per certificate, when it expires within 14 days.
    fn expiry_warning(&mut self) {
        let Some(c) = &self.front.cert else {
            return;
        };
        let left = c.expires.saturating_sub(crate::store::now_secs());
        if left < EXPIRY_WARNING_SECS && self.front.expiry_warned != Some(c.expires) {
            warn!(expires = %frontdoor_tls::iso(c.expires), days_left = left / 86_400, "the front door's certificate expires soon: renew it (showroomd serves the new files without a restart)");
            self.front.expiry_warned = Some(c.expires);
        }
    }
}

/// Whether a fresh connection to the front port gets the config of
/// `generation` (its header on the domain's own vhost), polled for 5 s.
async fn front_serves(port: u16, domain: &str, generation: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let want = format!("{}: {generation}", frontdoor::GENERATION_HEADER);
    let ask = || async {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let req = format!("HEAD / HTTP/1.0\r\nHost: {domain}\r\n\r\n");
        conn.write_all(req.as_bytes()).await.ok()?;
        let mut head = Vec::with_capacity(1024);
        conn.take(16 * 1024).read_to_end(&mut head).await.ok()?;
        Some(String::from_utf8_lossy(&head).contains(&want))
    };
    crate::wait::until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        || async {
            tokio::time::timeout(Duration::from_secs(1), ask())
                .await
                .ok()
                .flatten()
                .unwrap_or(false)
        },
    )
    .await
}

/// A demo as the front door knows it: as listed, with its visitor rules
/// (which the list does not carry); never its params.
fn front_demo(name: &str, d: &super::state::DemoView) -> FrontDemo {
    FrontDemo {
        name: name.to_owned(),
        port: d.record.port,
        status: crate::sleep::front_status(d.status, &d.record),
        app: d.record.app.clone(),
        comment: d.record.comment.clone(),
        created: d.record.created,
        expires_at: d.record.expires_at,
        access: d.record.access.clone(),
        reason: d.reason.clone(),
    }
}
