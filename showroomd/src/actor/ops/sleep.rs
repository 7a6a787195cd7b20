//! `sleep-after NAME DURATION|never`, the demos idle past their time put to sleep (each tick), and a sleeping demo woken for the front door.

use protocol::{DemoStatus, ErrorKind, ProtocolError, Response, Wanted};
use tracing::{info, warn};

use crate::actor::state::Op;
use crate::actor::work::{AfterStart, AfterStop, Worked};
use crate::actor::{Actor, Msg, Reply};
use crate::sleep;
use crate::store::Phase;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn set_sleep_after(
        &mut self,
        name: &str,
        after_secs: Option<u64>,
    ) -> Result<Response, ProtocolError> {
        self.state.installed(name)?;
        self.update_record(name, |r| r.sleep.after_secs = after_secs)?;
        // Its idle time counts from now, not from a request long ago.
        self.awake_since.insert(name.to_owned(), (self.clock)());
        match after_secs {
            Some(s) => info!(demo = name, sleep_after_secs = s, "idle time set"),
            None => info!(demo = name, "idle time removed: it never sleeps"),
        }
        self.publish();
        Ok(Response::Done)
    }

    /// A start (or a wake) makes the demo awake, its idle time counted from now.
    pub(in crate::actor) fn note_awake(&mut self, name: &str) {
        let Some(demo) = self.state.demos.get(name) else {
            // No such demo: the start says so, and nothing is kept for the name.
            return;
        };
        if demo.record.sleep.asleep {
            if let Err(e) = self.update_record(name, |r| r.sleep.asleep = false) {
                warn!(demo = name, error = %e.message, "could not record that it is awake");
            }
        }
        self.awake_since.insert(name.to_owned(), (self.clock)());
    }

    /// Wakes a sleeping demo for the front door: a start, answered as a
    /// start is (its reason when it fails). It stays marked asleep, so the
    /// front door keeps holding its requests in the waker, until the waker
    /// says its port answers (`woken`). A demo already starting or running
    /// is left alone, so that requests that come after its wake start nothing.
    pub(in crate::actor) fn wake_begin(&mut self, name: String, reply: Reply<Response>) {
        let demo = match self.state.installed(&name) {
            Ok(d) => d,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let awake = matches!(demo.status, DemoStatus::Running | DemoStatus::Starting);
        if awake || !(demo.record.sleep.asleep && demo.record.wanted == Wanted::Running) {
            // Woken already (a request that came during its wake), or
            // stopped meanwhile: the front door's map has yet to follow.
            let _ = reply.send(if awake {
                Ok(Response::Done)
            } else {
                Err(ProtocolError::new(
                    ErrorKind::InvalidRequest,
                    format!("demo {name} is {}, not asleep", demo.status),
                ))
            });
            return;
        }
        info!(demo = %name, "woken by a request through the front door");
        self.start_begin(name, AfterStart::Reply(reply));
    }

    /// The waker's wake is over (its port answers, or it failed): awake, its
    /// idle time from now; the front door then sends its requests to its
    /// port, and a failed one is shown as any failed start.
    pub(in crate::actor) fn woken(&mut self, name: &str) -> Result<Response, ProtocolError> {
        self.note_awake(name);
        self.publish();
        Ok(Response::Done)
    }

    /// Puts to sleep each running demo that went its idle time without a
    /// request through the front door and has no connection open to its
    /// port. Called at each tick of the actor's loop; reads no demo, only
    /// the front door's traces (the access log's time, `/proc/net/tcp`).
    /// Each one's stop runs beside the actor, once the front door sends it
    /// to the waker (`asleep` ends it).
    pub(in crate::actor) fn sleep_idle(&mut self) {
        let now = (self.clock)();
        let candidates: Vec<(String, u16, u64)> = self
            .state
            .demos
            .iter()
            .filter(|(n, d)| {
                d.record.phase == Phase::Installed
                    && d.record.wanted == Wanted::Running
                    && !d.record.sleep.asleep
                    && d.status == DemoStatus::Running
                    && self.state.op(n).is_none()
            })
            .filter_map(|(n, d)| Some((n.clone(), d.record.port?, d.record.sleep.after_secs?)))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let open = sleep::established_ports();
        let mut due = Vec::new();
        for (name, port, after) in candidates {
            if open.contains(&port) {
                self.awake_since.insert(name, now);
                continue;
            }
            let since = *self.awake_since.entry(name.clone()).or_insert(now);
            let last = sleep::last_request(&self.layout.access_log(&name))
                .unwrap_or(0)
                .max(since);
            if sleep::is_due(after, last, now) {
                // Noted before the stop: a crash in between leaves a demo the
                // front door wakes, never one stopped that a restore would
                // not bring back.
                match self.update_record(&name, |r| r.sleep.asleep = true) {
                    Ok(_) => due.push((name, now - last)),
                    Err(e) => {
                        warn!(demo = %name, error = %e.message, "could not record its sleep; it stays awake")
                    }
                }
            }
        }
        if due.is_empty() {
            return;
        }
        // The front door sends them to the waker first (its config with
        // them asleep is live), then their processes go: no visitor meets
        // a demo stopping under it.
        self.publish();
        let seq = self.snapshot_tx.borrow().seq;
        let served = self.front_served.as_ref().map(|s| s.conf.clone());
        for (name, idle) in due {
            let Some(demo) = self.state.demos.get(&name) else {
                continue;
            };
            let (has_process, stale) = (demo.has_process, self.state.is_stale(&name));
            let ports = demo.record.ports();
            let work = self.work();
            let served = served.clone();
            self.spawn_work(&name.clone(), Op::Stopping, async move {
                if let Some(mut served) = served {
                    let sent = served.wait_for(|s| *s > seq);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sent).await;
                }
                let (result, done) = work.stop(&name, has_process, stale, false).await;
                // Its forwarder (pasta) ends a moment after the demo: asleep
                // means nothing holds its ports, and its wake's start finds
                // them free.
                if result.is_ok()
                    && !crate::apache::wait_ports(&ports, false, std::time::Duration::from_secs(5))
                        .await
                {
                    warn!(
                        demo = name,
                        ?ports,
                        "its ports still answer 5 s after it was put to sleep"
                    );
                }
                Msg::Worked(Worked::Stopped {
                    name,
                    result,
                    done,
                    then: AfterStop::Sleep { idle },
                })
            });
        }
    }

    /// A demo's stop for its sleep ended.
    pub(in crate::actor) fn asleep(
        &mut self,
        name: &str,
        idle: u64,
        result: Result<(), ProtocolError>,
    ) {
        match result {
            Ok(()) => {
                info!(
                    demo = name,
                    idle_secs = idle,
                    "asleep: no request for its idle time"
                );
                self.awake_since.remove(name);
            }
            Err(e) => {
                warn!(demo = name, error = %e.message, "could not put it to sleep; tried again later");
                let undone = self.update_record(name, |r| r.sleep.asleep = false);
                super::super::warn_failed(
                    undone.map_err(|e| e.message),
                    name,
                    "marking it awake again",
                );
                self.awake_since.insert(name.to_owned(), (self.clock)());
            }
        }
        self.publish();
    }
}
