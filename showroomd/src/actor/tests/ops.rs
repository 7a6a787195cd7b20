//! Start, stop and a deploy's program on the stub, and what may overlap: starts beside the actor, a stop between a cleanup's destroys.

use super::*;

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
    assert!(actor
        .plugin_missing_told
        .load(std::sync::atomic::Ordering::Relaxed));
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
    // x was RUNNING when the cleanup chose, STOPPED at its turn: checked
    // again then, it no longer matches and stays.
    assert_eq!(report.destroyed, names);
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
    assert_eq!(status(&r.handle, "x"), DemoStatus::Stopped);
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
