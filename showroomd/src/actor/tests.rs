//! The actor's decisions on a stub supervisord: no supervisord, no Apache, a temporary state folder, tokio's clock paused.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use protocol::{DemoStatus, ErrorKind, Event, EventKind, Response};
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
    /// A supervisord started without showroom's plugin: no `showroom.addProgram`.
    no_plugin: bool,
    /// How long each stop takes.
    stop_takes: std::time::Duration,
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
        ready(self.on(format!("start {name}"), |s| {
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
        }))
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
        ready(Ok(false))
    }
    fn stop_daemon(&self) -> Call<'_, bool, ControlError> {
        ready(Ok(true))
    }
}

fn record(phase: Phase) -> DemoRecord {
    DemoRecord {
        app: "app".into(),
        port: Some(20000),
        comment: String::new(),
        created: 1,
        phase,
        params: Default::default(),
    }
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
}

/// The actor started on `stub` over a state folder `prepare` fills, running.
async fn run(stub: Arc<Stub>, prepare: impl FnOnce(&Layout)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        state_dir: dir.path().join("state"),
        scripts_dir: dir.path().join("scripts"),
        ..Config::default()
    };
    let layout = Layout::new(&cfg.state_dir);
    layout.create_dirs().unwrap();
    prepare(&layout);
    let (actor, handle) = Actor::start(Arc::new(cfg), stub, CancellationToken::new())
        .await
        .unwrap();
    let events = handle.subscribe();
    tokio::spawn(actor.run());
    // The checks at start are the inbox's first message: wait for them.
    let _ = handle.command(Command::Stop("nope".into())).await;
    Running {
        handle,
        events,
        layout,
        _dir: dir,
    }
}

fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<EventKind> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|e| e.kind)
        .collect()
}

fn status(h: &Handle, name: &str) -> DemoStatus {
    h.snapshot().demos[name].status
}

#[tokio::test(start_paused = true)]
async fn a_start_that_fails_says_so_and_emits_start_failed() {
    let stub = Arc::new(Stub::with(&[("a", "STOPPED")]));
    stub.inner.lock().unwrap().fail_start.insert("a".into());
    let mut r = run(stub.clone(), |l| put_demo(l, "a", Phase::Installed)).await;
    assert_eq!(status(&r.handle, "a"), DemoStatus::Stopped);

    let e = r
        .handle
        .command(Command::Start("a".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AbnormalTermination);
    assert_eq!(e.message, "ABNORMAL_TERMINATION: a");
    assert_eq!(
        drain(&mut r.events),
        vec![
            EventKind::StateChanged {
                from: DemoStatus::Stopped,
                to: DemoStatus::Backoff
            },
            EventKind::StartFailed,
        ]
    );
    assert!(r.handle.snapshot().hot.contains(&"a".to_string()));
}

#[tokio::test(start_paused = true)]
async fn backoff_to_fatal_seen_by_the_poller_is_one_event() {
    let stub = Arc::new(Stub::with(&[("a", "BACKOFF")]));
    let mut r = run(stub, |l| put_demo(l, "a", Phase::Installed)).await;
    assert_eq!(status(&r.handle, "a"), DemoStatus::Backoff);
    let reading = Observation::Processes {
        infos: vec![info("a", "FATAL")],
        complete: false,
        taken: Instant::now(),
    };
    assert!(r.handle.observe(reading).await);
    // The inbox is served in order: a command after the reading sees it applied.
    let _ = r.handle.command(Command::Stop("nope".into())).await;
    assert_eq!(status(&r.handle, "a"), DemoStatus::Fatal);
    assert_eq!(
        drain(&mut r.events),
        vec![EventKind::StateChanged {
            from: DemoStatus::Backoff,
            to: DemoStatus::Fatal
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_poll_that_raced_a_stop_does_not_undo_it() {
    let stub = Arc::new(Stub::with(&[("a", "RUNNING")]));
    let mut r = run(stub, |l| put_demo(l, "a", Phase::Installed)).await;
    assert_eq!(status(&r.handle, "a"), DemoStatus::Running);
    // The poller asks, then the stop happens, then its reading arrives.
    let taken = Instant::now();
    let done = r.handle.command(Command::Stop("a".into())).await.unwrap();
    assert_eq!(done, Response::Done);
    assert!(
        r.handle
            .observe(Observation::Processes {
                infos: vec![info("a", "RUNNING")],
                complete: true,
                taken,
            })
            .await
    );
    let _ = r.handle.command(Command::Stop("nope".into())).await;
    assert_eq!(status(&r.handle, "a"), DemoStatus::Stopped);
    assert_eq!(
        drain(&mut r.events),
        vec![
            EventKind::StateChanged {
                from: DemoStatus::Running,
                to: DemoStatus::Stopped
            },
            EventKind::Stopped,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn repairs_at_start_roll_back_a_cut_deploy_and_drop_leftovers() {
    // supervisord still runs the group of a deploy cut short, and one of a
    // demo whose folder is gone.
    let stub = Arc::new(Stub::with(&[("cut", "STOPPED"), ("gone", "RUNNING")]));
    let r = run(stub.clone(), |l| {
        put_demo(l, "kept", Phase::Installed);
        put_demo(l, "cut", Phase::Deploying);
        std::fs::create_dir_all(l.demo_dir("norecord")).unwrap();
        std::os::unix::fs::symlink(l.vhost("gone"), l.apache_link("gone")).unwrap();
    })
    .await;
    let snap = r.handle.snapshot();
    assert_eq!(snap.demos.keys().collect::<Vec<_>>(), vec!["kept"]);
    for name in ["cut", "norecord"] {
        assert!(!r.layout.demo_dir(name).exists(), "{name} rolled back");
    }
    assert!(
        !r.layout.apache_link("gone").exists(),
        "dangling link removed"
    );
    assert!(
        r.layout.program_section("kept").is_file(),
        "section written"
    );
    let calls = stub.calls();
    for call in ["remove cut", "stop gone", "remove gone", "add kept"] {
        assert!(calls.iter().any(|c| c == call), "{call} in {calls:?}");
    }
    assert_eq!(snap.demos["kept"].status, DemoStatus::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_program_is_added_alone_and_by_a_reload_only_without_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        state_dir: dir.path().join("state"),
        ..Config::default()
    };
    Layout::new(&cfg.state_dir).create_dirs().unwrap();
    let stub = Arc::new(Stub::default());
    let (mut actor, _handle) = Actor::new(Arc::new(cfg), stub.clone(), CancellationToken::new());
    actor.add_program("a", 20000).await.unwrap();
    assert_eq!(stub.calls(), vec!["add_program a"]);
    stub.inner.lock().unwrap().no_plugin = true;
    actor.add_program("b", 20001).await.unwrap();
    assert_eq!(
        stub.calls(),
        vec!["add_program a", "add_program b", "reload", "add b"]
    );
    assert!(actor.plugin_missing_told);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_cleanup_is_answered_between_its_destroys() {
    let names: Vec<String> = (0..6).map(|i| format!("old{i}")).collect();
    let mut procs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "RUNNING")).collect();
    procs.push(("x", "RUNNING"));
    let stub = Arc::new(Stub::with(&procs));
    let r = run(stub.clone(), |l| {
        for n in &names {
            put_demo(l, n, Phase::Installed);
        }
        put_demo(l, "x", Phase::Installed);
    })
    .await;
    stub.inner.lock().unwrap().stop_takes = std::time::Duration::from_secs(1);
    let h = r.handle.clone();
    let cleanup = tokio::spawn(async move {
        h.command(Command::Cleanup(protocol::CleanupRequest {
            older_than_secs: None,
            statuses: vec![DemoStatus::Running],
            dry_run: false,
        }))
        .await
    });
    // Let the cleanup begin: its first destroy is under way.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stub.set("x", "RUNNING");
    let t0 = tokio::time::Instant::now();
    let stopped = r.handle.command(Command::Stop("x".into())).await;
    assert_eq!(stopped.unwrap(), Response::Done);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(3),
        "the stop waited {:?}: behind the whole cleanup",
        t0.elapsed()
    );
    let Response::Cleanup(report) = cleanup.await.unwrap().unwrap() else {
        panic!("a cleanup report")
    };
    // x was RUNNING when the cleanup chose: destroyed too, after its stop.
    let mut want = names.clone();
    want.push("x".into());
    assert_eq!(report.destroyed, want);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let calls = stub.calls();
    let stop_x = calls.iter().position(|c| c == "stop x").unwrap();
    let last_old = calls
        .iter()
        .rposition(|c| c.starts_with("stop old"))
        .unwrap();
    assert!(
        stop_x < last_old,
        "the stop came between destroys: {calls:?}"
    );
    assert!(r.handle.snapshot().demos.is_empty());
}

/// The poller with supervisord's events: a hint makes it read that program
/// fresh, a late event cannot undo a newer state, a resync sweeps.
#[tokio::test]
async fn hints_are_read_fresh_and_a_resync_sweeps() {
    use tokio::io::AsyncWriteExt;
    let stub = Arc::new(Stub::with(&[("a", "RUNNING")]));
    let mut r = run(stub.clone(), |l| put_demo(l, "a", Phase::Installed)).await;
    assert_eq!(status(&r.handle, "a"), DemoStatus::Running);
    let sock = r.layout.events_socket();
    let receiver = crate::event_receiver::Receiver::start(&sock).unwrap();
    let cfg = Arc::new(Config {
        sweep_secs: 3600,
        ..Config::default()
    });
    let stop = CancellationToken::new();
    let poller = tokio::spawn(crate::poller::run(
        stub.clone(),
        r.handle.clone(),
        cfg,
        Some(receiver),
        stop.clone(),
    ));
    let mut conn = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let until = |want: DemoStatus| {
        let h = r.handle.clone();
        async move {
            let t0 = std::time::Instant::now();
            while status(&h, "a") != want {
                assert!(
                    t0.elapsed() < std::time::Duration::from_secs(5),
                    "never {want}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    // The connection's own resync sweeps first, while "a" still runs.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stub.set("a", "EXITED");
    conn.write_all(b"v1 EXITED a a RUNNING\n").await.unwrap();
    until(DemoStatus::Exited).await;
    // A RUNNING event that arrives after the program stopped: the fresh
    // reading says STOPPED, and RUNNING is never shown.
    stub.set("a", "STOPPED");
    conn.write_all(b"v1 RUNNING a a STARTING\n").await.unwrap();
    until(DemoStatus::Stopped).await;
    // A line not understood: events may be lost, so everything is swept.
    stub.set("a", "FATAL");
    conn.write_all(b"v9 something else\n").await.unwrap();
    until(DemoStatus::Fatal).await;
    let seen: Vec<EventKind> = drain(&mut r.events);
    assert_eq!(
        seen,
        vec![
            EventKind::StateChanged {
                from: DemoStatus::Running,
                to: DemoStatus::Exited
            },
            EventKind::StateChanged {
                from: DemoStatus::Exited,
                to: DemoStatus::Stopped
            },
            EventKind::StateChanged {
                from: DemoStatus::Stopped,
                to: DemoStatus::Fatal
            },
        ]
    );
    stop.cancel();
    poller.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn until_the_checks_at_start_a_program_unknown_to_supervisord_is_unknown() {
    // supervisord lacks the group of "new": it gets it in the checks.
    let stub = Arc::new(Stub::with(&[("old", "RUNNING")]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        state_dir: dir.path().join("state"),
        ..Config::default()
    };
    let layout = Layout::new(&cfg.state_dir);
    layout.create_dirs().unwrap();
    put_demo(&layout, "old", Phase::Installed);
    put_demo(&layout, "new", Phase::Installed);
    let (actor, handle) = Actor::start(Arc::new(cfg), stub.clone(), CancellationToken::new())
        .await
        .unwrap();
    let snap = handle.snapshot();
    assert_eq!(snap.demos["old"].status, DemoStatus::Running);
    assert_eq!(snap.demos["new"].status, DemoStatus::Unknown);
    assert!(!stub.calls().iter().any(|c| c == "add new"), "not yet");
    tokio::spawn(actor.run());
    let _ = handle.command(Command::Stop("nope".into())).await;
    assert!(stub.calls().iter().any(|c| c == "add new"));
    assert_eq!(status(&handle, "new"), DemoStatus::Stopped);
}
