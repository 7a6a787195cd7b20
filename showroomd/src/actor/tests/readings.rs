//! supervisord's and the poller's readings on the stub: transitions, late readings, events, a failed Apache.

use super::*;

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
async fn while_apache_fails_its_demos_are_unknown_and_cleanup_refuses() {
    let stub = Arc::new(Stub::with(&[("apache2", "RUNNING"), ("p", "FATAL")]));
    let r = run(stub.clone(), |l| {
        std::fs::create_dir_all(l.demo_dir("web")).unwrap();
        let vhost = "Listen 20001\n<VirtualHost *:20001>\n</VirtualHost>\n";
        std::fs::write(l.vhost("web"), vhost).unwrap();
        store::write_record(l, "web", &record(Phase::Installed)).unwrap();
        std::fs::write(l.apache_copy("web"), vhost).unwrap();
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
