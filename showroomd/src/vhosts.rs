//! The actor's side of Apache: apply the set of linked vhosts to the running Apache without ever feeding it a config it refuses.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, ProtocolError};
use tracing::{info, warn};

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
    fn apache_now(&self) -> Option<DemoStatus> {
        self.procs.get(APACHE_PROGRAM).copied()
    }

    /// Waits while Apache is STARTING: a USR1 before it has set up its
    /// signal handlers would kill it.
    async fn apache_settle(&mut self) -> Option<DemoStatus> {
        let t0 = Instant::now();
        loop {
            self.refresh(APACHE_PROGRAM).await;
            let s = self.apache_now();
            if s != Some(DemoStatus::Starting) || t0.elapsed() > Duration::from_secs(5) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes the running Apache serve exactly the linked vhosts: a graceful
    /// reload when it runs, a start when it does not, a stop when no link is
    /// left. The config test runs first, every time.
    pub(crate) async fn apache_apply(&mut self) -> Result<(), ProtocolError> {
        let links = apache::linked_names(&self.layout);
        let state = self.apache_settle().await;
        let running = matches!(state, Some(DemoStatus::Running | DemoStatus::Starting));
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
            return Ok(());
        }
        apache::config_test(&self.layout, &self.cfg, None)
            .await
            .map_err(apache_error)?;
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
                    let log = self.layout.apache_logs().join("error.log");
                    let tail = std::fs::read_to_string(&log)
                        .map(|t| {
                            t.lines()
                                .rev()
                                .take(5)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .collect::<Vec<_>>()
                                .join("\n")
                        })
                        .unwrap_or_default();
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
        Ok(())
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
