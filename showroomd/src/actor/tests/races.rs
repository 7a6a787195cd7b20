//! No batch acts on a stale plan: each race of issue 18, on the stub; every test here fails on the code before the fix it names.

use std::time::Duration;

use super::*;
use crate::supervisor::Supervisord as _;

/// The scripts folder `run_with` gives the actor, beside the state folder.
fn scripts(l: &Layout) -> std::path::PathBuf {
    l.root().parent().unwrap().join("scripts")
}

/// An app whose deploy script writes a start script at once.
fn put_app(l: &Layout, app: &str) {
    std::fs::create_dir_all(scripts(l)).unwrap();
    std::fs::write(
        scripts(l).join(format!("demo_{app}.sh")),
        "echo 'exec sleep 30' > start.sh\n",
    )
    .unwrap();
}

/// The stub was called `first`, and `then` after it (its last call).
fn called_in_order(stub: &Stub, first: &str, then: &str) {
    let calls = stub.calls();
    let a = calls.iter().position(|c| c == first);
    let b = calls.iter().rposition(|c| c == then);
    assert!(
        matches!((a, b), (Some(a), Some(b)) if a < b),
        "{first:?} then {then:?} in {calls:?}"
    );
}

fn deploy_req(app: &str, name: &str) -> protocol::DeployRequest {
    protocol::DeployRequest {
        app: app.into(),
        name: name.into(),
        params: vec![],
        comment: String::new(),
        ttl_secs: None,
        memory: None,
        procs: None,
        sleep_after_secs: None,
    }
}

async fn deploy(h: &Handle, name: &str) -> Result<protocol::DemoInfo, protocol::ProtocolError> {
    let (progress, mut lines) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { while lines.recv().await.is_some() {} });
    h.deploy(deploy_req("app", name), progress).await
}

fn cleanup_req(statuses: Vec<DemoStatus>) -> protocol::CleanupRequest {
    protocol::CleanupRequest {
        older_than_secs: None,
        statuses,
        dry_run: false,
    }
}

fn spawn_cmd(
    h: &Handle,
    c: Command,
) -> tokio::task::JoinHandle<Result<Response, protocol::ProtocolError>> {
    let h = h.clone();
    tokio::spawn(async move { h.command(c).await })
}

/// A deploy never adopts a group supervisord has of its name (a failure's
/// leftover): it removes it and adds its own. Before: `ALREADY_ADDED`
/// counted as success, and the demo ran the leftover's section.
#[tokio::test]
async fn a_deploy_removes_a_leftover_group_of_its_name_rather_than_adopting_it() {
    let stub = Arc::new(Stub::default());
    let r = run(stub.clone(), |l| put_app(l, "app")).await;
    // Left by an earlier failure after the checks at start.
    stub.set("a", "RUNNING");
    deploy(&r.handle, "a").await.unwrap();
    // The leftover removed, then the demo's own program added.
    called_in_order(&stub, "remove a", "add_program a");
    assert_eq!(
        stub.process_info("a").await.unwrap().statename,
        "STOPPED",
        "the demo's own program, new and stopped, not the leftover running"
    );
}

/// A cleanup's leftovers are looked at again at its end: a deploy of the
/// same name since the plan owns the group now, and it stays. Before, the
/// cleanup removed it, and the deployed demo was left with no program.
#[tokio::test]
async fn a_deploy_of_a_name_whose_leftover_a_cleanup_planned_to_remove_keeps_its_program() {
    let stub = Arc::new(Stub::with(&[("old0", "STOPPED"), ("old1", "STOPPED")]));
    let r = run(stub.clone(), |l| {
        put_app(l, "app");
        put_demo(l, "old0", Phase::Installed);
        put_demo(l, "old1", Phase::Installed);
    })
    .await;
    stub.set("ghost", "STOPPED");
    // Each destroy takes a while: the deploy comes in during the cleanup.
    stub.inner.lock().unwrap().stop_takes = Duration::from_millis(400);
    let cleanup = spawn_cmd(
        &r.handle,
        Command::Cleanup(cleanup_req(vec![DemoStatus::Stopped])),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    deploy(&r.handle, "ghost").await.unwrap();
    let Response::Cleanup(report) = cleanup.await.unwrap().unwrap() else {
        panic!("a cleanup report")
    };
    assert_eq!(report.destroyed, vec!["old0".to_owned(), "old1".to_owned()]);
    assert!(
        !report.leftovers.iter().any(|l| l.contains("ghost")),
        "{report:?}"
    );
    assert!(
        stub.process_info("ghost").await.is_ok(),
        "the deployed demo's program is in supervisord: {:?}",
        stub.calls()
    );
    assert_eq!(status(&r.handle, "ghost"), DemoStatus::Stopped);
}

/// `cleanup --status STOPPED` checks each demo again at its turn: one an
/// operator started after the plan survives. Before, it was destroyed.
#[tokio::test(start_paused = true)]
async fn a_demo_started_after_a_cleanup_was_planned_survives_it() {
    let (stub, r) = run_demos(&[("old0", "STOPPED"), ("old1", "STOPPED"), ("x", "STOPPED")]).await;
    stub.inner.lock().unwrap().stop_takes = Duration::from_secs(1);
    let cleanup = spawn_cmd(
        &r.handle,
        Command::Cleanup(cleanup_req(vec![DemoStatus::Stopped])),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    r.handle.command(Command::Start("x".into())).await.unwrap();
    let Response::Cleanup(report) = cleanup.await.unwrap().unwrap() else {
        panic!("a cleanup report")
    };
    assert_eq!(report.destroyed, vec!["old0".to_owned(), "old1".to_owned()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(status(&r.handle, "x"), DemoStatus::Running);
}

/// 50 demos expiring together each stop beside the actor: a `stop` of
/// another demo waits for none of them (its own step, and less than one
/// expiry step more). Before, the 50 ran in one turn of the loop, ahead of
/// the inbox.
#[tokio::test(start_paused = true)]
async fn fifty_expiries_together_delay_a_stop_of_another_demo_by_one_step_at_most() {
    let names: Vec<String> = (0..50).map(|i| format!("e{i:02}")).collect();
    let mut procs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "RUNNING")).collect();
    procs.push(("x", "RUNNING"));
    let (stub, r) = run_demos(&procs).await;
    for n in &names {
        let expire = Command::Expire(n.clone(), Some(10));
        r.handle.command(expire).await.unwrap();
    }
    let step = Duration::from_millis(100);
    stub.inner.lock().unwrap().stop_takes = step;
    // Into the expiries: the first ones are done, most are still due.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let t0 = tokio::time::Instant::now();
    r.handle.command(Command::Stop("x".into())).await.unwrap();
    let waited = t0.elapsed();
    assert!(
        waited < step * 2,
        "the stop waited {waited:?}: behind an expiry step of {step:?}"
    );
    // And every one of them expires in the end.
    tokio::time::sleep(step * 60).await;
    for n in &names {
        assert_eq!(status(&r.handle, n), DemoStatus::Stopped, "{n}");
    }
}

/// A due expiry lets a request's work under way go first (supervisord
/// serves calls in turn: its stop would go between the request's calls),
/// but not for more than a minute past its time.
#[tokio::test(start_paused = true)]
async fn an_expiry_lets_a_request_under_way_go_first_for_a_minute_at_most() {
    let (stub, r) = run_demos(&[("a", "STOPPED"), ("e", "RUNNING")]).await;
    stub.inner.lock().unwrap().start_takes = Duration::from_secs(90);
    let start = spawn_cmd(&r.handle, Command::Start("a".into()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    r.handle
        .command(Command::Expire("e".into(), Some(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(status(&r.handle, "e"), DemoStatus::Running, "it waits");
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(
        status(&r.handle, "e"),
        DemoStatus::Stopped,
        "a minute late, it goes"
    );
    assert!(!start.is_finished(), "the start still runs");
    start.await.unwrap().unwrap();
}

/// A request on every demo (a cleanup's plan) held for a start under way is
/// a barrier: a later request does not overtake it, and a stream of starts
/// does not starve it. Before, it waited until no start ran at all.
#[tokio::test(start_paused = true)]
async fn a_held_request_on_every_demo_is_neither_overtaken_nor_starved() {
    let starts: Vec<String> = (0..5).map(|i| format!("s{i}")).collect();
    let mut procs = vec![("a", "STOPPED"), ("b", "RUNNING")];
    procs.extend(starts.iter().map(|n| (n.as_str(), "STOPPED")));
    let (stub, r) = run_demos(&procs).await;
    stub.inner.lock().unwrap().start_takes = Duration::from_secs(1);
    let t0 = tokio::time::Instant::now();
    let start_a = spawn_cmd(&r.handle, Command::Start("a".into()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut dry = cleanup_req(vec![DemoStatus::Running]);
    dry.dry_run = true;
    let h = r.handle.clone();
    let cleanup = tokio::spawn(async move {
        let report = h.command(Command::Cleanup(dry)).await;
        (report, tokio::time::Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let h = r.handle.clone();
    let stop_b = tokio::spawn(async move {
        h.command(Command::Stop("b".into())).await.unwrap();
        tokio::time::Instant::now()
    });
    // A start every 400 ms: one is always under way.
    let mut started = vec![];
    for n in &starts {
        started.push(spawn_cmd(&r.handle, Command::Start(n.clone())));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let (report, planned_at) = cleanup.await.unwrap();
    let Response::Cleanup(report) = report.unwrap() else {
        panic!("a cleanup report")
    };
    assert!(
        planned_at - t0 < Duration::from_millis(1500),
        "the cleanup waited {:?}: starved by the starts after it",
        planned_at - t0
    );
    // It saw the world before the requests after it: b still running.
    assert_eq!(report.destroyed, vec!["a".to_owned(), "b".to_owned()]);
    assert!(
        stop_b.await.unwrap() >= planned_at,
        "the stop of b overtook the cleanup"
    );
    start_a.await.unwrap().unwrap();
    for s in started {
        s.await.unwrap().unwrap();
    }
}

fn clone_req(src: &str, name: &str) -> protocol::CloneRequest {
    protocol::CloneRequest {
        src: src.into(),
        name: name.into(),
        comment: String::new(),
    }
}

fn spawn_clone(h: &Handle, src: &str, name: &str) -> Cloning {
    let (h, req) = (h.clone(), clone_req(src, name));
    tokio::spawn(async move {
        let (progress, mut lines) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move { while lines.recv().await.is_some() {} });
        h.clone_demo(req, progress).await
    })
}

type Cloning = tokio::task::JoinHandle<Result<protocol::DemoInfo, protocol::ProtocolError>>;

/// `clone src copy` of a running demo `src` (its app has a reconfigure
/// step), waiting for a deploy slot: every one is held until dropped.
async fn clone_waiting_for_a_slot() -> (
    Arc<Stub>,
    Running,
    tokio::sync::OwnedSemaphorePermit,
    Cloning,
) {
    let (stub, r) = run_clonable().await;
    let n = r.deploy_slots.available_permits() as u32;
    let slots = r.deploy_slots.clone().acquire_many_owned(n).await.unwrap();
    let clone = spawn_clone(&r.handle, "src", "copy");
    tokio::time::sleep(Duration::from_millis(300)).await;
    (stub, r, slots, clone)
}

/// A running demo `src` of an app that has a reconfigure step.
async fn run_clonable() -> (Arc<Stub>, Running) {
    let stub = Arc::new(Stub::with(&[("src", "RUNNING")]));
    let r = run(stub.clone(), |l| {
        put_demo(l, "src", Phase::Installed);
        std::fs::create_dir_all(scripts(l)).unwrap();
        std::fs::write(scripts(l).join("reconfigure_app.sh"), "true\n").unwrap();
    })
    .await;
    (stub, r)
}

/// A clone stops its source only once its copy can begin (a deploy slot
/// is its own): while it waits for one, the source runs on. Before, the
/// source was stopped at once and stayed down for the whole wait.
#[tokio::test]
async fn a_clone_stops_its_source_only_once_the_copy_can_begin_and_starts_it_again() {
    let (stub, r, slots, clone) = clone_waiting_for_a_slot().await;
    assert_eq!(status(&r.handle, "src"), DemoStatus::Running);
    assert!(
        !stub.calls().contains(&"stop src".to_string()),
        "the source was stopped while the clone waited for a slot: {:?}",
        stub.calls()
    );
    drop(slots);
    clone.await.unwrap().unwrap();
    // Stopped for its copy, then started again.
    called_in_order(&stub, "stop src", "start src");
    assert_eq!(status(&r.handle, "src"), DemoStatus::Running);
    assert_eq!(status(&r.handle, "copy"), DemoStatus::Stopped);
}

/// A clone cut short by showroomd's stop while it waits for a slot leaves
/// its source running. Before, the source stayed stopped though wanted running.
#[tokio::test]
async fn a_clone_cut_short_before_its_copy_leaves_its_source_running() {
    let (stub, r, _slots, clone) = clone_waiting_for_a_slot().await;
    r.jobs_cancel.cancel();
    assert!(clone.await.unwrap().is_err(), "the clone is cut short");
    assert_eq!(status(&r.handle, "src"), DemoStatus::Running);
    assert!(!stub.calls().contains(&"stop src".to_string()));
    assert!(!r.handle.snapshot().demos.contains_key("copy"));
}

/// A clone cut short by a crash after it stopped its source (its marker
/// names it): the next start starts the source again, as it is wanted
/// running, though supervisord ran on. Before, it stayed stopped.
#[tokio::test(start_paused = true)]
async fn a_start_after_a_clone_cut_short_starts_its_stopped_source_again() {
    let stub = Arc::new(Stub::with(&[("src", "STOPPED")]));
    let r = run(stub.clone(), |l| {
        put_demo(l, "src", Phase::Installed);
        let mut rec = record(Phase::Installed);
        rec.wanted = Wanted::Running;
        store::write_record(l, "src", &rec).unwrap();
        // The clone, cut short between its source's stop and its copy's end.
        put_demo(l, "copy", Phase::Deploying);
        std::fs::write(l.deploy_marker("copy"), "src").unwrap();
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        status(&r.handle, "src"),
        DemoStatus::Running,
        "{:?}",
        stub.calls()
    );
    assert!(
        !r.handle.snapshot().demos.contains_key("copy"),
        "the clone rolled back"
    );
}

/// One demo's slow supervisord call (a stop that takes 5 s, as a process
/// that ignores SIGTERM does) holds no request for another demo: the
/// actor decides and the stop runs beside it. Before, the actor awaited
/// `stopProcess` in its loop and a `stop` of another demo waited 5 s.
#[tokio::test(start_paused = true)]
async fn a_slow_stop_of_one_demo_holds_no_request_for_another() {
    let (stub, r) = run_demos(&[("a", "RUNNING"), ("b", "RUNNING"), ("c", "STOPPED")]).await;
    stub.inner.lock().unwrap().stop_takes = Duration::from_secs(5);
    let slow = spawn_cmd(&r.handle, Command::Stop("a".into()));
    // Its stopProcess is under way (and takes 5 s) before the others come.
    tokio::time::sleep(Duration::from_millis(10)).await;
    stub.inner.lock().unwrap().stop_takes = Duration::from_millis(100);
    let t0 = tokio::time::Instant::now();
    r.handle.command(Command::Stop("b".into())).await.unwrap();
    r.handle.command(Command::Start("c".into())).await.unwrap();
    let waited = t0.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "a stop and a start of other demos waited {waited:?} behind a's 5 s stop"
    );
    // a's own later request waits for its stop, in order, and sees it done.
    let again = spawn_cmd(&r.handle, Command::Start("a".into()));
    slow.await.unwrap().unwrap();
    again.await.unwrap().unwrap();
    assert_eq!(status(&r.handle, "a"), DemoStatus::Running);
    assert_eq!(status(&r.handle, "b"), DemoStatus::Stopped);
    assert_eq!(status(&r.handle, "c"), DemoStatus::Running);
}
