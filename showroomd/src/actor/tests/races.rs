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

fn deploy_req(app: &str, name: &str) -> protocol::DeployRequest {
    protocol::DeployRequest {
        app: app.into(),
        name: name.into(),
        params: vec![],
        comment: String::new(),
        ttl_secs: None,
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
    let calls = stub.calls();
    let removed = calls.iter().position(|c| c == "remove a");
    let added = calls.iter().rposition(|c| c == "add_program a");
    assert!(
        matches!((removed, added), (Some(r), Some(a)) if r < a),
        "the leftover removed, then the demo's own program added: {calls:?}"
    );
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
