//! supervisord's process events, through the real listener (`showroomd --supervisor-events`) run by a real supervisord, reach showroomd's receiver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use showroomd::event_receiver::{Hint, Receiver};
use showroomd::layout::Layout;
use showroomd::supervisor::config::{
    render_main_with, render_programs, MainOptions, EVENTS_PROGRAM,
};
use showroomd::supervisor::{control, Supervisor};
use showroomd::Config;

use crate::harness::{bin, stop_showroom_in, tail, test_dir, Reaper};

/// A program that runs for a second, then fails.
const FLAKY: &str = "[program:flaky]\n\
    command=/bin/sh -c 'sleep 1; exit 3'\n\
    autostart=false\n\
    autorestart=false\n\
    startsecs=0\n\
    stdout_logfile=NONE\n\
    stderr_logfile=NONE\n";

/// A supervisord with showroom's event listener on a fresh folder; stopped on drop, pass or fail.
struct Sup {
    dir: tempfile::TempDir,
    state: PathBuf,
    layout: Layout,
    rpc: Supervisor,
    reaper: Reaper,
}

impl Sup {
    async fn start() -> Sup {
        let (dir, reaper) = test_dir("showroom-events");
        let state = dir.path().join("state");
        let layout = Layout::new(&state);
        layout.create_dirs().unwrap();
        let cfg = Config {
            state_dir: state.clone(),
            ..Config::default()
        };
        let opts = MainOptions {
            event_listener: Some(bin("showroomd")),
        };
        std::fs::write(
            layout.supervisord_conf(),
            render_main_with(&layout, &cfg, &showroomd::sandbox::Sandbox::off(), &opts).unwrap(),
        )
        .unwrap();
        let sections = BTreeMap::from([("flaky".to_owned(), FLAKY.to_owned())]);
        std::fs::write(layout.programs_conf(), render_programs(&sections)).unwrap();
        let rpc = Supervisor::new(layout.supervisor_socket());
        let sup = Sup {
            dir,
            state,
            layout,
            rpc,
            reaper,
        };
        control::start(&sup.layout, &cfg, &sup.rpc)
            .await
            .expect("supervisord starts");
        sup.wait_listener_running().await;
        sup
    }

    async fn wait_listener_running(&self) -> u32 {
        let t0 = Instant::now();
        loop {
            let info = self.rpc.process_info(EVENTS_PROGRAM).await.unwrap();
            if info.statename == "RUNNING" {
                return info.pid;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the listener is {} after 10 s\n{}",
                info.statename,
                self.listener_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn listener_log(&self) -> String {
        let p = self
            .layout
            .supervisor_logs()
            .join(format!("{EVENTS_PROGRAM}.stderr.log"));
        tail(&std::fs::read_to_string(p).unwrap_or_default(), 30)
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- listener log ---\n{}", self.listener_log());
        }
        stop_showroom_in(self.dir.path(), &self.state);
        self.reaper.done();
    }
}

/// Hints until `flaky` is reported in `last`, or panics after `limit`.
async fn hints_until(r: &mut Receiver, last: &[&str], limit: Duration) -> Vec<Hint> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut seen = vec![];
    loop {
        match tokio::time::timeout_at(deadline, r.recv()).await {
            Ok(Some(h)) => {
                let done = matches!(&h, Hint::Process(e) if e.program == "flaky" && last.contains(&e.state.as_str()));
                seen.push(h);
                if done {
                    return seen;
                }
            }
            Ok(None) => panic!("the receiver stopped; seen {seen:?}"),
            Err(_) => panic!("no {last:?} for flaky within {limit:?}; seen {seen:?}"),
        }
    }
}

fn states(hints: &[Hint]) -> Vec<String> {
    hints
        .iter()
        .filter_map(|h| match h {
            Hint::Process(e) if e.program == "flaky" => Some(format!("{}->{}", e.from, e.state)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_receiver_and_nobody_listening_stalls_nothing() {
    let sup = Sup::start().await;
    let listener_pid = sup.wait_listener_running().await;

    // Nobody listens yet: the listener must acknowledge and drop, and live on.
    sup.rpc.start_process("flaky", false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sup.rpc.process_info("flaky").await.unwrap().statename,
        "EXITED"
    );
    let info = sup.rpc.process_info(EVENTS_PROGRAM).await.unwrap();
    assert_eq!(
        (info.statename.as_str(), info.pid),
        ("RUNNING", listener_pid),
        "the listener was not restarted"
    );

    let mut r = Receiver::start(&sup.layout.events_socket()).expect("binding the events socket");
    let t0 = Instant::now();
    sup.rpc.start_process("flaky", false).await.unwrap();
    let hints = hints_until(&mut r, &["EXITED", "BACKOFF"], Duration::from_secs(10)).await;
    let took = t0.elapsed();
    assert_eq!(
        hints[0],
        Hint::Resync,
        "a new connection first says events may have been lost"
    );
    let seen = states(&hints);
    let running = seen
        .iter()
        .position(|s| s.ends_with("->RUNNING"))
        .unwrap_or_else(|| panic!("RUNNING in {seen:?}"));
    assert!(
        running < seen.len() - 1,
        "RUNNING before the exit: {seen:?}"
    );
    assert!(seen.contains(&"EXITED->STARTING".to_owned()), "{seen:?}");
    // The program runs for 1 s; its exit is reported well within another.
    assert!(
        took < Duration::from_secs(3),
        "start to exit reported in {took:?}"
    );
    let e = hints
        .iter()
        .rev()
        .find_map(|h| match h {
            Hint::Process(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(e.rpc_name(), "flaky:flaky");
    assert_eq!(
        sup.rpc.process_info(&e.rpc_name()).await.unwrap().statename,
        "EXITED"
    );

    // showroomd restarts: a new receiver on the same path; the listener reconnects by itself.
    drop(r);
    let mut r = Receiver::start(&sup.layout.events_socket()).unwrap();
    sup.rpc.start_process("flaky", false).await.unwrap();
    let hints = hints_until(&mut r, &["EXITED"], Duration::from_secs(10)).await;
    assert_eq!(hints[0], Hint::Resync);
    assert!(
        states(&hints).contains(&"STARTING->RUNNING".to_owned()),
        "{hints:?}"
    );
    assert_eq!(
        sup.rpc.process_info(EVENTS_PROGRAM).await.unwrap().pid,
        listener_pid
    );
    assert!(Path::new(&sup.layout.events_socket()).exists());
}
