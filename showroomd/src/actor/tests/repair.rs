//! The repairs at start on the stub: deploys cut short, lost or damaged records, the checks left for after `list` answers.

use super::*;

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
        std::os::unix::fs::symlink(l.vhost("gone"), l.apache_copy("gone")).unwrap();
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
        !r.layout.apache_copy("gone").exists(),
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
                    &[port],
                    &crate::sandbox::DemoRun {
                        name,
                        limits: Default::default(),
                        forward: vec![],
                    },
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
