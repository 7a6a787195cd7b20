//! The expiry timer: the actor sleeps until the earliest demo's time is up (a minute at most, so a clock change or a suspend is caught soon), then stops or destroys it as `expire_action` says.

use std::time::Duration;

use protocol::{EventKind, ProtocolError, Wanted};
use tracing::{info, warn};

use super::state::Op;
use super::work::AfterStop;
use super::Actor;
use crate::config::ExpireAction;
use crate::supervisor::Supervisord;

/// The longest the timer sleeps: expiry is on wall-clock time, which tokio's
/// monotonic sleep does not follow across a suspend or a clock change.
const AT_MOST: Duration = Duration::from_secs(60);
/// How long a failed expiry waits before it is tried again.
const RETRY_SECS: u64 = 60;
/// How many expiries run at once: one, so that supervisord (one process,
/// serving every call in turn) has at most one expiry's stop ahead of an
/// operator's request (at 1,000 demos a `stop` during 50 expiries took
/// 155–355 ms four at a time, 109–188 ms one at a time).
const EXPIRY_JOBS: usize = 1;

/// How long past its time an expiry lets requests' work go first: a
/// steady stream of starts must not keep a demo up for ever.
const YIELD_SECS: u64 = 60;

/// Sleeps until `wake`, or for ever without one.
pub(super) async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<S: Supervisord> Actor<S> {
    /// When the timer should next look, None when no demo expires.
    pub(super) fn expiry_wake(&self) -> Option<tokio::time::Instant> {
        // As many as may run are running: the end of one wakes the loop.
        if self.state.count_ops(Op::Expiring) >= EXPIRY_JOBS {
            return None;
        }
        let now = (self.clock)();
        let (due, next) = self.state.expiries(now, &self.expiry_retry);
        let wait = if due.is_empty() {
            Duration::from_secs(next?.saturating_sub(now)).min(AT_MOST)
        } else if self.expiries_yield(&due, now) {
            // Looked at again when that work ends (any message turns the
            // loop), and each second for YIELD_SECS.
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        };
        Some(tokio::time::Instant::now() + wait)
    }

    /// Begins the stop or destroy of every demo whose time is up, chosen
    /// from the table as it is now (so still due, and as changed since);
    /// each one's I/O runs beside the actor, so a request waiting in the
    /// inbox waits for none of them. One in flight already (its start) is
    /// looked at again in a second; one that cannot be ended (supervisord
    /// is down…) is tried again a minute later.
    pub(super) fn expire_due(&mut self) {
        let now = (self.clock)();
        let (due, _) = self.state.expiries(now, &self.expiry_retry);
        // A demo with an operation under way is not due (`State::expiries`):
        // it is looked at again once that ends. EXPIRY_JOBS at a time: fifty
        // due together would be fifty stops at once in supervisord, ahead
        // of any operator's request; the rest begin as these end.
        if self.expiries_yield(&due, now) {
            return;
        }
        let running = self.state.count_ops(Op::Expiring);
        for name in due.into_iter().take(EXPIRY_JOBS.saturating_sub(running)) {
            self.expire_one(name, now);
        }
        self.publish();
    }

    /// Whether the due expiries wait: a request's work (a start, a stop…)
    /// is under way, and none of them is YIELD_SECS late. supervisord
    /// serves calls in turn: an expiry begun beside an operator's stop puts
    /// its calls between the stop's.
    fn expiries_yield(&self, due: &[String], now: u64) -> bool {
        let earliest = due
            .iter()
            .filter_map(|n| self.state.demos.get(n)?.record.expires_at)
            .min();
        self.state.requests_in_flight()
            && earliest.is_some_and(|at| now.saturating_sub(at) < YIELD_SECS)
    }

    fn expire_one(&mut self, name: String, now: u64) {
        let destroy = self.cfg.expire_action == ExpireAction::Destroy;
        let mut was = None;
        if !destroy {
            // Wanted stopped and its time cleared first: a fresh
            // supervisord meanwhile must not bring it back, and no
            // snapshot shows it stopped with its expiry still set.
            self.set_wanted(&name, Wanted::Stopped);
            was = self
                .state
                .demos
                .get(&name)
                .and_then(|d| d.record.expires_at);
            if let Err(e) = self.update_record(&name, |r| r.expires_at = None) {
                return self.expire_end(&name, destroy, now, was, Err(e));
            }
        }
        self.stop_begin(name, AfterStop::Expire { destroy, now, was });
    }

    /// An expiry's stop or destroy ended.
    pub(super) fn expire_end(
        &mut self,
        name: &str,
        destroy: bool,
        now: u64,
        was: Option<u64>,
        result: Result<(), ProtocolError>,
    ) {
        let done = if destroy { "destroyed" } else { "stopped" };
        match result {
            Ok(()) => {
                self.expiry_retry.remove(name);
                info!(demo = %name, action = done, "expired: its time was up");
                self.emit(Some(name), EventKind::Expired, done);
            }
            Err(e) => {
                if !destroy {
                    // Kept due, so that the retry finds it.
                    let kept = self.update_record(name, |r| r.expires_at = was);
                    super::warn_failed(
                        kept.map_err(|e| e.message),
                        name,
                        "keeping its expiry for the retry",
                    );
                }
                warn!(
                    demo = %name,
                    error = %e.message,
                    detail = e.detail.as_deref().unwrap_or(""),
                    "its time is up but it could not be {done}; trying again in a minute"
                );
                self.expiry_retry.insert(name.to_owned(), now + RETRY_SECS);
            }
        }
    }
}
