//! Polling until something holds or a deadline passes: supervisord answering or gone, Apache settled, ports open or silent.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The pace and the limit of one polling loop. Time is tokio's, so a test
/// under `tokio::time::pause()` does not wait.
pub struct Poll {
    t0: Instant,
    limit: Duration,
    every: Duration,
}

impl Poll {
    pub fn new(limit: Duration, every: Duration) -> Poll {
        Poll {
            t0: Instant::now(),
            limit,
            every,
        }
    }

    /// Waits for the time of the next check; false once the limit has
    /// passed (the check just made was the last).
    pub async fn next(&self) -> bool {
        if self.t0.elapsed() > self.limit {
            return false;
        }
        tokio::time::sleep(self.every).await;
        true
    }
}

/// Checks `done` every `every` until it says true (then true) or `limit`
/// has passed (then false, after one last check).
pub async fn until<F: Future<Output = bool>>(
    limit: Duration,
    every: Duration,
    mut done: impl FnMut() -> F,
) -> bool {
    let poll = Poll::new(limit, every);
    loop {
        if done().await {
            return true;
        }
        if !poll.next().await {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn stops_when_done_or_past_the_limit() {
        let n = AtomicU32::new(0);
        let ms = Duration::from_millis;
        assert!(
            until(ms(5000), ms(100), || async {
                n.fetch_add(1, Ordering::SeqCst) == 2
            })
            .await
        );
        assert_eq!(n.load(Ordering::SeqCst), 3);
        let t0 = Instant::now();
        assert!(!until(ms(1000), ms(100), || async { false }).await);
        assert!(t0.elapsed() >= ms(1000));
    }
}
