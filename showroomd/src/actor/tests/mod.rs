//! The actor's decisions on a stub supervisord: no supervisord, no Apache, a temporary state folder, tokio's clock paused. This file is the stub and the helpers; the tests are in the files beside it, by subject.

mod lifecycle;
mod ops;
mod races;
mod readings;
mod repair;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, Event, EventKind, Response, Wanted};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{Actor, Command, Handle, Observation};
use crate::config::Config;
use crate::layout::Layout;
use crate::store::{self, DemoRecord, Phase};
use crate::supervisor::control::ControlError;
use crate::supervisor::rpc::codes;
use crate::supervisor::{Call, Fault, ProcessInfo, RpcError, Supervisord};

/// supervisord as the actor sees it: programs by name with their state.
#[derive(Default)]
struct Stub {
    inner: Mutex<StubState>,
}

#[derive(Default)]
struct StubState {
    procs: BTreeMap<String, String>,
    /// Programs whose start fails as supervisord's spawn error does.
    fail_start: BTreeSet<String>,
    calls: Vec<String>,
    /// `start_daemon` says it started supervisord afresh (a reboot).
    fresh: bool,
    /// A supervisord started without showroom's plugin: no `showroom.addProgram`.
    no_plugin: bool,
    /// How long each stop takes.
    stop_takes: std::time::Duration,
    /// How long each start takes to say the process runs (supervisord's `startsecs`).
    start_takes: std::time::Duration,
}

fn fault(method: &str, code: i32) -> RpcError {
    RpcError::Fault {
        method: method.into(),
        fault: Fault {
            code,
            string: format!("code {code}"),
        },
    }
}

pub(super) fn info(name: &str, state: &str) -> ProcessInfo {
    ProcessInfo {
        name: name.into(),
        group: name.into(),
        statename: state.into(),
        pid: 0,
        description: String::new(),
        exitstatus: 0,
        spawnerr: String::new(),
        start: 0,
        stop: 0,
        now: 0,
    }
}

fn ready<'a, T: Send + 'a, E: Send + 'a>(r: Result<T, E>) -> Call<'a, T, E> {
    Box::pin(std::future::ready(r))
}

impl Stub {
    fn with(procs: &[(&str, &str)]) -> Stub {
        let stub = Stub::default();
        for (n, s) in procs {
            stub.set(n, s);
        }
        stub
    }
    fn set(&self, name: &str, state: &str) {
        let mut s = self.inner.lock().unwrap();
        s.procs.insert(name.into(), state.into());
    }
    /// Records the call, then answers it from the programs' table.
    fn on<T>(&self, call: String, f: impl FnOnce(&mut StubState) -> T) -> T {
        let mut s = self.inner.lock().unwrap();
        s.calls.push(call);
        f(&mut s)
    }
    fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }
}

impl Supervisord for Arc<Stub> {
    fn state(&self) -> Call<'_, String> {
        ready(Ok("RUNNING".into()))
    }
    fn process_info<'a>(&'a self, name: &'a str) -> Call<'a, ProcessInfo> {
        // As supervisord: `group:name` names the same program.
        let name = name.split_once(':').map_or(name, |(_, p)| p);
        let s = self.inner.lock().unwrap();
        ready(match s.procs.get(name) {
            Some(st) => Ok(info(name, st)),
            None => Err(fault("getProcessInfo", codes::BAD_NAME)),
        })
    }
    fn all_process_info(&self) -> Call<'_, Vec<ProcessInfo>> {
        let s = self.inner.lock().unwrap();
        ready(Ok(s.procs.iter().map(|(n, st)| info(n, st)).collect()))
    }
    fn start_process<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        let delay = self.inner.lock().unwrap().start_takes;
        Box::pin(async move {
            if !delay.is_zero() {
                self.on(format!("starting {name}"), |s| {
                    if let Some(st) = s.procs.get_mut(name) {
                        *st = "STARTING".into();
                    }
                });
                tokio::time::sleep(delay).await;
            }
            self.on(format!("start {name}"), |s| {
                if s.fail_start.contains(name) {
                    s.procs.insert(name.into(), "BACKOFF".into());
                    return Err(fault("startProcess", codes::SPAWN_ERROR));
                }
                match s.procs.get_mut(name) {
                    None => Err(fault("startProcess", codes::BAD_NAME)),
                    Some(st) => {
                        *st = "RUNNING".into();
                        Ok(())
                    }
                }
            })
        })
    }
    fn start_process_nowait<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        self.start_process(name)
    }
    fn stop_process<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        let delay = self.inner.lock().unwrap().stop_takes;
        Box::pin(async move {
            // As supervisord's stop with wait: the process takes its time.
            tokio::time::sleep(delay).await;
            self.on(format!("stop {name}"), |s| match s.procs.get_mut(name) {
                None => Err(fault("stopProcess", codes::BAD_NAME)),
                Some(st) if st != "RUNNING" => Err(fault("stopProcess", codes::NOT_RUNNING)),
                Some(st) => {
                    *st = "STOPPED".into();
                    Ok(())
                }
            })
        })
    }
    fn signal_process<'a>(&'a self, name: &'a str, signal: &'a str) -> Call<'a, ()> {
        ready(self.on(format!("signal {name} {signal}"), |_| Ok(())))
    }
    fn reload_config(&self) -> Call<'_, [Vec<String>; 3]> {
        ready(self.on("reload".into(), |_| Ok(Default::default())))
    }
    fn add_process_group<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        ready(self.on(format!("add {name}"), |s| {
            if s.procs.contains_key(name) {
                return Err(fault("addProcessGroup", codes::ALREADY_ADDED));
            }
            s.procs.insert(name.into(), "STOPPED".into());
            Ok(())
        }))
    }
    fn add_program<'a>(&'a self, name: &'a str, _section: &'a str) -> Call<'a, ()> {
        ready(self.on(format!("add_program {name}"), |s| {
            if s.no_plugin {
                return Err(fault("showroom.addProgram", codes::UNKNOWN_METHOD));
            }
            if s.procs.contains_key(name) {
                return Err(fault("showroom.addProgram", codes::ALREADY_ADDED));
            }
            s.procs.insert(name.into(), "STOPPED".into());
            Ok(())
        }))
    }
    fn remove_process_group<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        ready(
            self.on(format!("remove {name}"), |s| match s.procs.remove(name) {
                Some(_) => Ok(()),
                None => Err(fault("removeProcessGroup", codes::BAD_NAME)),
            }),
        )
    }
    fn start_daemon<'a>(&'a self, _: &'a Layout, _: &'a Config) -> Call<'a, bool, ControlError> {
        ready(Ok(self.inner.lock().unwrap().fresh))
    }
    fn stop_daemon(&self) -> Call<'_, bool, ControlError> {
        ready(Ok(true))
    }
}

fn record(phase: Phase) -> DemoRecord {
    DemoRecord::bare("app", Some(20000), 1, phase)
}

/// A demo folder with a start script (a process, no vhost) and its record.
fn put_demo(layout: &Layout, name: &str, phase: Phase) {
    std::fs::create_dir_all(layout.demo_dir(name)).unwrap();
    std::fs::write(layout.start_script(name), "exec sleep 1\n").unwrap();
    store::write_record(layout, name, &record(phase)).unwrap();
}

struct Running {
    handle: Handle,
    events: broadcast::Receiver<Event>,
    layout: Layout,
    _dir: tempfile::TempDir,
    /// Cuts the deploy jobs short, as showroomd's shutdown does.
    jobs_cancel: CancellationToken,
    /// The deploy slots (`max_deploy_jobs`): a test takes them to keep jobs waiting.
    deploy_slots: Arc<tokio::sync::Semaphore>,
}

/// The wall clock when a test's actor starts (seconds since the epoch).
const T0: u64 = 1_700_000_000;

/// The actor started on `stub` over a state folder `prepare` fills, running.
async fn run(stub: Arc<Stub>, prepare: impl FnOnce(&Layout)) -> Running {
    run_with(stub, |_| {}, prepare).await
}

/// Likewise with settings changed by `configure`. Its wall clock reads `T0`
/// at start and follows tokio's (paused) clock.
async fn run_with(
    stub: Arc<Stub>,
    configure: impl FnOnce(&mut Config),
    prepare: impl FnOnce(&Layout),
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        state_dir: dir.path().join("state"),
        scripts_dir: dir.path().join("scripts"),
        // Every config test passes: the actor's decisions, not Apache's, are tested.
        apache_bin: "/bin/true".into(),
        // The front door off, as in the end-to-end harness: a test that
        // wants it sets it.
        front_port: 0,
        ..Config::default()
    };
    configure(&mut cfg);
    let layout = Layout::new(&cfg.state_dir);
    layout.create_dirs().unwrap();
    prepare(&layout);
    let jobs_cancel = CancellationToken::new();
    let (mut actor, handle) = Actor::start(
        Arc::new(cfg),
        stub,
        Arc::new(crate::sandbox::Sandbox::off()),
        jobs_cancel.clone(),
    )
    .await
    .unwrap();
    let deploy_slots = actor.deploy_slots.clone();
    let started = tokio::time::Instant::now();
    actor.clock = Arc::new(move || T0 + started.elapsed().as_secs());
    let events = handle.subscribe();
    tokio::spawn(actor.run());
    // The checks at start are the inbox's first message: wait for them.
    let _ = handle.command(Command::Stop("nope".into())).await;
    Running {
        handle,
        events,
        layout,
        _dir: dir,
        jobs_cancel,
        deploy_slots,
    }
}

/// The actor on a stub whose programs are `procs`, each an installed demo.
async fn run_demos(procs: &[(&str, &str)]) -> (Arc<Stub>, Running) {
    let stub = Arc::new(Stub::with(procs));
    let r = run(stub.clone(), |l| {
        for (n, _) in procs {
            put_demo(l, n, Phase::Installed);
        }
    })
    .await;
    (stub, r)
}

fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<EventKind> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|e| e.kind)
        .collect()
}

fn status(h: &Handle, name: &str) -> DemoStatus {
    h.snapshot().demos[name].status
}
