//! Watches supervisord for changes of the demos' processes: told by its events, checked often for those in motion, rarely for all.
//!
//! supervisord's own `PROCESS_STATE` events (its event listener, forwarded
//! to `event_receiver`) say which program changed: that one program is read
//! fresh (`getProcessInfo`) and handed to the actor as any reading, so a late
//! event never undoes a newer action. A `Resync` (events may have been lost)
//! is one full sweep. One `getAllProcessInfo` over 1000 programs costs
//! supervisord 0.3 to 0.7 s of CPU, so the periodic sweep is rare
//! (`sweep_secs`), the check that nothing was missed; the programs in motion
//! (starting, backing off, stopping, just started) are still asked for one
//! by one every `poll_moving_ms` when no listener runs, every second when
//! one does (the net for an event it had to drop). With nothing in
//! motion the only steady cost is a `getState`, every 30 s while the event
//! listener is connected (its connection ends with supervisord) and every
//! 2 s while it is not, whatever the number of idle demos.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::actor::{Handle, Observation};
use crate::config::Config;
use crate::event_receiver::{Hint, Receiver};
use crate::supervisor::rpc::codes;
use crate::supervisor::{ProcessInfo, Supervisord};

/// Past this many programs in motion, one full sweep is cheaper than single calls.
const MAX_SINGLE_CALLS: usize = 16;
/// With that many in motion, sweeps come no closer than this: at 1000
/// programs one sweep costs supervisord 0.3 to 0.7 s of CPU.
const CROWDED_SWEEP_GAP: Duration = Duration::from_secs(2);
/// How often supervisord is checked to be alive when nothing moves and no
/// event listener is connected.
const LIVENESS_EVERY: Duration = Duration::from_secs(2);
/// How often the programs in motion are read while the event listener is
/// connected: each change comes as an event, so this is only the net for an
/// event the listener had to drop. Each read wakes supervisord's main loop,
/// which walks every program: at 1000 programs, reading one program every
/// `poll_moving_ms` for the 5 s after a deploy cost supervisord more than the
/// deploy itself.
const HOT_WITH_LISTENER: Duration = Duration::from_secs(1);
/// The same while its event listener is connected: the listener exits with
/// supervisord (its stdin ends), and its connection's end makes the check at
/// once, so this only catches a supervisord alive but not answering. Each
/// request wakes supervisord's main loop a few times, and each wake walks
/// every program: at 1000 programs a check every 2 s is about half a percent
/// of a core, as much as supervisord's own idling.
const LIVENESS_WITH_LISTENER: Duration = Duration::from_secs(30);

/// What woke the poller.
enum Wake {
    Tick,
    Hints(Vec<Hint>),
    Stop,
}

/// The next hints, all those already waiting with the first; never when there is no receiver.
async fn next_hints(hints: &mut Option<Receiver>) -> Vec<Hint> {
    let Some(r) = hints.as_mut() else {
        return std::future::pending().await;
    };
    match r.recv().await {
        Some(first) => {
            let mut all = vec![first];
            all.extend(std::iter::from_fn(|| r.try_recv()));
            all
        }
        None => {
            // The receiver's task ended: carry on with polling alone.
            *hints = None;
            vec![Hint::Resync]
        }
    }
}

/// Reads each program fresh; supervisord gone says so, an unknown name says nothing.
async fn read_each<S: Supervisord>(
    sup: &S,
    programs: impl IntoIterator<Item = String>,
    taken: Instant,
) -> Observation {
    let mut infos: Vec<ProcessInfo> = Vec::new();
    for program in programs {
        match sup.process_info(&program).await {
            Ok(i) => infos.push(i),
            Err(e) if e.fault_code() == Some(codes::BAD_NAME) => {}
            Err(e) if e.is_unreachable() => {
                return Observation::SupervisorDown {
                    why: e.to_string(),
                    taken,
                }
            }
            Err(e) => debug!(program, error = %e, "poll failed"),
        }
    }
    Observation::Processes {
        infos,
        complete: false,
        taken,
    }
}

/// Every program's state; None when the sweep said nothing (not even that supervisord is gone).
async fn sweep<S: Supervisord>(sup: &S, taken: Instant) -> Option<Observation> {
    Observation::sweep(sup.all_process_info().await, taken)
        .inspect_err(|e| {
            // showroomd's own shortage (descriptors): the states stay as last seen.
            if e.is_own_resources() {
                warn!(error = %e, "sweep skipped");
            } else {
                debug!(error = %e, "sweep failed");
            }
        })
        .ok()
}

pub async fn run<S: Supervisord>(
    sup: S,
    handle: Handle,
    cfg: Arc<Config>,
    mut hints: Option<Receiver>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.poll_moving_ms.max(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sweep_every = Duration::from_secs(cfg.sweep_secs.max(1));
    let mut last_liveness = Instant::now();
    let mut last_hot = Instant::now();
    // A listener's connection ended: check supervisord at the next tick.
    let mut check_now = false;
    let mut last_sweep = Instant::now();
    loop {
        let wake = tokio::select! {
            _ = tick.tick() => Wake::Tick,
            h = next_hints(&mut hints) => Wake::Hints(h),
            _ = stop.cancelled() => Wake::Stop,
        };
        let now = Instant::now();
        let obs = match wake {
            Wake::Stop => return,
            Wake::Hints(h) => {
                let mut programs: Vec<String> = Vec::new();
                let mut resync = false;
                for hint in h {
                    match hint {
                        Hint::Process(e) => {
                            let name = e.rpc_name();
                            if !programs.contains(&name) {
                                programs.push(name);
                            }
                        }
                        Hint::Resync => resync = true,
                        Hint::ListenerLeft => check_now = true,
                    }
                }
                if programs.is_empty() && !resync {
                    continue;
                }
                if resync || programs.len() > MAX_SINGLE_CALLS {
                    last_sweep = now;
                    let Some(o) = sweep(&sup, now).await else {
                        continue;
                    };
                    o
                } else {
                    read_each(&sup, programs, now).await
                }
            }
            Wake::Tick => {
                let snap = handle.snapshot();
                let crowded = snap.hot.len() > MAX_SINGLE_CALLS;
                if crowded && now < last_sweep + CROWDED_SWEEP_GAP {
                    // Too many in motion to ask one by one, and a sweep was just made.
                    continue;
                }
                let listened = hints.as_ref().is_some_and(|r| r.listeners() > 0);
                let every = if listened && snap.supervisor_up {
                    LIVENESS_WITH_LISTENER
                } else {
                    LIVENESS_EVERY
                };
                let liveness_due = check_now || now >= last_liveness + every;
                let sweep_now = now >= last_sweep + sweep_every
                    || (!snap.supervisor_up && liveness_due)
                    || crowded;
                if sweep_now {
                    last_sweep = now;
                    last_liveness = now;
                    check_now = false;
                    let Some(o) = sweep(&sup, now).await else {
                        continue;
                    };
                    o
                } else if !snap.hot.is_empty() && (!listened || now >= last_hot + HOT_WITH_LISTENER)
                {
                    last_hot = now;
                    read_each(&sup, snap.hot.iter().cloned(), now).await
                } else if liveness_due {
                    last_liveness = now;
                    check_now = false;
                    // supervisord is up here (while it is down, a due
                    // check is a sweep, above, which says what it runs).
                    match sup.state().await {
                        Ok(_) => continue,
                        Err(e) if e.is_unreachable() => Observation::SupervisorDown {
                            why: e.to_string(),
                            taken: now,
                        },
                        Err(_) => continue,
                    }
                } else {
                    continue;
                }
            }
        };
        if !handle.observe(obs).await {
            return;
        }
    }
}
