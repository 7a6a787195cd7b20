//! A demo's life on the stub: expiry, and the demos wanted running after a fresh supervisord.

use super::*;

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
