//! The actor's decisions on a stub supervisord: no supervisord, no Apache, a temporary state folder, tokio's clock paused.

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
    DemoRecord {
        app: "app".into(),
        port: Some(20000),
        comment: String::new(),
        created: 1,
        phase,
        params: Default::default(),
        wanted: Default::default(),
        expires_at: None,
        deploy_ms: None,
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
    let (mut actor, handle) = Actor::start(
        Arc::new(cfg),
        stub,
        Arc::new(crate::sandbox::Sandbox::off()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
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
async fn repairs_at_start_roll_back_only_a_deploy_marked_as_cut_short() {
    // supervisord still runs the group of a deploy cut short, and one of a
    // demo whose folder is gone.
    let stub = Arc::new(Stub::with(&[
        ("cut", "STOPPED"),
        ("gone", "RUNNING"),
        ("unmarked", "RUNNING"),
    ]));
    let r = run(stub.clone(), |l| {
        put_demo(l, "kept", Phase::Installed);
        // Marked, with a record still saying deploying.
        store::mark_deploying(l, "cut").unwrap();
        put_demo(l, "cut", Phase::Deploying);
        // Marked, cut before its record was written.
        store::mark_deploying(l, "early").unwrap();
        std::fs::create_dir_all(l.demo_dir("early")).unwrap();
        // Marked, but installed before the crash: finished, not undone.
        store::mark_deploying(l, "done").unwrap();
        put_demo(l, "done", Phase::Installed);
        // No marker, no record: not provably showroom's to undo.
        std::fs::create_dir_all(l.demo_dir("unmarked")).unwrap();
        std::fs::write(l.start_script("unmarked"), "exec sleep 1\n").unwrap();
        std::fs::write(l.demo_dir("unmarked").join("data.db"), "precious").unwrap();
        // A marker and a record whose folders are gone.
        store::mark_deploying(l, "nofolder").unwrap();
        std::fs::write(l.record("destroyed"), "half").unwrap();
        std::os::unix::fs::symlink(l.vhost("gone"), l.apache_link("gone")).unwrap();
    })
    .await;
    let snap = r.handle.snapshot();
    assert_eq!(
        snap.demos.keys().collect::<Vec<_>>(),
        vec!["done", "kept", "unmarked"]
    );
    for name in ["cut", "early"] {
        assert!(!r.layout.demo_dir(name).exists(), "{name} rolled back");
        assert!(!r.layout.record(name).exists(), "{name}'s record removed");
    }
    for name in ["cut", "early", "done", "nofolder"] {
        assert!(
            !r.layout.deploy_marker(name).exists(),
            "{name}'s marker removed"
        );
    }
    assert!(!r.layout.record("destroyed").exists());
    assert!(r.layout.demo_dir("unmarked").join("data.db").is_file());
    assert_eq!(snap.demos["unmarked"].status, DemoStatus::Unknown);
    assert!(snap.demos["unmarked"]
        .reason
        .starts_with("its record is missing"));
    assert!(
        !r.layout.apache_link("gone").exists(),
        "dangling link removed"
    );
    let programs = std::fs::read_to_string(r.layout.programs_conf()).unwrap();
    assert!(programs.contains("[program:kept]") && programs.contains("[program:done]"));
    assert!(!programs.contains("[program:cut]"));
    assert!(
        r.layout.program_section_copy("kept").is_file(),
        "a copy for people"
    );
    let calls = stub.calls();
    for call in ["remove cut", "stop gone", "remove gone", "add kept"] {
        assert!(calls.iter().any(|c| c == call), "{call} in {calls:?}");
    }
    for call in ["stop unmarked", "remove unmarked"] {
        assert!(!calls.iter().any(|c| c == call), "{call} in {calls:?}");
    }
    assert_eq!(snap.demos["kept"].status, DemoStatus::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_lost_or_damaged_record_keeps_the_demo_and_its_port() {
    let stub = Arc::new(Stub::with(&[("lost", "RUNNING"), ("damaged", "RUNNING")]));
    let r = run(stub.clone(), |l| {
        let cfg = Config::default();
        let mut sections = BTreeMap::new();
        for (name, port) in [("lost", 20005), ("damaged", 20006)] {
            put_demo(l, name, Phase::Installed);
            sections.insert(
                name.to_owned(),
                crate::supervisor::config::render_program(
                    l,
                    &cfg,
                    &crate::sandbox::Sandbox::off(),
                    name,
                    port,
                )
                .unwrap(),
            );
        }
        std::fs::write(
            l.programs_conf(),
            crate::supervisor::config::render_programs(&sections),
        )
        .unwrap();
        for f in [l.record("lost"), l.record_copy("lost")] {
            std::fs::remove_file(f).unwrap();
        }
        for f in [l.record("damaged"), l.record_copy("damaged")] {
            std::fs::write(f, "garbage = [").unwrap();
        }
        // A state folder from before records/: only the copy.
        put_demo(l, "old", Phase::Installed);
        std::fs::remove_file(l.record("old")).unwrap();
        // The copy lost: restored from the record.
        put_demo(l, "nocopy", Phase::Installed);
        std::fs::remove_file(l.record_copy("nocopy")).unwrap();
    })
    .await;
    let snap = r.handle.snapshot();
    for (name, port, why) in [
        ("lost", 20005, "its record is missing"),
        ("damaged", 20006, "its record is unreadable"),
    ] {
        let d = &snap.demos[name];
        assert_eq!(d.status, DemoStatus::Unknown, "{name}");
        assert_eq!(d.record.port, Some(port), "{name} keeps its port");
        assert!(d.reason.starts_with(why), "{name}: {}", d.reason);
        assert!(d.reason.ends_with("its parts RUNNING"), "{}", d.reason);
        assert!(d.record.created > 1, "never 1970: {}", d.record.created);
        assert!(r.layout.start_script(name).is_file());
    }
    assert!(store::read_record(&r.layout, "old").is_ok(), "adopted");
    assert!(r.layout.record_copy("nocopy").is_file(), "restored");
    for name in ["old", "nocopy"] {
        assert_eq!(snap.demos[name].reason, "");
        assert_eq!(snap.demos[name].status, DemoStatus::Stopped);
    }
    let programs = std::fs::read_to_string(r.layout.programs_conf()).unwrap();
    assert!(programs.contains("PORT=\"20005\""), "its section stays");

    // Cleanup leaves them, start refuses them, destroy takes them.
    let dry = r
        .handle
        .command(Command::Cleanup(protocol::CleanupRequest {
            older_than_secs: None,
            statuses: vec![],
            dry_run: true,
        }))
        .await
        .unwrap();
    let Response::Cleanup(report) = dry else {
        panic!("{dry:?}")
    };
    assert_eq!(report.destroyed, vec!["nocopy", "old"]);
    let e = r
        .handle
        .command(Command::Start("lost".into()))
        .await
        .unwrap_err();
    assert!(e.message.contains("its record is missing"), "{e:?}");
    r.handle
        .command(Command::Destroy("damaged".into()))
        .await
        .unwrap();
    assert!(!r.layout.demo_dir("damaged").exists());
    assert!(!r.layout.record("damaged").exists());
    let calls = stub.calls();
    assert!(!calls.iter().any(|c| c == "stop lost"), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn while_apache_fails_its_demos_are_unknown_and_cleanup_refuses() {
    let stub = Arc::new(Stub::with(&[("apache2", "RUNNING"), ("p", "FATAL")]));
    let r = run(stub.clone(), |l| {
        std::fs::create_dir_all(l.demo_dir("web")).unwrap();
        let vhost = "Listen 20001\n<VirtualHost *:20001>\n</VirtualHost>\n";
        std::fs::write(l.vhost("web"), vhost).unwrap();
        store::write_record(l, "web", &record(Phase::Installed)).unwrap();
        std::fs::write(l.apache_link("web"), vhost).unwrap();
        put_demo(l, "p", Phase::Installed);
    })
    .await;
    assert_eq!(status(&r.handle, "web"), DemoStatus::Running);
    // Its master killed, Apache's restart finds its ports held: FATAL.
    stub.set("apache2", "FATAL");
    let reading = Observation::Processes {
        infos: vec![info("apache2", "FATAL")],
        complete: false,
        taken: Instant::now(),
    };
    assert!(r.handle.observe(reading).await);
    let e = r
        .handle
        .command(Command::Cleanup(protocol::CleanupRequest {
            older_than_secs: None,
            statuses: vec![DemoStatus::Fatal],
            dry_run: true,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::SharedFailure);
    assert_eq!(
        e.message,
        "cleanup destroys nothing while Apache is FATAL (a shared part): fix it first"
    );
    let snap = r.handle.snapshot();
    assert_eq!(snap.demos["web"].status, DemoStatus::Unknown);
    assert_eq!(snap.demos["web"].reason, "Apache is FATAL");
    assert_eq!(snap.demos["p"].status, DemoStatus::Fatal, "its own failure");
    assert!(r.layout.demo_dir("web").is_dir() && r.layout.demo_dir("p").is_dir());
}

/// A process demo whose record says what the operator wanted and when it expires.
fn put_demo_with(layout: &Layout, name: &str, wanted: Wanted, expires_at: Option<u64>) {
    put_demo(layout, name, Phase::Installed);
    let mut r = store::read_record(layout, name).unwrap();
    r.wanted = wanted;
    r.expires_at = expires_at;
    store::write_record(layout, name, &r).unwrap();
}

/// Waits until the actor has served everything sent before (the inbox is in order).
async fn sync(h: &Handle) {
    let _ = h.command(Command::Stop("nope".into())).await;
}

#[tokio::test(start_paused = true)]
async fn a_demo_expires_within_the_minute_of_its_time_and_is_stopped() {
    let stub = Arc::new(Stub::with(&[("a", "RUNNING"), ("b", "RUNNING")]));
    let mut r = run(stub.clone(), |l| {
        put_demo_with(l, "a", Wanted::Running, Some(T0 + 3600));
        put_demo_with(l, "b", Wanted::Running, None);
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3599)).await;
    sync(&r.handle).await;
    assert_eq!(
        status(&r.handle, "a"),
        DemoStatus::Running,
        "not before its time"
    );
    assert!(!drain(&mut r.events).contains(&EventKind::Expired));

    tokio::time::sleep(Duration::from_secs(61)).await;
    sync(&r.handle).await;
    assert_eq!(
        status(&r.handle, "a"),
        DemoStatus::Stopped,
        "within the minute"
    );
    assert!(drain(&mut r.events).contains(&EventKind::Expired));
    let rec = store::read_record(&r.layout, "a").unwrap();
    assert_eq!(
        rec.wanted,
        Wanted::Stopped,
        "a fresh supervisord must not bring it back"
    );
    assert_eq!(rec.expires_at, None, "it expires once");
    assert_eq!(
        status(&r.handle, "b"),
        DemoStatus::Running,
        "b never expires"
    );

    // And not again.
    tokio::time::sleep(Duration::from_secs(600)).await;
    sync(&r.handle).await;
    assert_eq!(stub.calls().iter().filter(|c| *c == "stop a").count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_expiry_passed_while_showroomd_was_down_fires_at_start_and_destroy_is_a_setting() {
    let stub = Arc::new(Stub::with(&[("a", "RUNNING"), ("b", "STOPPED")]));
    let mut r = run_with(
        stub,
        |c| c.expire_action = crate::config::ExpireAction::Destroy,
        |l| {
            put_demo_with(l, "a", Wanted::Running, Some(T0 - 10));
            put_demo_with(l, "b", Wanted::Stopped, Some(T0 + 120));
        },
    )
    .await;
    sync(&r.handle).await;
    assert!(!r.handle.snapshot().demos.contains_key("a"));
    assert!(!r.layout.demo_dir("a").exists());
    let events = drain(&mut r.events);
    assert!(events.contains(&EventKind::Expired), "{events:?}");
    assert!(events.contains(&EventKind::Destroyed), "{events:?}");

    // `expire never` keeps b past its old time.
    let done = r.handle.command(Command::Expire("b".into(), None)).await;
    assert_eq!(done, Ok(Response::Done));
    tokio::time::sleep(Duration::from_secs(300)).await;
    sync(&r.handle).await;
    assert!(r.handle.snapshot().demos.contains_key("b"));
    assert_eq!(store::read_record(&r.layout, "b").unwrap().expires_at, None);
}

#[tokio::test(start_paused = true)]
async fn a_fresh_supervisord_brings_back_exactly_the_demos_wanted_running() {
    let stub = Arc::new(Stub::default());
    {
        let mut s = stub.inner.lock().unwrap();
        s.fresh = true;
        s.fail_start.insert("c".into());
    }
    let mut r = run_with(
        stub.clone(),
        |c| c.restore_jobs = 2,
        |l| {
            for n in ["a", "b", "c", "e"] {
                put_demo_with(l, n, Wanted::Running, None);
            }
            put_demo_with(l, "d", Wanted::Stopped, None);
        },
    )
    .await;
    // Three batches of two at most: sync after each could interleave; wait for the last.
    for _ in 0..4 {
        sync(&r.handle).await;
    }
    let calls = stub.calls();
    for n in ["a", "b", "c", "e"] {
        assert!(
            calls.contains(&format!("start {n}")),
            "{n} started: {calls:?}"
        );
    }
    assert!(
        !calls.contains(&"start d".to_string()),
        "d was wanted stopped"
    );
    for n in ["a", "b", "e"] {
        assert_eq!(status(&r.handle, n), DemoStatus::Running, "{n}");
    }
    assert_eq!(status(&r.handle, "d"), DemoStatus::Stopped);
    assert_ne!(status(&r.handle, "c"), DemoStatus::Running);
    let events = drain(&mut r.events);
    assert_eq!(
        events.iter().filter(|e| **e == EventKind::Started).count(),
        3
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == EventKind::StartFailed)
            .count(),
        1
    );
    assert_eq!(
        store::read_record(&r.layout, "c").unwrap().wanted,
        Wanted::Running,
        "a demo that failed to come back is tried again at the next fresh start"
    );
}

#[tokio::test(start_paused = true)]
async fn a_running_supervisord_picked_up_starts_nothing() {
    let stub = Arc::new(Stub::with(&[("a", "STOPPED")]));
    let r = run(stub.clone(), |l| {
        put_demo_with(l, "a", Wanted::Running, None)
    })
    .await;
    sync(&r.handle).await;
    assert!(!stub.calls().iter().any(|c| c.starts_with("start")));
    assert_eq!(status(&r.handle, "a"), DemoStatus::Stopped);
}

#[tokio::test(start_paused = true)]
async fn start_and_stop_record_the_wanted_state() {
    let stub = Arc::new(Stub::with(&[("a", "STOPPED")]));
    let r = run(stub, |l| put_demo(l, "a", Phase::Installed)).await;
    let wanted = |r: &Running| store::read_record(&r.layout, "a").unwrap().wanted;
    assert_eq!(wanted(&r), Wanted::Stopped);
    r.handle.command(Command::Start("a".into())).await.unwrap();
    assert_eq!(wanted(&r), Wanted::Running);
    assert_eq!(r.handle.snapshot().list()[0].wanted, Wanted::Running);
    r.handle.command(Command::Stop("a".into())).await.unwrap();
    assert_eq!(wanted(&r), Wanted::Stopped);
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
    let (mut actor, _handle) = Actor::new(
        Arc::new(cfg),
        stub.clone(),
        Arc::new(crate::sandbox::Sandbox::off()),
        CancellationToken::new(),
    );
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
    let (actor, handle) = Actor::start(
        Arc::new(cfg),
        stub.clone(),
        Arc::new(crate::sandbox::Sandbox::off()),
        CancellationToken::new(),
    )
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

/// A start's wait for its process runs beside the actor: starts of other
/// demos overlap, a stop of another demo is answered meanwhile, and a
/// request for the demo being started waits for that start, in order.
#[tokio::test(start_paused = true)]
async fn a_start_waits_beside_the_actor_and_its_demo_requests_keep_their_order() {
    use std::time::Duration;
    let stub = Arc::new(Stub::with(&[
        ("a", "STOPPED"),
        ("b", "STOPPED"),
        ("c", "RUNNING"),
    ]));
    let r = run(stub.clone(), |l| {
        for n in ["a", "b", "c"] {
            put_demo(l, n, Phase::Installed);
        }
    })
    .await;
    stub.inner.lock().unwrap().start_takes = Duration::from_secs(1);
    let t0 = tokio::time::Instant::now();
    let cmd = |c: Command| {
        let h = r.handle.clone();
        tokio::spawn(async move { h.command(c).await })
    };
    let start_a = cmd(Command::Start("a".into()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let start_b = cmd(Command::Start("b".into()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Sent while a's start waits: held until it ends, then served.
    let stop_a = cmd(Command::Stop("a".into()));
    tokio::time::sleep(Duration::from_millis(10)).await;

    let stopped_c = r.handle.command(Command::Stop("c".into())).await;
    assert_eq!(stopped_c.unwrap(), Response::Done);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "the stop of c waited {:?} behind the starts",
        t0.elapsed()
    );
    assert_eq!(status(&r.handle, "c"), DemoStatus::Stopped);

    assert_eq!(start_a.await.unwrap().unwrap(), Response::Done);
    assert_eq!(start_b.await.unwrap().unwrap(), Response::Done);
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "two starts of 1 s each took {:?}: one after the other",
        t0.elapsed()
    );
    assert_eq!(stop_a.await.unwrap().unwrap(), Response::Done);
    assert_eq!(status(&r.handle, "a"), DemoStatus::Stopped);
    assert_eq!(status(&r.handle, "b"), DemoStatus::Running);
    let calls = stub.calls();
    let pos = |c: &str| {
        calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{c} in {calls:?}"))
    };
    assert!(pos("start a") < pos("stop a"), "{calls:?}");
    assert!(pos("starting b") < pos("start a"), "{calls:?}");
    assert!(pos("stop c") < pos("start a"), "{calls:?}");
}

/// A supervisord-wide request sent while a start waits is served once it ended.
#[tokio::test(start_paused = true)]
async fn a_request_on_every_demo_waits_for_the_starts_under_way() {
    use std::time::Duration;
    let stub = Arc::new(Stub::with(&[("a", "STOPPED")]));
    let r = run(stub.clone(), |l| put_demo(l, "a", Phase::Installed)).await;
    stub.inner.lock().unwrap().start_takes = Duration::from_secs(1);
    let h = r.handle.clone();
    let start = tokio::spawn(async move { h.command(Command::Start("a".into())).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = r
        .handle
        .command(Command::Cleanup(protocol::CleanupRequest {
            older_than_secs: None,
            statuses: vec![DemoStatus::Running],
            dry_run: true,
        }))
        .await
        .unwrap();
    // The dry run saw a running: its start was done before the cleanup chose.
    let Response::Cleanup(report) = report else {
        panic!("a cleanup report")
    };
    assert_eq!(report.destroyed, vec!["a".to_owned()]);
    assert_eq!(start.await.unwrap().unwrap(), Response::Done);
}
