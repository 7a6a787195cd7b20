//! Watches supervisord for changes of the demos' processes: often for those in motion, rarely for all.
//!
//! One `getAllProcessInfo` over 1000 programs costs supervisord 0.3 to 0.7 s
//! of CPU, so the full sweep is rare (`sweep_secs`); the programs in motion
//! (starting, backing off, stopping, just started) are asked for one by one
//! every `poll_moving_ms`. With nothing in motion the only steady cost is a
//! `getState` every few seconds, whatever the number of idle demos.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::actor::{Handle, Observation};
use crate::config::Config;
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisor;

/// Past this many programs in motion, one full sweep is cheaper than single calls.
const MAX_SINGLE_CALLS: usize = 16;
/// With that many in motion, sweeps come no closer than this: at 1000
/// programs one sweep costs supervisord 0.3 to 0.7 s of CPU.
const CROWDED_SWEEP_GAP: Duration = Duration::from_secs(2);
/// How often supervisord is checked to be alive when nothing moves.
const LIVENESS_EVERY: Duration = Duration::from_secs(2);

pub async fn run(sup: Supervisor, handle: Handle, cfg: Arc<Config>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.poll_moving_ms.max(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sweep_every = Duration::from_secs(cfg.sweep_secs.max(1));
    let mut next_sweep = Instant::now() + sweep_every;
    let mut next_liveness = Instant::now() + LIVENESS_EVERY;
    let mut last_sweep = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let snap = handle.snapshot();
        let now = Instant::now();
        let taken = now;
        let crowded = snap.hot.len() > MAX_SINGLE_CALLS;
        if crowded && now < last_sweep + CROWDED_SWEEP_GAP {
            // Too many in motion to ask one by one, and a sweep was just made.
            continue;
        }
        let sweep = now >= next_sweep || (!snap.supervisor_up && now >= next_liveness) || crowded;
        let obs = if sweep {
            last_sweep = now;
            next_sweep = now + sweep_every;
            next_liveness = now + LIVENESS_EVERY;
            match Observation::sweep(sup.all_process_info().await, taken) {
                Ok(o) => o,
                // showroomd's own shortage (descriptors): the states stay as last seen.
                Err(e) if e.is_own_resources() => {
                    warn!(error = %e, "sweep skipped");
                    continue;
                }
                Err(e) => {
                    debug!(error = %e, "sweep failed");
                    continue;
                }
            }
        } else if !snap.hot.is_empty() {
            let mut infos = Vec::with_capacity(snap.hot.len());
            let mut down = None;
            for program in &snap.hot {
                match sup.process_info(program).await {
                    Ok(i) => infos.push(i),
                    Err(e) if e.fault_code() == Some(codes::BAD_NAME) => {}
                    Err(e) if e.is_unreachable() => {
                        down = Some(e.to_string());
                        break;
                    }
                    Err(e) => debug!(program, error = %e, "poll failed"),
                }
            }
            match down {
                Some(why) => Observation::SupervisorDown { why, taken },
                None => Observation::Processes {
                    infos,
                    complete: false,
                    taken,
                },
            }
        } else if now >= next_liveness {
            next_liveness = now + LIVENESS_EVERY;
            match sup.state().await {
                Ok(_) if snap.supervisor_up => continue,
                // It came back: a full sweep says what it now runs.
                Ok(_) => {
                    next_sweep = now;
                    continue;
                }
                Err(e) if e.is_unreachable() => Observation::SupervisorDown {
                    why: e.to_string(),
                    taken,
                },
                Err(_) => continue,
            }
        } else {
            continue;
        };
        if !handle.observe(obs).await {
            return;
        }
    }
}
