//! The front door's own Apache, kept by a task of its own beside the actor: it follows the snapshots the actor publishes, stages and reloads its config once for a burst of changes, starts it whenever it does not run (a port another program holds is retried every few seconds and said), and watches its certificate, swapping it without a restart.
//!
//! The actor never waits for it. It tells the actor how the door serves
//! (`Msg::FrontDoor`), and says on a `watch` which snapshot it serves
//! (`Served`): an answer that a demo is served by name waits for that,
//! beside the actor (`Actor::answer`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{DemoStatus, FrontDoorInfo};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::{Msg, Observation, Snapshot};
use crate::config::Config;
use crate::frontdoor::{self, FrontDemo, Settings, Staged};
use crate::frontdoor_server::{self, FRONT_PROGRAM};
use crate::frontdoor_tls::{self, CertFacts, Stamp};
use crate::layout::Layout;
use crate::sandbox::Sandbox;
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisord;

/// How often a front door that does not serve is tried again, and the
/// certificate files are looked at.
const FRONT_TICK: Duration = Duration::from_secs(3);

/// A warning in the log this long before the certificate expires.
const EXPIRY_WARNING_SECS: u64 = 14 * 86_400;

/// Which snapshot the front door serves: each is one more than the
/// sequence number of the last snapshot served (0: not tried yet).
#[derive(Clone)]
pub(super) struct Served {
    /// Its config (the demos it routes, their visitor rules) is live.
    pub conf: watch::Receiver<u64>,
    /// Its pages (the index, each demo's page, which says its status) are written.
    pub pages: watch::Receiver<u64>,
}

/// The pages task: each snapshot's pages written (the changed ones) as it
/// comes, beside the config's rounds, which may take a second at a
/// thousand demos. Apache serves them as they are.
async fn pages_task(
    layout: Layout,
    settings: Settings,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    served: watch::Sender<u64>,
) {
    // What each page file holds, as last written here: a thousand demos'
    // pages are compared in memory, and only the changed ones written.
    let mut written: std::collections::HashMap<String, String> = Default::default();
    loop {
        let snap = snapshots.borrow_and_update().clone();
        let demos: Vec<FrontDemo> = snap.demos.iter().map(|(n, d)| front_demo(n, d)).collect();
        let pages = frontdoor::render_pages(&settings, &demos);
        let changed: Vec<(String, String)> = pages
            .iter()
            .filter(|(file, html)| written.get(file) != Some(html))
            .cloned()
            .collect();
        match frontdoor::write_pages(&layout, &changed) {
            // Pages of demos gone are forgotten (the config's keeper removes
            // their files): one made again is written again.
            Ok(_) => written = pages.into_iter().collect(),
            Err(e) => error!(error = %e, "cannot write the front door's pages"),
        }
        served.send_replace(snap.seq + 1);
        if snapshots.changed().await.is_err() {
            break;
        }
    }
}

/// The front door's keeper: what it remembers between snapshots (the
/// per-demo part is each `FrontDemo`, what its vhost was last rendered from).
pub(super) struct FrontDoor<S> {
    sup: S,
    layout: Layout,
    cfg: Arc<Config>,
    sandbox: Arc<Sandbox>,
    settings: Settings,
    /// To the actor: how the door serves, and the readings taken.
    actor: mpsc::WeakSender<Msg>,
    served: watch::Sender<u64>,
    /// The config it last staged; None: stage at the next sync.
    staged: Option<String>,
    /// Why it last failed to serve, as logged: said once, not every tick.
    told: Option<String>,
    /// How it serves, as last told to the actor.
    info: Option<FrontDoorInfo>,
    /// Its Apache's state, as last read.
    state: Option<DemoStatus>,
    /// The certificate files as last installed or refused.
    cert_stamp: Option<Stamp>,
    /// The certificate served, once checked.
    cert: Option<CertFacts>,
    /// The expiry warning was logged for this expiry.
    expiry_warned: Option<u64>,
}

impl<S: Supervisord> FrontDoor<S> {
    /// Starts the keeper, following `snapshots`; None when the door is off.
    pub(super) fn spawn(
        sup: S,
        (layout, cfg, sandbox): (Layout, Arc<Config>, Arc<Sandbox>),
        settings: Option<Settings>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        actor: mpsc::WeakSender<Msg>,
    ) -> Option<Served> {
        let settings = settings?;
        let (served, rx) = watch::channel(0);
        let (pages_served, pages_rx) = watch::channel(0);
        tokio::spawn(pages_task(
            layout.clone(),
            settings.clone(),
            snapshots.clone(),
            pages_served,
        ));
        let door = FrontDoor {
            sup,
            layout,
            cfg,
            sandbox,
            settings,
            actor,
            served,
            staged: None,
            told: None,
            info: None,
            state: None,
            cert_stamp: None,
            cert: None,
            expiry_warned: None,
        };
        tokio::spawn(door.run(snapshots));
        Some(Served {
            conf: rx,
            pages: pages_rx,
        })
    }

    async fn run(mut self, mut snapshots: watch::Receiver<Arc<Snapshot>>) {
        let mut tick = tokio::time::interval(FRONT_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let first = snapshots.borrow_and_update().clone();
        self.sync(&first, &snapshots).await;
        loop {
            tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    // The latest only: a burst of changes is one reload.
                    let snap = snapshots.borrow_and_update().clone();
                    self.sync(&snap, &snapshots).await;
                }
                _ = tick.tick() => self.tick().await,
            }
        }
    }

    /// Tells the actor something; false once it is gone.
    async fn tell(&self, msg: Msg) {
        if let Some(tx) = self.actor.upgrade() {
            let _ = tx.send(msg).await;
        }
    }

    /// Reads its Apache's state, for itself and the table.
    async fn refresh(&mut self) {
        let taken = Instant::now();
        match self.sup.process_info(FRONT_PROGRAM).await {
            Ok(i) => {
                self.state = Some(crate::status::from_supervisor(&i.statename));
                self.tell(Msg::Observed(Observation::Processes {
                    infos: vec![i],
                    complete: false,
                    taken,
                }))
                .await;
            }
            Err(e) if e.fault_code() == Some(codes::BAD_NAME) => self.state = None,
            Err(_) => {}
        }
    }

    /// Brings the front door's config in line with the snapshot just
    /// published: a changed config put live only after Apache's config
    /// test, then a graceful reload (or a start, when it does not run). The
    /// pages are the pages task's (`pages_task`): a start or a stop never
    /// waits for a reload. Snapshots that came during a round are skipped
    /// for the latest, so a burst of changes makes one reload.
    async fn sync(&mut self, snap: &Snapshot, snapshots: &watch::Receiver<Arc<Snapshot>>) {
        let demos: Vec<FrontDemo> = snap.demos.iter().map(|(n, d)| front_demo(n, d)).collect();
        let conf = frontdoor::render_conf(&self.settings, &demos);
        let first = self.staged.is_none();
        if self.staged.as_ref() != Some(&conf) {
            let staged = match frontdoor::stage_conf(&self.layout, &self.cfg, &self.sandbox, &conf)
                .await
            {
                Ok(staged) => staged,
                Err(e) => {
                    error!(error = %e, "the front door's new config was not put live; the old one serves on");
                    Staged::Unchanged
                }
            };
            self.staged = Some(conf.clone());
            if staged == Staged::Reload || first {
                // At showroomd's start a running front door is reloaded too:
                // its main config (written at this start) may have changed.
                self.front_serve(true, Some(&conf)).await;
            }
            if staged == Staged::Reload {
                // The pages of demos gone, once no new connection reaches
                // them; those of demos made since are the latest snapshot's.
                let latest = snapshots.borrow().clone();
                let now: Vec<FrontDemo> =
                    latest.demos.iter().map(|(n, d)| front_demo(n, d)).collect();
                let keep = frontdoor::render_pages(&self.settings, &now);
                if let Err(e) = frontdoor::tidy_pages(&self.layout, &keep) {
                    warn!(error = %e, "cannot remove the front door's old pages");
                }
            }
        }
        self.served.send_replace(snap.seq + 1);
    }

    /// Every few seconds: a front door that does not run is started (its
    /// ports tried again), and a changed certificate checked and served.
    async fn tick(&mut self) {
        let reload = self.cert_watch().await;
        self.refresh().await;
        let running = matches!(self.state, Some(DemoStatus::Running | DemoStatus::Starting));
        let serving = self.info.as_ref().is_some_and(|f| f.serving);
        if reload || !running || !serving {
            self.front_serve(reload, None).await;
        }
    }

    /// Makes the front door's Apache serve the live config: a graceful
    /// reload when it runs and `reload`, a start when it does not (unless
    /// another program holds one of its ports: then it says who, and the
    /// next tick tries again). `rendered`: the config just put live, whose
    /// generation a fresh request must get before the sync answers.
    async fn front_serve(&mut self, reload: bool, conf: Option<&str>) {
        let settings = self.settings.clone();
        self.refresh().await;
        let state = self.state;
        let result = match state {
            Some(DemoStatus::Running | DemoStatus::Starting) => {
                if reload {
                    super::apache_keeper::graceful(&self.sup, &self.sandbox, FRONT_PROGRAM)
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
                if self.told.take().is_some() || state != Some(DemoStatus::Running) {
                    info!(ports = ?settings.ports(), "the front door serves");
                }
                self.set_front_door(true, String::new(), &settings.ports())
                    .await;
                if let Some(g) = conf.and_then(frontdoor::generation_of) {
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
                if self.told.as_deref() != Some(why.as_str()) {
                    error!(reason = %why, "the front door does not serve; trying again every {} s", FRONT_TICK.as_secs());
                    self.told = Some(why.clone());
                }
                self.set_front_door(false, why, &settings.ports()).await;
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
        self.refresh().await;
        r.map_err(|e| {
            let log = self.layout.frontdoor_logs().join("error.log");
            let (tail, _) = crate::tail::last_lines(&log, 3, 8 * 1024);
            format!("its Apache did not start: {e} {}", tail.trim_end())
                .trim_end()
                .to_owned()
        })
    }

    /// Tells the actor what `supervisor status` says of the front door.
    async fn set_front_door(&mut self, serving: bool, reason: String, ports: &[u16]) {
        let info = FrontDoorInfo {
            serving,
            ports: ports.to_vec(),
            reason,
            cert_names: self
                .cert
                .as_ref()
                .map(|c| c.names.clone())
                .unwrap_or_default(),
            cert_expires: self.cert.as_ref().map(|c| c.expires),
        };
        if self.info.as_ref() != Some(&info) {
            self.info = Some(info.clone());
            self.tell(Msg::FrontDoor(info)).await;
        }
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
        if self.cert_stamp.as_ref() == Some(&stamp) {
            self.expiry_warning();
            return false;
        }
        self.cert_stamp = Some(stamp);
        let domain = self.cfg.domain.clone();
        let facts = match frontdoor_tls::check(&cert, &key, &domain).await {
            Ok(f) => f,
            Err(e) => {
                error!(cert = %cert.display(), key = %key.display(), error = %e, "the front door's certificate was refused; the one served before serves on");
                return false;
            }
        };
        self.cert = Some(facts);
        self.expiry_warning();
        if let Some(f) = self.info.clone() {
            self.set_front_door(f.serving, f.reason, &f.ports).await;
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
        let Some(c) = &self.cert else {
            return;
        };
        let left = c.expires.saturating_sub(crate::store::now_secs());
        if left < EXPIRY_WARNING_SECS && self.expiry_warned != Some(c.expires) {
            warn!(expires = %frontdoor_tls::iso(c.expires), days_left = left / 86_400, "the front door's certificate expires soon: renew it (showroomd serves the new files without a restart)");
            self.expiry_warned = Some(c.expires);
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
