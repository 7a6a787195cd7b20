//! `start NAME`: decided in the actor; the vhost's config test, the process and its wait, then the vhost made live, beside it (`Work::start`); each failure undoes what came before.

use std::time::Instant;

use protocol::{DemoStatus, ErrorKind, EventKind, ProtocolError, Response};
use tracing::{debug, info, warn};

use crate::actor::state::Op;
use crate::actor::work::{AfterStart, StartDone, StartPlan, Worked};
use crate::actor::{sup_error, Actor, Msg};
use crate::apache;
use crate::apache_policy::{self, Policy};
use crate::supervisor::rpc::codes;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// `start` from a client (or a restart's second half): decided here,
    /// its I/O beside the actor (`Work::start`); the demo is in flight until
    /// `Worked::Started` comes back, and requests naming it wait for that,
    /// in order (`Actor::hold`).
    pub(in crate::actor) fn start_begin(&mut self, name: String, then: AfterStart) {
        let plan = match self.start_decide(&name) {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => {
                let result = self.start_end(&name, Err(e));
                return self.start_answer(&name, then, result);
            }
            Err(e) => return self.start_answer(&name, then, Err(e)),
        };
        let work = self.work();
        self.spawn_work(&name.clone(), Op::Starting, async move {
            let (result, done) = work.start(&name, plan).await;
            Msg::Worked(Worked::Started {
                name,
                result,
                done,
                then,
            })
        });
    }

    /// `start`, awaited inside the actor: for the starts the actor makes
    /// itself (a clone's source running again, a redeploy's new folder).
    pub(in crate::actor) async fn start_demo(
        &mut self,
        name: &str,
    ) -> Result<Response, ProtocolError> {
        let plan = match self.start_decide(name)? {
            Ok(plan) => plan,
            Err(e) => return self.start_end(name, Err(e)),
        };
        let (result, done) = self.work().start(name, plan).await;
        self.start_done(name, result, done)
    }

    /// A start's work came back: its end, the answer, the demo's waiting requests.
    pub(in crate::actor) fn start_worked(
        &mut self,
        name: String,
        result: Result<(), ProtocolError>,
        done: StartDone,
        then: AfterStart,
    ) {
        let result = self.start_done(&name, result, done);
        self.start_answer(&name, then, result);
        self.release(&name);
    }

    /// A start's answer, where it goes.
    fn start_answer(
        &mut self,
        name: &str,
        then: AfterStart,
        result: Result<Response, ProtocolError>,
    ) {
        match then {
            // A start changes the demo's page alone: the front door routes
            // to its port whatever its status.
            AfterStart::Reply(reply) => self.answer_page(reply, result),
            AfterStart::Restore(reply) => self.answer_page(reply, result.map(|_| true)),
            AfterStart::Source { clone, started } => {
                self.clone_source_started(name, &clone, &result);
                let _ = started.send(());
            }
        }
    }

    /// What a start's work did, into the table, then its end.
    fn start_done(
        &mut self,
        name: &str,
        result: Result<(), ProtocolError>,
        done: StartDone,
    ) -> Result<Response, ProtocolError> {
        if done.stale_applied {
            self.state.clear_stale(name);
        }
        for (other, _) in &done.pruned {
            self.state.set_enabled(other, false);
        }
        if let Some(applied) = &done.applied {
            self.take_applied(applied);
        }
        for r in done.readings {
            self.take_read(r);
        }
        // After its reading (STARTING): that it answered stands until
        // supervisord says anything else.
        if done.answered && result.is_ok() {
            self.state.mark_answered(name);
        }
        self.start_end(name, result.map(|()| Response::Done))
    }

    /// The checks that refuse a start outright (the outer error: nothing
    /// was tried), and what its work needs (the inner error: a start that
    /// failed, said as such): the vhost's text read once and held to the
    /// policy here, so that what is tested is what Apache gets.
    fn start_decide(
        &mut self,
        name: &str,
    ) -> Result<Result<StartPlan, ProtocolError>, ProtocolError> {
        let demo = self.state.installed(name)?;
        if let Some(problem) = &demo.problem {
            return Err(ProtocolError::new(
                ErrorKind::InvalidRequest,
                format!("demo {name} is not started: {problem}"),
            )
            .with_detail(format!(
                "showroom keeps it as found; destroy it, or put its record back in {} and restart showroomd",
                self.layout.record(name).display()
            )));
        }
        let (process, vhost) = (demo.has_process, demo.has_vhost);
        let already_enabled = apache::is_enabled(&self.layout, name);
        let text = if vhost && !already_enabled {
            match self.vhost_text(name) {
                Ok(text) => Some(text),
                Err(e) => return Ok(Err(e)),
            }
        } else {
            None
        };
        // A process that ended by itself still runs on its old section.
        let stale = process
            && self.state.is_stale(name)
            && !matches!(
                self.state.proc(name),
                Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff)
            );
        // Its process listens on the ports pasta would forward: PORT, or
        // PORT2 beside a vhost.
        let app_ports = crate::sandbox::forwarded_ports(&demo.record.ports(), vhost);
        let probe =
            app_ports
                .first()
                .filter(|_| process)
                .map(|&port| crate::readiness::Readiness {
                    dir: self.layout.demo_dir(name),
                    port,
                    app_ports: app_ports.clone(),
                    own_network: self.sandbox.jail.is_some() && self.sandbox.own_net(),
                    inside: None,
                    past_running: std::time::Duration::from_secs(self.cfg.ready_wait_secs),
                });
        Ok(Ok(StartPlan {
            process,
            vhost,
            already_enabled,
            text,
            stale,
            told: self.telling(name),
            probe,
        }))
    }

    /// What every start ends with, done or failed: the table, the wanted
    /// state, the event.
    fn start_end(
        &mut self,
        name: &str,
        result: Result<Response, ProtocolError>,
    ) -> Result<Response, ProtocolError> {
        let enabled = apache::is_enabled(&self.layout, name);
        self.state.set_enabled(name, enabled);
        self.state.mark_hot(name, Instant::now());
        self.publish();
        match &result {
            Ok(_) => {
                self.set_wanted(name, protocol::Wanted::Running);
                self.mark_logs(name, "started");
                info!(demo = name, "started");
                self.emit(Some(name), EventKind::Started, "");
            }
            Err(e) => {
                warn!(demo = name, error = %e.message, detail = e.detail.as_deref().unwrap_or(""), "start failed");
                self.mark_logs(name, &format!("start failed: {}", e.message));
                // The first line of the cause beside the words: how it ended.
                let why = match e.detail.as_deref().and_then(|d| d.lines().next()) {
                    Some(first) => format!("{}: {first}", e.message),
                    None => e.message.clone(),
                };
                self.emit(Some(name), EventKind::StartFailed, why);
            }
        }
        result
    }

    /// What a failed start of this demo's process reads to say why.
    fn telling(&self, name: &str) -> Telling {
        let demo = self.state.demos.get(name);
        let ports = demo.map(|d| d.record.ports()).unwrap_or_default();
        // With a network of its own the demo binds inside it; what the host
        // must have free are the ports pasta forwards.
        let forwarded = if self.sandbox.jail.is_some() && self.sandbox.own_net() {
            crate::sandbox::forwarded_ports(&ports, demo.is_some_and(|d| d.has_vhost))
        } else {
            vec![]
        };
        Telling {
            supervisord_log: self.layout.supervisord_log(),
            stderr_log: self.layout.process_log(name, "stderr"),
            ports,
            forwarded,
        }
    }

    /// Holds a demo's `apache2.conf` to what a vhost of that demo may do
    /// (`apache_policy`); returns the text checked.
    fn policy_check(&self, name: &str) -> Result<String, ProtocolError> {
        let demo_dir = self.layout.demo_dir(name);
        let mine: Vec<u16> = self.state.demo(name)?.record.ports();
        let others: Vec<u16> = self
            .state
            .demos
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .flat_map(|(_, d)| d.record.ports())
            .collect();
        let policy = Policy {
            demo_dir: &demo_dir,
            ports: &mine,
            others: &others,
        };
        apache_policy::check_file(&self.layout.vhost(name), &policy).map_err(|e| {
            ProtocolError::new(
                ErrorKind::ApacheConfig,
                format!("the virtual host of demo {name} is refused: {e}"),
            )
        })
    }

    /// The demo's vhost as Apache will get it, read once and held to the
    /// policy before Apache reads a byte of it (start and restore both take
    /// it here): what is checked and tested is what is enabled. A refusal
    /// names the file, the line and the rule, never a value another file
    /// could have put there.
    pub(in crate::actor) fn vhost_text(&self, name: &str) -> Result<String, ProtocolError> {
        let checked = self.policy_check(name)?;
        Ok(apache::with_own_logs(&self.layout, name, &checked))
    }
}

/// Where a failed start looks for its cause: the process's stderr, the ports it should listen on.
#[derive(Debug)]
pub(crate) struct Telling {
    supervisord_log: std::path::PathBuf,
    stderr_log: std::path::PathBuf,
    ports: Vec<u16>,
    /// The host ports pasta forwards to it (none on the host's network).
    forwarded: Vec<u16>,
}

/// Asks supervisord to start a demo's program and waits until it answers
/// on its port (or runs, for one that never does) or failed; one already running is started. A failure keeps
/// the seed's words and adds why: how it ended, for how long, its stderr,
/// a port some other program holds.
pub(crate) async fn start_process<S: Supervisord>(
    sup: &S,
    name: &str,
    told: &Telling,
    probe: Option<crate::readiness::Readiness>,
) -> Result<bool, ProtocolError> {
    // In its own network the demo binds its port whatever holds the host's:
    // pasta alone would fail (or share it), and the start look fine. So a
    // forwarded port another program holds refuses the start here, naming
    // the holder, as a process that cannot bind its port does.
    if !told.forwarded.is_empty() {
        let runs = sup.process_info(name).await.is_ok_and(|i| {
            matches!(
                crate::status::from_supervisor(&i.statename),
                DemoStatus::Running | DemoStatus::Starting | DemoStatus::Backoff
            )
        });
        // The forwarder of the demo's last run may still be going (its
        // supervisord was just killed): a port is taken only if it stays so.
        let taken = || {
            told.forwarded
                .iter()
                .copied()
                .filter(|p| !runs && crate::ports::held(*p).is_some())
                .collect::<Vec<u16>>()
        };
        let mut ports = taken();
        let since = std::time::Instant::now();
        while !ports.is_empty() && since.elapsed() < std::time::Duration::from_secs(3) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            ports = taken();
        }
        let held: Vec<String> = ports.into_iter().map(crate::ports::held_by).collect();
        if !held.is_empty() {
            let detail = held
                .into_iter()
                .chain([crate::failure::see_logs(name)])
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ProtocolError::new(
                ErrorKind::AbnormalTermination,
                format!("ABNORMAL_TERMINATION: {name}"),
            )
            .with_detail(detail));
        }
    }
    let started = match probe {
        // Ready when its port answers: an app that boots in 150 ms is
        // answered for then, one slower than `startsecs` when it answers,
        // one that never listens `ready_wait_secs` past RUNNING.
        Some(probe) => start_until_ready(sup, name, probe).await,
        None => sup
            .start_process(name)
            .await
            .map(|()| false)
            .map_err(Failed::Rpc),
    };
    match started {
        Ok(answered) => Ok(answered),
        Err(Failed::Rpc(e)) if e.fault_code() == Some(codes::ALREADY_STARTED) => Ok(false),
        Err(Failed::Rpc(e))
            if !matches!(
                e.fault_code(),
                Some(codes::SPAWN_ERROR | codes::ABNORMAL_TERMINATION)
            ) =>
        {
            Err(sup_error(e))
        }
        Err(why) => {
            let mut lines = Vec::new();
            // Ended, it holds no port: one held now is another program's.
            for p in told
                .ports
                .iter()
                .filter(|p| crate::ports::held(**p).is_some())
            {
                lines.push(crate::ports::held_by(*p));
            }
            if let Ok(info) = sup.process_info(name).await {
                let state = crate::status::from_supervisor(&info.statename);
                let ending = crate::failure::Ending::read(
                    &info,
                    state,
                    &told.supervisord_log,
                    &told.stderr_log,
                );
                lines.push(ending.detail(name));
                if state == DemoStatus::Backoff {
                    lines.push(format!(
                        "that was its first try of {}: supervisord tries again, then gives up (FATAL)",
                        crate::failure::START_RETRIES + 1
                    ));
                }
            }
            lines.push(format!("supervisord: {why}"));
            lines.push(crate::failure::see_logs(name));
            let detail = lines.join("\n");
            Err(ProtocolError::new(
                ErrorKind::AbnormalTermination,
                format!("ABNORMAL_TERMINATION: {name}"),
            )
            .with_detail(detail))
        }
    }
}

/// How a start failed: supervisord's fault, or the process seen ended.
enum Failed {
    Rpc(crate::supervisor::RpcError),
    /// It left STARTING without running: its name, and its reading.
    Ended(String, Box<crate::supervisor::ProcessInfo>),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Rpc(e) => e.fmt(f),
            // supervisord's own words for what its wait would have said: a
            // process that could not start or ended too quickly is a
            // SPAWN_ERROR, any other end an ABNORMAL_TERMINATION.
            Failed::Ended(name, info) if !info.spawnerr.is_empty() => write!(
                f,
                "SPAWN_ERROR: {name} ({}; now {})",
                info.spawnerr, info.statename
            ),
            Failed::Ended(name, info) => {
                write!(f, "ABNORMAL_TERMINATION: {name} (now {})", info.statename)
            }
        }
    }
}

/// Starts the program without supervisord's wait, then looks every 20 ms:
/// its port answering is ready (true), STARTING or RUNNING; RUNNING for
/// `past_running` without an answer is ready too (false); BACKOFF,
/// EXITED or FATAL is a start that failed, as supervisord's own wait says.
/// One started already is waited for the same way.
async fn start_until_ready<S: Supervisord>(
    sup: &S,
    name: &str,
    mut probe: crate::readiness::Readiness,
) -> Result<bool, Failed> {
    match sup.start_process_nowait(name).await {
        Ok(()) => {}
        Err(e) if e.fault_code() == Some(codes::ALREADY_STARTED) => {}
        Err(e) => return Err(Failed::Rpc(e)),
    }
    // supervisord gives up within its retries' back-off; this bounds a
    // supervisord that stops answering meanwhile.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // supervisord's RUNNING (`startsecs`) is a clock, not readiness: an app
    // that boots slower than it (Python on a busy host) would be told
    // started while the front door still gets pasta's closed connection, a
    // 502. Past RUNNING its port is still waited for while it boots (uses
    // CPU), up to `ready_wait_secs`; one idle and silent (the seed's
    // `sleep`, a worker) is started as supervisord says.
    let mut running_since = None;
    let mut booting = crate::readiness::Booting::new();
    loop {
        let info = sup.process_info(name).await.map_err(Failed::Rpc)?;
        booting.look(info.pid);
        match crate::status::from_supervisor(&info.statename) {
            DemoStatus::Running | DemoStatus::Starting if probe.answers().await => return Ok(true),
            DemoStatus::Running => {
                let since = *running_since.get_or_insert_with(tokio::time::Instant::now);
                if !booting.busy() {
                    debug!(
                        demo = name,
                        ports = ?probe.app_ports,
                        "running for supervisord, idle and not answering on its port: started"
                    );
                    return Ok(false);
                }
                if since.elapsed() >= probe.past_running {
                    warn!(
                        demo = name,
                        ports = ?probe.app_ports,
                        "running for supervisord, busy but still not answering on its port: started as supervisord says"
                    );
                    return Ok(false);
                }
            }
            DemoStatus::Starting => {}
            _ => return Err(Failed::Ended(name.to_owned(), Box::new(info))),
        }
        if std::time::Instant::now() > deadline {
            return Err(Failed::Ended(name.to_owned(), Box::new(info)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
