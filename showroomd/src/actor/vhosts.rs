//! The actor's side of the demos' Apache: a round of its keeper (`apache_keeper.rs`, which alone writes its config and reloads it) taken into the table, the vhosts disabled when supervisord starts afresh, and Apache's retries while it has given up.

use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, ProtocolError};
use tracing::{error, info, warn};

use super::apache_keeper::{Applied, Change};
use super::Actor;
use crate::apache::{self, ApacheError};
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::Supervisord;

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
pub(super) fn holds_no_port(state: Option<DemoStatus>) -> bool {
    matches!(
        state,
        None | Some(DemoStatus::Stopped | DemoStatus::Exited | DemoStatus::Fatal)
    )
}

impl<S: Supervisord> Actor<S> {
    /// supervisord was started afresh, with every program stopped: the
    /// demos' vhosts go too, or a link would claim a vhost no Apache serves
    /// and the next start of any demo would bring them all back at once.
    /// Through Apache's keeper, as every change of its config.
    pub(super) async fn disable_all_vhosts(&mut self) {
        let links = apache::enabled_names(&self.layout);
        if links.is_empty() {
            return;
        }
        let changes = links.iter().cloned().map(Change::Disable).collect();
        match self.apache.apply(changes).await {
            Ok(applied) => self.take_applied(&applied),
            Err(e) => warn!(error = %e.message, "disabling the vhosts of a fresh supervisord"),
        }
        warn!(
            vhosts = links.len(),
            "supervisord was started afresh with every demo stopped: their vhosts are disabled too"
        );
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

    /// Makes the running Apache serve exactly the enabled vhosts, through
    /// its keeper (one round, shared with whatever else came meanwhile);
    /// returns the vhosts it left out, with why.
    pub(super) async fn apache_apply(&mut self) -> Result<Vec<(String, String)>, ProtocolError> {
        let applied = self.apache.apply(vec![]).await;
        self.state.mark_hot(APACHE_PROGRAM, Instant::now());
        let applied = applied?;
        self.take_applied(&applied);
        Ok(applied.disabled)
    }

    /// What a round of Apache's keeper did, into the table.
    pub(super) fn take_applied(&mut self, applied: &Applied) {
        for (name, _) in &applied.disabled {
            self.state.set_enabled(name, false);
        }
        for name in &applied.removed {
            self.state.set_enabled(name, false);
        }
        if let Some(reading) = &applied.reading {
            let events = self.state.observed(reading.clone(), Instant::now());
            self.send(events);
        }
        self.state.mark_hot(APACHE_PROGRAM, Instant::now());
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
    pub(super) fn apache_retry_now(&mut self) {
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
        // The keeper's round runs beside the actor; the poller reads its outcome.
        let keeper = self.apache.clone();
        tokio::spawn(async move {
            if let Err(e) = keeper.apply(vec![]).await {
                warn!(
                    attempt = attempts,
                    next_in_secs = wait.as_secs(),
                    error = %e.message,
                    detail = e.detail.as_deref().unwrap_or(""),
                    "Apache did not start again; trying later"
                );
            }
        });
        self.state.mark_hot(APACHE_PROGRAM, Instant::now());
        self.apache_retry.next = Some(tokio::time::Instant::now() + wait);
    }

    /// The demos' Apache runs while a vhost is enabled; with none it is
    /// stopped, as the seed wants (`getProcessInfo('apache2')` STOPPED once
    /// no vhost demo is started). The front door is an Apache of its own.
    fn apache_wanted(&self) -> bool {
        !apache::enabled_names(&self.layout).is_empty()
    }
}
