//! The one place Apache's config is applied: the running Apache made to serve exactly the enabled vhosts, never fed a config it refuses.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, ProtocolError};
use tracing::{error, info, warn};

use super::{sup_error, Actor};
use crate::apache::{self, ApacheError};
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::codes;
use crate::supervisor::{ok_if, Supervisord};
use crate::tail;

pub(super) fn apache_error(e: ApacheError) -> ProtocolError {
    match e {
        ApacheError::Rejected(msg) => {
            ProtocolError::new(ErrorKind::ApacheConfig, "Apache refused the virtual host")
                .with_detail(msg)
        }
        other => ProtocolError::new(ErrorKind::Internal, other.to_string()),
    }
}

/// Apache's restarts while it has given up (FATAL) and vhosts are wanted:
/// the first after 2 s, then twice as long each time, at most 30 s apart, so
/// that Apache runs again within a minute of its cause going (a full disk).
const APACHE_RETRY_FIRST: Duration = Duration::from_secs(2);
const APACHE_RETRY_MAX: Duration = Duration::from_secs(30);

/// Where the retries of Apache stand.
#[derive(Debug, Default)]
pub(super) struct ApacheRetry {
    /// When the next one is due; None: none is (Apache runs or is not wanted).
    next: Option<tokio::time::Instant>,
    /// Tries since Apache was last seen failing.
    attempts: u32,
}

/// Apache is down for good or was never started: it holds no port.
fn holds_no_port(state: Option<DemoStatus>) -> bool {
    matches!(
        state,
        None | Some(DemoStatus::Stopped | DemoStatus::Exited | DemoStatus::Fatal)
    )
}

impl<S: Supervisord> Actor<S> {
    /// Removes a demo's link and says so in the state table.
    pub(super) fn disable_vhost(&mut self, name: &str) -> Result<bool, ProtocolError> {
        let removed = apache::remove_copy(&self.layout, name).map_err(apache_error)?;
        self.state.set_enabled(name, false);
        Ok(removed)
    }

    /// supervisord was started afresh, with every program stopped: the
    /// demos' vhosts go too, or a link would claim a vhost no Apache serves
    /// and the next start of any demo would bring them all back at once.
    pub(super) fn disable_all_vhosts(&mut self) {
        let links = apache::enabled_names(&self.layout);
        for name in &links {
            if apache::disable(&self.layout, name) {
                self.state.set_enabled(name, false);
            }
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
    pub(super) async fn apache_reconcile(&mut self) {
        let links = apache::enabled_names(&self.layout);
        self.refresh(APACHE_PROGRAM).await;
        if links.is_empty() && holds_no_port(self.state.apache()) {
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

    /// Makes the running Apache serve exactly the linked vhosts: a graceful
    /// reload when it runs, a start when it does not, a stop when no link is
    /// left. The config test runs first, every time; vhosts that would take
    /// the others down are disabled first, and returned with the reason.
    pub(super) async fn apache_apply(&mut self) -> Result<Vec<(String, String)>, ProtocolError> {
        let state = self.apache_settle().await;
        let mut disabled = Vec::new();
        // Only an Apache that holds no port leaves a taken one to another program.
        if holds_no_port(state) {
            disabled.extend(apache::prune_taken_ports(&self.layout));
        }
        let mut tested = false;
        if !apache::enabled_names(&self.layout).is_empty() {
            tested = apache::config_test(&self.layout, &self.cfg, &self.sandbox, None)
                .await
                .is_ok();
            if !tested {
                disabled
                    .extend(apache::prune_rejected(&self.layout, &self.cfg, &self.sandbox).await);
            }
        }
        for (name, _) in &disabled {
            self.state.set_enabled(name, false);
        }
        self.apache_serve(state, tested).await?;
        Ok(disabled)
    }

    /// An Apache's graceful reload (SIGUSR1 to its master; `program`: the
    /// demos' or the front door's). In the sandbox, supervisord's pid is
    /// bwrap's, which does not forward signals and dies of USR1: the signal
    /// goes to Apache, PID 1 of the sandbox, directly.
    pub(super) async fn apache_graceful(&mut self, program: &str) -> Result<(), ProtocolError> {
        if !self.sandbox.enabled {
            return self
                .sup
                .signal_process(program, "USR1")
                .await
                .map_err(sup_error);
        }
        let bwrap = self.sup.process_info(program).await.map_err(sup_error)?.pid;
        let master = i32::try_from(bwrap)
            .ok()
            .and_then(crate::sandbox::main_pid)
            .ok_or_else(|| {
                ProtocolError::new(
                    ErrorKind::Internal,
                    format!("cannot find Apache's master in its sandbox (bwrap pid {bwrap})"),
                )
            })?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(master),
            nix::sys::signal::Signal::SIGUSR1,
        )
        .map_err(|e| {
            ProtocolError::new(
                ErrorKind::Internal,
                format!("signalling Apache's master (pid {master}) to reload: {e}"),
            )
        })
    }

    /// Stops, reloads or starts Apache for the links now in place.
    async fn apache_serve(
        &mut self,
        state: Option<DemoStatus>,
        tested: bool,
    ) -> Result<(), ProtocolError> {
        let running = matches!(state, Some(DemoStatus::Running | DemoStatus::Starting));
        let links = apache::enabled_names(&self.layout);
        if !self.apache_wanted() {
            if running || state == Some(DemoStatus::Backoff) {
                ok_if(
                    self.sup.stop_process(APACHE_PROGRAM).await,
                    &[codes::NOT_RUNNING],
                )
                .map_err(sup_error)?;
                info!("Apache stopped: no vhost is enabled");
            }
            self.refresh(APACHE_PROGRAM).await;
            return Ok(());
        }
        if !tested {
            apache::config_test(&self.layout, &self.cfg, &self.sandbox, None)
                .await
                .map_err(apache_error)?;
        }
        if state == Some(DemoStatus::Running) {
            self.apache_graceful(APACHE_PROGRAM).await?;
            info!(vhosts = links.len(), "Apache reloaded gracefully");
        } else {
            apache::remove_stale_pid_files(&self.layout);
            match self.sup.start_process(APACHE_PROGRAM).await {
                Ok(()) => info!(vhosts = links.len(), "Apache started"),
                Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => {}
                Err(e) => {
                    self.state.mark_hot(APACHE_PROGRAM, Instant::now());
                    self.refresh(APACHE_PROGRAM).await;
                    let log = self.layout.apache_logs().join("error.log");
                    let (tail, _) = tail::last_lines(&log, 5, 16 * 1024);
                    warn!(error = %e, "Apache did not start");
                    return Err(ProtocolError::new(
                        ErrorKind::ApacheConfig,
                        "Apache could not start",
                    )
                    .with_detail(format!("{e}\n{}", tail.trim_end())));
                }
            }
        }
        self.state.mark_hot(APACHE_PROGRAM, Instant::now());
        self.refresh(APACHE_PROGRAM).await;
        Ok(())
    }
}

impl<S: Supervisord> Actor<S> {
    /// When Apache is to be started again: supervisord gave up on it (FATAL,
    /// or EXITED) while some vhost or the front door wants it. None while
    /// supervisord itself retries it (BACKOFF, STARTING); once it runs, or
    /// nothing wants it, the count starts again.
    pub(super) fn apache_retry_wake(&mut self) -> Option<tokio::time::Instant> {
        let state = self.state.apache();
        if state == Some(DemoStatus::Running) || !self.apache_wanted() {
            if self.apache_retry.attempts > 0 {
                let how = if state == Some(DemoStatus::Running) {
                    "Apache runs again"
                } else {
                    "Apache is no longer needed: no more tries"
                };
                info!(attempts = self.apache_retry.attempts, "{how}");
            }
            self.apache_retry = ApacheRetry::default();
            return None;
        }
        if !matches!(state, Some(DemoStatus::Fatal | DemoStatus::Exited)) {
            return None;
        }
        Some(
            *self
                .apache_retry
                .next
                .get_or_insert_with(|| tokio::time::Instant::now() + APACHE_RETRY_FIRST),
        )
    }

    /// Starts Apache again (the same apply as any change: config test, the
    /// vhosts it refuses or whose port is taken left out), and says so.
    pub(super) async fn apache_retry_now(&mut self) {
        self.apache_retry.attempts += 1;
        let attempts = self.apache_retry.attempts;
        let wait = APACHE_RETRY_FIRST
            .saturating_mul(1 << attempts.min(8))
            .min(APACHE_RETRY_MAX);
        warn!(
            attempt = attempts,
            "Apache is {} while vhosts need it: starting it again",
            self.state.apache().map_or("gone".into(), |s| s.to_string())
        );
        if let Err(e) = self.apache_apply().await {
            warn!(
                attempt = attempts,
                next_in_secs = wait.as_secs(),
                error = %e.message,
                detail = e.detail.as_deref().unwrap_or(""),
                "Apache did not start again; trying later"
            );
        }
        self.apache_retry.next = Some(tokio::time::Instant::now() + wait);
    }

    /// The demos' Apache runs while a vhost is enabled; with none it is
    /// stopped, as the seed wants (`getProcessInfo('apache2')` STOPPED once
    /// no vhost demo is started). The front door is an Apache of its own.
    fn apache_wanted(&self) -> bool {
        !apache::enabled_names(&self.layout).is_empty()
    }
}
