//! The actor's side of Apache: apply the set of linked vhosts to the running Apache without ever feeding it a config it refuses.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, ProtocolError};
use tracing::{error, info, warn};

use crate::actor::{ok_if, sup_error, Actor};
use crate::apache::{self, ApacheError};
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::codes;

pub(crate) fn apache_error(e: ApacheError) -> ProtocolError {
    match e {
        ApacheError::Rejected(msg) => {
            ProtocolError::new(ErrorKind::ApacheConfig, "Apache refused the virtual host")
                .with_detail(msg)
        }
        other => ProtocolError::new(ErrorKind::Internal, other.to_string()),
    }
}

impl Actor {
    /// Waits while Apache is STARTING: a USR1 before it has set up its
    /// signal handlers would kill it.
    pub(crate) async fn apache_settle(&mut self) -> Option<DemoStatus> {
        let t0 = Instant::now();
        loop {
            self.refresh(APACHE_PROGRAM).await;
            let s = self.apache_state();
            if s != Some(DemoStatus::Starting) || t0.elapsed() > Duration::from_secs(5) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// supervisord was started afresh, with every program stopped: the
    /// demos' vhosts go too, or a link would claim a vhost no Apache serves
    /// and the next start of any demo would bring them all back at once.
    pub(crate) fn disable_all_vhosts(&mut self) {
        let links = apache::linked_names(&self.layout);
        for name in &links {
            self.disable_vhost(name);
        }
        if !links.is_empty() {
            warn!(
                vhosts = links.len(),
                "supervisord was started afresh with every demo stopped: their vhosts are disabled too"
            );
        }
    }

    /// Brings the running Apache in line with the links, as a crash between
    /// a link change and its reload may have left them apart.
    pub(crate) async fn apache_reconcile(&mut self) {
        let links = apache::linked_names(&self.layout);
        self.refresh(APACHE_PROGRAM).await;
        if links.is_empty() && holds_no_port(self.apache_state()) {
            return;
        }
        match self.apache_apply().await {
            Ok(_) => info!(
                vhosts = links.len(),
                "Apache brought in line with the enabled vhosts"
            ),
            Err(e) => error!(
                error = %e.message,
                detail = e.detail.as_deref().unwrap_or(""),
                "Apache could not be brought in line with the enabled vhosts"
            ),
        }
    }

    /// Removes a demo's link; false (logged) when that failed.
    fn disable_vhost(&mut self, name: &str) -> bool {
        if let Err(e) = apache::unlink(&self.layout, name) {
            warn!(demo = %name, error = %e, "cannot disable a vhost");
            return false;
        }
        if let Some(d) = self.demos.get_mut(name) {
            d.linked = false;
        }
        true
    }

    /// Disables a linked vhost Apache cannot serve, so that it never takes
    /// the others down with it.
    fn prune(&mut self, name: &str, why: String, pruned: &mut Vec<(String, String)>) {
        if self.disable_vhost(name) {
            warn!(demo = %name, reason = %why, "disabled a vhost Apache cannot serve; the others go on");
            pruned.push((name.to_owned(), why));
        }
    }

    /// With Apache holding no port: disables the linked vhosts whose port
    /// another program holds, as Apache's start would fail on them.
    fn prune_taken_ports(&mut self, pruned: &mut Vec<(String, String)>) {
        for name in apache::linked_names(&self.layout) {
            let ports = apache::listen_ports(&self.layout.vhost(&name));
            if let Some((p, _)) = apache::taken_port(&ports) {
                let why = format!("port {p} of its virtual host is taken by another program");
                self.prune(&name, why, pruned);
            }
        }
    }

    /// The live config test failed: disables the linked vhosts Apache
    /// refuses on their own (a demo may have rewritten its file since).
    async fn prune_rejected(&mut self, pruned: &mut Vec<(String, String)>) {
        for name in apache::linked_names(&self.layout) {
            let vhost = self.layout.vhost(&name);
            if let Err(ApacheError::Rejected(msg)) =
                apache::config_test_alone(&self.layout, &self.cfg, &vhost).await
            {
                self.prune(&name, msg, pruned);
            }
        }
    }

    /// Makes the running Apache serve exactly the linked vhosts: a graceful
    /// reload when it runs, a start when it does not, a stop when no link is
    /// left. The config test runs first, every time; vhosts that would take
    /// the others down are disabled first, and returned with the reason.
    pub(crate) async fn apache_apply(&mut self) -> Result<Vec<(String, String)>, ProtocolError> {
        let state = self.apache_settle().await;
        let running = matches!(state, Some(DemoStatus::Running | DemoStatus::Starting));
        let mut pruned = Vec::new();
        // Only an Apache that holds no port leaves a taken one to another program.
        if holds_no_port(state) {
            self.prune_taken_ports(&mut pruned);
        }
        let mut tested = false;
        if !apache::linked_names(&self.layout).is_empty() {
            let live = apache::config_test(&self.layout, &self.cfg, None).await;
            tested = live.is_ok();
            if live.is_err() {
                self.prune_rejected(&mut pruned).await;
            }
        }
        let links = apache::linked_names(&self.layout);
        if links.is_empty() {
            if running || state == Some(DemoStatus::Backoff) {
                ok_if(
                    self.sup.stop_process(APACHE_PROGRAM, true).await,
                    codes::NOT_RUNNING,
                )
                .map_err(sup_error)?;
                info!("Apache stopped: no vhost is enabled");
            }
            self.refresh(APACHE_PROGRAM).await;
            return Ok(pruned);
        }
        if !tested {
            apache::config_test(&self.layout, &self.cfg, None)
                .await
                .map_err(apache_error)?;
        }
        if state == Some(DemoStatus::Running) {
            self.sup
                .signal_process(APACHE_PROGRAM, "USR1")
                .await
                .map_err(sup_error)?;
            info!(vhosts = links.len(), "Apache reloaded gracefully");
        } else {
            match self.sup.start_process(APACHE_PROGRAM, true).await {
                Ok(()) => info!(vhosts = links.len(), "Apache started"),
                Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => {}
                Err(e) => {
                    self.mark_hot(APACHE_PROGRAM);
                    self.refresh(APACHE_PROGRAM).await;
                    let tail = last_lines(&self.layout.apache_logs().join("error.log"), 5);
                    warn!(error = %e, "Apache did not start");
                    return Err(ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        "Apache could not start",
                    )
                    .with_detail(format!("{e}\n{tail}")));
                }
            }
        }
        self.mark_hot(APACHE_PROGRAM);
        self.refresh(APACHE_PROGRAM).await;
        Ok(pruned)
    }
}

/// Waits until something accepts connections on each port (`up`), or until
/// nothing does (`!up`); false if that did not happen in time.
pub(crate) async fn wait_ports(ports: &[u16], up: bool, limit: Duration) -> bool {
    let t0 = Instant::now();
    loop {
        let mut all = true;
        for p in ports {
            let answers = tokio::net::TcpStream::connect(("127.0.0.1", *p))
                .await
                .is_ok();
            if answers != up {
                all = false;
                break;
            }
        }
        if all {
            return true;
        }
        if t0.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Apache is down for good or was never started: it holds no port.
fn holds_no_port(state: Option<DemoStatus>) -> bool {
    matches!(
        state,
        None | Some(DemoStatus::Stopped | DemoStatus::Exited | DemoStatus::Fatal)
    )
}

/// The last `n` lines of a log that is never rotated: only its end is read.
fn last_lines(path: &std::path::Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
