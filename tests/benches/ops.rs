//! Benchmarks on the real components, each reported as a ratio against a baseline run in the same invocation: `showroomctl list` against `supervisorctl status` with 100 demos, a vhost start with 20 vhosts served (against Apache's config test), showroomd's memory and idle CPU (against no demos), and with the front door serving 20 demos the first 200 through a started demo's name (against through its port).
//!
//! Then issue 11's figures at N demos (`BENCH_N`, default 30) against the same at 10: a deploy, 20 deploys at once against one (and against their CPU over the cores, the least time any scheduling could take; and 20 deploys of a script that waits 1 s against one), a `stop` sent during that burst against one alone, a crash of a running demo until `watch` shows it, a restart of showroomd until `list` answers, and supervisord's idle CPU.
//!
//! Also, under abuse (issue 10): `showroomctl list` and showroomd's memory while 5,000 idle connections are held (against none), and a deploy whose script prints one 1 MB line (against one that prints nothing).
//!
//! And issue 22's (`-- frontdoor-load`): with 20 demos served, one asked by name through the front door against its own port, with and without basic auth; requests lost while 15 demos stop and start, and while the certificate is renewed on disk.
//!
//! Run with `bash tests/bench.sh` (it builds the release binaries first); `cargo bench -p showroom-tests --bench ops -- WORD` runs only the figures whose name has WORD (`list`, `vhost`, `frontdoor`, `scale`, `abuse`; `bash tests/bench_abuse.sh` is `-- abuse`). `BENCH_RUNS` sets the runs per figure (default 15).

// A report printed for a person: stdout is where it belongs.
#![allow(clippy::print_stdout)]

#[path = "../e2e/harness.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{hold_connections, http_get, http_get_host, Hammer, Options, Showroom};

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
}

fn timed(mut f: impl FnMut()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// (resident KiB, CPU ticks used so far) of a process, from /proc.
fn rss_and_ticks(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat; here 12 and 13, after pid and comm.
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, ticks)
}

/// CPU ticks (showroomd, supervisord) spent over `window` while nobody asks anything.
fn idle_ticks(s: &Showroom, window: Duration) -> (u64, u64) {
    let daemon = s.daemon_pid().unwrap();
    let sup = s.supervisord_pid().unwrap() as u32;
    let before = (rss_and_ticks(daemon).1, rss_and_ticks(sup).1);
    std::thread::sleep(window);
    (
        rss_and_ticks(daemon).1 - before.0,
        rss_and_ticks(sup).1 - before.1,
    )
}

/// How long a just-started demo stays polled often (showroomd's HOT_FOR, 5 s), and a margin.
const SETTLE: Duration = Duration::from_secs(7);

fn list_against_supervisorctl() {
    // showroomd's own polling defaults, as a demo host runs it.
    let s = Showroom::with(Options {
        port_min: Some(23000),
        poll_moving_ms: 200,
        sweep_secs: 30,
        ..Options::default()
    });
    let pid = s.daemon_pid().unwrap();
    // One full sweep falls in each window.
    let idle = Duration::from_secs(30);
    let (rss_empty, _) = rss_and_ticks(pid);
    let ticks_empty = idle_ticks(&s, idle);

    let mut deploys = vec![];
    for i in 0..100 {
        let name = format!("d{i:03}");
        deploys.push(timed(|| {
            s.ok(&["deploy", "test1", &name]);
        }));
    }
    for i in 0..10 {
        s.ok(&["start", &format!("d{i:03}")]);
    }
    assert_eq!(s.installed().len(), 100);
    let conf = s.state.join("supervisor/supervisord.conf");
    let (mut list, mut list_json, mut sup) = (vec![], vec![], vec![]);
    for _ in 0..runs() {
        list.push(timed(|| {
            s.ok(&["list"]);
        }));
        list_json.push(timed(|| {
            s.ok(&["list", "--json"]);
        }));
        sup.push(timed(|| {
            let out = Command::new("supervisorctl")
                .arg("-c")
                .arg(&conf)
                .arg("status")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            // The 100 demos and apache2.
            assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 101);
        }));
    }
    let (rss_full, _) = rss_and_ticks(pid);
    std::thread::sleep(SETTLE);
    let ticks_full = idle_ticks(&s, idle);

    let (list, list_json, sup) = (median(list), median(list_json), median(sup));
    let ratio = |d: Duration| d.as_secs_f64() / sup.as_secs_f64();
    println!("## 100 demos (10 running), median of {} runs", runs());
    println!("| command | wall time | ratio to supervisorctl status |");
    println!("| --- | --- | --- |");
    println!(
        "| supervisorctl -c STATE/supervisor/supervisord.conf status (baseline) | {} | 1.00 |",
        ms(sup)
    );
    println!("| showroomctl list | {} | {:.2} |", ms(list), ratio(list));
    println!(
        "| showroomctl list --json | {} | {:.2} |",
        ms(list_json),
        ratio(list_json)
    );
    println!(
        "| showroomctl deploy test1 NAME (median of 100) | {} | {:.2} |",
        ms(median(deploys.clone())),
        ratio(median(deploys))
    );
    println!();
    println!("## showroomd, no demos (baseline) against 100 demos");
    println!("| figure | no demos | 100 demos | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| resident memory | {rss_empty} KiB | {rss_full} KiB | {:.2} |",
        rss_full as f64 / rss_empty as f64
    );
    let tick_ms = 1000
        / nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .unwrap()
            .unwrap() as u64;
    for (who, empty, full) in [
        ("showroomd", ticks_empty.0, ticks_full.0),
        ("supervisord", ticks_empty.1, ticks_full.1),
    ] {
        println!(
            "| {who} CPU while idle for {} s (default polling: 200 ms, sweep 30 s) | {} ms | {} ms | {:.2} |",
            idle.as_secs(),
            empty * tick_ms,
            full * tick_ms,
            full as f64 / empty.max(1) as f64
        );
    }
    println!();
}

fn vhost_start_with_20_served() {
    let s = Showroom::start(23200);
    for i in 0..20 {
        let name = format!("v{i:02}");
        s.ok(&["deploy", "testapache", &name]);
        s.ok(&["start", &name]);
    }
    s.ok(&["deploy", "testapache", "probe"]);
    let port_of = |name: &str| -> u16 {
        s.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()["port"]
            .as_u64()
            .unwrap() as u16
    };
    let probe = port_of("probe");
    let hammered = port_of("v00");
    let conf = s.state.join("apache/apache2.conf");

    let mut configtest = vec![];
    for _ in 0..runs() {
        configtest.push(timed(|| {
            let ok = Command::new("/usr/sbin/apache2")
                .arg("-t")
                .arg("-f")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok);
        }));
    }

    let hammer = Hammer::start(hammered);
    let (mut answered, mut first_200, mut stop) = (vec![], vec![], vec![]);
    for _ in 0..runs() {
        let t0 = Instant::now();
        s.ok(&["start", "probe"]);
        answered.push(t0.elapsed());
        while !matches!(http_get(probe, "/"), Some((200, ref body)) if body.contains("probe")) {
            assert!(t0.elapsed() < Duration::from_secs(30), "probe never served");
            std::thread::sleep(Duration::from_millis(1));
        }
        first_200.push(t0.elapsed());
        stop.push(timed(|| {
            s.ok(&["stop", "probe"]);
        }));
    }
    let (ok, failed) = hammer.finish();

    let base = median(configtest);
    let ratio = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
    println!(
        "## A vhost demo started while Apache serves 20 others, median of {} runs",
        runs()
    );
    println!("| figure | wall time | ratio to apache2 -t |");
    println!("| --- | --- | --- |");
    println!(
        "| apache2 -t -f STATE/apache/apache2.conf (baseline) | {} | 1.00 |",
        ms(base)
    );
    let answered = median(answered);
    let first_200 = median(first_200);
    let stop = median(stop);
    println!(
        "| showroomctl start probe (until it answers) | {} | {:.2} |",
        ms(answered),
        ratio(answered)
    );
    println!(
        "| showroomctl start probe to first HTTP 200 | {} | {:.2} |",
        ms(first_200),
        ratio(first_200)
    );
    println!(
        "| showroomctl stop probe | {} | {:.2} |",
        ms(stop),
        ratio(stop)
    );
    println!();
    println!(
        "Requests to v00 during the {} starts and {} stops: {} answered 200, {} failed.",
        runs(),
        runs(),
        ok,
        failed
    );
}

/// The large N of the scale figures; the baseline is 10.
fn bench_n() -> usize {
    std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .max(11)
}

/// One scale point: the figures of issue 11 at the number of demos installed now.
struct Point {
    deploy: Duration,
    burst: Duration,
    /// The burst's CPU (every process on the host) over the cores: the least
    /// wall time any scheduling of that work could take.
    burst_cpu_floor: Duration,
    /// A deploy whose script mostly waits (1 s, as a download does), alone and 20 at once.
    waiting_deploy: Duration,
    waiting_burst: Duration,
    stop_alone: Duration,
    stop_in_burst: Duration,
    crash_seen: Option<Duration>,
    restart_to_list: Duration,
    sup_idle_pct: f64,
}

/// How long a crash may go unseen before the figure says so: an event takes
/// milliseconds; past this, only the sweep (`sweep_secs`, 300 s) would see it.
const CRASH_LIMIT: Duration = Duration::from_secs(40);

/// Deploys of `test1`, the seed's: a script that does nearly nothing, so its
/// deploy is all showroom's own work.
const TEST1: &[&str] = &["test1"];
/// Deploys of a script that waits 1 s (as a download does) and does as little.
const WAITS: &[&str] = &["slow", "--param", "seconds=1"];

/// (busy, total) CPU ticks of the whole host so far, from /proc/stat.
fn host_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    let total: u64 = v.iter().sum();
    (total - v[3] - v[4], total)
}

fn deploy_many(s: &Showroom, prefix: &str, count: usize, app: &[&str]) -> Duration {
    let t0 = Instant::now();
    let mut jobs: Vec<_> = (0..count)
        .map(|i| {
            let name = format!("{prefix}{i:02}");
            let mut args = vec!["deploy", app[0], &name];
            args.extend(&app[1..]);
            Command::new(harness::bin("showroomctl"))
                .arg("--socket")
                .arg(&s.socket)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for j in &mut jobs {
        assert!(j.wait().unwrap().success(), "a deploy of the burst failed");
    }
    t0.elapsed()
}

fn destroy_many(s: &Showroom, prefix: &str, count: usize) {
    for i in 0..count {
        s.ok(&["destroy", &format!("{prefix}{i:02}")]);
    }
}

fn measure_point(s: &mut Showroom, tag: &str) -> Point {
    // The steady state: what was just deployed or started is no longer in motion.
    std::thread::sleep(SETTLE);
    let mut deploys = vec![];
    for i in 0..runs().min(5) {
        let name = format!("{tag}one{i}");
        deploys.push(timed(|| {
            s.ok(&["deploy", "test1", &name]);
        }));
        s.ok(&["destroy", &name]);
    }
    let before = host_ticks();
    let burst = deploy_many(s, &format!("{tag}b"), 20, TEST1);
    let after = host_ticks();
    destroy_many(s, &format!("{tag}b"), 20);
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    let tick_ms = 1000
        / nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .unwrap()
            .unwrap() as u64;
    let burst_cpu_floor = Duration::from_millis((after.0 - before.0) * tick_ms / cores);

    let mut waiting = vec![];
    for i in 0..3 {
        let name = format!("{tag}w{i}");
        waiting.push(timed(|| {
            s.ok(&["deploy", "slow", &name, "--param", "seconds=1"]);
        }));
        s.ok(&["destroy", &name]);
    }
    let waiting_burst = deploy_many(s, &format!("{tag}v"), 20, WAITS);
    destroy_many(s, &format!("{tag}v"), 20);

    s.ok(&["start", "probe"]);
    let stop_alone = timed(|| {
        s.ok(&["stop", "probe"]);
    });
    s.ok(&["start", "probe"]);
    let stop_in_burst = std::thread::scope(|scope| {
        let burst = scope.spawn(|| deploy_many(s, &format!("{tag}c"), 20, TEST1));
        // Let the burst reach showroomd first.
        std::thread::sleep(Duration::from_millis(200));
        let d = timed(|| {
            s.ok(&["stop", "probe"]);
        });
        burst.join().unwrap();
        d
    });
    destroy_many(s, &format!("{tag}c"), 20);

    // A demo that nobody is polling (out of the poller's "moving" set) dies.
    s.ok(&["start", "probe"]);
    std::thread::sleep(SETTLE);
    let mut watch = s.spawn_watch(&[]);
    let pid: i32 = s
        .supervisorctl(&["pid", "probe"])
        .trim()
        .parse()
        .expect("probe's pid");
    let t0 = Instant::now();
    // supervisord makes each program a process group leader: the script and its sleep go together.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    // Not seen in time is a figure, not a failure: `until`'s panic is caught, and kept quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let crash_seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        watch.until("probe's crash", CRASH_LIMIT, |l| {
            l.contains("probe") && l.contains("RUNNING->")
        });
    }))
    .ok()
    .map(|()| t0.elapsed());
    std::panic::set_hook(hook);
    drop(watch);
    s.ok(&["stop", "probe"]);

    s.stop_daemon();
    let checks_before = s.log_count("checks at start done");
    let restart_to_list = timed(|| s.start_daemon());
    // Idle means after the start's background checks (a reload, sweeps).
    s.wait_for("the checks at start", Duration::from_secs(120), || {
        s.log_count("checks at start done") > checks_before
    });
    std::thread::sleep(SETTLE);
    let (_, sup_ticks) = idle_ticks(s, Duration::from_secs(30));
    Point {
        deploy: median(deploys),
        burst,
        burst_cpu_floor,
        waiting_deploy: median(waiting),
        waiting_burst,
        stop_alone,
        stop_in_burst,
        crash_seen,
        restart_to_list,
        sup_idle_pct: (sup_ticks * tick_ms) as f64 / 30_000.0 * 100.0,
    }
}

/// Issue 11's figures at N demos against 10, in one run, with showroomd's default polling.
fn scale_figures() {
    let n = bench_n();
    let mut s = Showroom::with(Options {
        // showroomd's defaults (`poll_moving_ms`, `sweep_secs`).
        poll_moving_ms: 200,
        sweep_secs: 300,
        // Room for N demos and the bursts' 20, above the other figures' ports.
        extra_config: format!("port_min = 28000\nport_max = {}\n", 28000 + n + 40),
        extra_apps: vec!["slow"],
        ..Options::default()
    });
    assert!(
        28000 + n + 40 <= 29999,
        "BENCH_N={n} is over what ports 28000-29999 hold"
    );
    s.ok(&["deploy", "test1", "probe"]);
    for i in 0..9 {
        s.ok(&["deploy", "test1", &format!("n{i:04}")]);
    }
    let base = measure_point(&mut s, "x");
    for i in 9..n - 1 {
        if i % 100 == 0 {
            eprintln!("deployed {i} of {n}");
        }
        s.ok(&["deploy", "test1", &format!("n{i:04}")]);
    }
    // Half of them run, as on a demo host; their starts overlap, 25 at a time.
    let half: Vec<String> = (0..n - 1).step_by(2).map(|i| format!("n{i:04}")).collect();
    for chunk in half.chunks(25) {
        let mut starts: Vec<_> = chunk.iter().map(|d| s.spawn_ctl(&["start", d])).collect();
        for (d, st) in chunk.iter().zip(starts.iter_mut()) {
            assert_eq!(st.wait(Duration::from_secs(120)), Some(0), "start {d}");
        }
    }
    let big = measure_point(&mut s, "y");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("## {n} demos (half running) against 10 (baseline), showroomd's default polling");
    println!("| figure | 10 demos | {n} demos | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| 20 deploys at once against one deploy (same N) | {:.2} | {:.2} | |",
        ratio(base.burst, base.deploy),
        ratio(big.burst, big.deploy)
    );
    println!(
        "| the same against the burst's CPU over {} cores (1.00: no waiting anywhere) | {:.2} | {:.2} | |",
        std::thread::available_parallelism().unwrap(),
        ratio(base.burst, base.burst_cpu_floor),
        ratio(big.burst, big.burst_cpu_floor)
    );
    println!(
        "| 20 deploys at once against one, of a script that waits 1 s | {:.2} | {:.2} | |",
        ratio(base.waiting_burst, base.waiting_deploy),
        ratio(big.waiting_burst, big.waiting_deploy)
    );
    for (what, a, b) in [
        ("deploy test1 NAME (median)", base.deploy, big.deploy),
        ("20 deploys at once, all done", base.burst, big.burst),
        (
            "20 deploys at once: their CPU over the cores",
            base.burst_cpu_floor,
            big.burst_cpu_floor,
        ),
        (
            "deploy slow NAME --param seconds=1 (median of 3)",
            base.waiting_deploy,
            big.waiting_deploy,
        ),
        (
            "20 of those at once, all done",
            base.waiting_burst,
            big.waiting_burst,
        ),
        (
            "stop of a running demo, alone",
            base.stop_alone,
            big.stop_alone,
        ),
        (
            "stop sent during 20 deploys",
            base.stop_in_burst,
            big.stop_in_burst,
        ),
        (
            "showroomd restart until list answers",
            base.restart_to_list,
            big.restart_to_list,
        ),
    ] {
        println!("| {what} | {} | {} | {:.2} |", ms(a), ms(b), ratio(b, a));
    }
    let seen = |d: Option<Duration>| {
        d.map(ms)
            .unwrap_or_else(|| format!("not within {} s", CRASH_LIMIT.as_secs()))
    };
    println!(
        "| crash of an unpolled running demo until watch shows it | {} | {} | {} |",
        seen(base.crash_seen),
        seen(big.crash_seen),
        match (base.crash_seen, big.crash_seen) {
            (Some(a), Some(b)) => format!("{:.2}", ratio(b, a)),
            _ => "n/a".into(),
        }
    );
    println!(
        "| supervisord CPU while idle (30 s) | {:.2} % | {:.2} % | {:.2} |",
        base.sup_idle_pct,
        big.sup_idle_pct,
        big.sup_idle_pct / base.sup_idle_pct.max(0.01)
    );
    println!();
    println!("Issue 11's goals: deploy at N within 3x of 10; 20 at once within 3x of one; a stop during a burst, a crash until watch, a restart until list each within 1 s; supervisord idle at most 1 % of a core.");
    println!();
}

/// Descriptors showroomd has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn held_connections_and_long_lines() {
    let s = Showroom::with(Options {
        port_min: Some(23300),
        extra_apps: vec!["longline", "quiet"],
        poll_moving_ms: 200,
        sweep_secs: 30,
        ..Options::default()
    });
    let pid = s.daemon_pid().unwrap();
    let list_times = || -> Vec<Duration> {
        (0..runs())
            .map(|_| {
                timed(|| {
                    s.ok(&["list"]);
                })
            })
            .collect()
    };
    s.ok(&["deploy", "test1", "d0"]);
    let list_none = median(list_times());
    let (rss_none, _) = rss_and_ticks(pid);
    let fds_none = open_fds(pid);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connect = Instant::now();
    let held = rt.block_on(hold_connections(&s.socket, 5000));
    let connect = connect.elapsed();
    let list_held = median(list_times());
    let (rss_held, _) = rss_and_ticks(pid);
    let fds_held = open_fds(pid);
    drop(held);

    let deploy_times = |app: &str| -> Vec<Duration> {
        (0..runs())
            .map(|i| {
                let name = format!("{app}{i}");
                let d = timed(|| {
                    s.ok(&["deploy", app, &name]);
                });
                s.ok(&["destroy", &name]);
                d
            })
            .collect()
    };
    let quiet = median(deploy_times("quiet"));
    let longline = median(deploy_times("longline"));

    println!(
        "## Held connections: 5,000 idle against none, median of {} runs",
        runs()
    );
    println!("| figure | no connections held (baseline) | 5,000 held | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| showroomctl list | {} | {} | {:.2} |",
        ms(list_none),
        ms(list_held),
        list_held.as_secs_f64() / list_none.as_secs_f64()
    );
    println!(
        "| showroomd resident memory | {rss_none} KiB | {rss_held} KiB | {:.2} |",
        rss_held as f64 / rss_none as f64
    );
    println!("| showroomd open descriptors | {fds_none} | {fds_held} | - |");
    println!();
    println!(
        "5,000 connections opened in {} (each over max_connections takes the place of the longest-idle one).",
        ms(connect)
    );
    println!();
    println!(
        "## A deploy whose script prints one 1 MB line, median of {} runs",
        runs()
    );
    println!("| script | wall time | ratio |");
    println!("| --- | --- | --- |");
    println!("| prints nothing (baseline) | {} | 1.00 |", ms(quiet));
    println!(
        "| prints one 1 MB line without a newline | {} | {:.2} |",
        ms(longline),
        longline.as_secs_f64() / quiet.as_secs_f64()
    );
    println!();
}

/// Polls `host` on `port` from `t0` until it answers 200 with `needle`; how long that took.
fn first_200(port: u16, host: &str, needle: &str, t0: Instant) -> Duration {
    while !matches!(http_get_host(port, host, "/"), Some((200, ref b)) if b.contains(needle)) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{host} never served {needle}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    t0.elapsed()
}

/// A showroom with the front door on `front` (just above the demos'
/// ports, from `port_min`) and 20 vhost demos started, `v00` to `v19`.
fn twenty_served(port_min: u16, front: u16) -> Showroom {
    let s = Showroom::with(Options {
        port_min: Some(port_min),
        port_max: Some(front - 1),
        front_port: front,
        ..Options::default()
    });
    for i in 0..20 {
        let name = format!("v{i:02}");
        s.ok(&["deploy", "testapache", &name]);
        s.ok(&["start", &name]);
    }
    s
}

fn front_door_with_20_served() {
    let front = 23399;
    let s = twenty_served(23300, front);
    s.ok(&["deploy", "testapache", "probe"]);
    let probe = s.port_of("probe");
    let probe_host = format!("probe.localhost:{front}");
    let hammered = s.port_of("v00");
    let by_name = Hammer::by_name(front, &format!("v00.localhost:{front}"));
    let by_port = Hammer::start(hammered);
    let (mut via_port, mut via_name, mut answered) = (vec![], vec![], vec![]);
    for _ in 0..runs() {
        let t0 = Instant::now();
        // Both watched at once from the same instant: one run, two figures.
        let (port_t, name_t) = std::thread::scope(|sc| {
            let p = sc.spawn(|| first_200(probe, "localhost", "probe", t0));
            let n = sc.spawn(|| first_200(front, &probe_host, "probe", t0));
            s.ok(&["start", "probe"]);
            answered.push(t0.elapsed());
            (p.join().unwrap(), n.join().unwrap())
        });
        via_port.push(port_t);
        via_name.push(name_t);
        s.ok(&["stop", "probe"]);
    }
    let (name_ok, name_failed) = by_name.finish();
    let (port_ok, port_failed) = by_port.finish();
    let (via_port, via_name, answered) = (median(via_port), median(via_name), median(answered));
    println!(
        "## The front door serving 20 demos: a 21st started, median of {} runs",
        runs()
    );
    println!("| figure | wall time | ratio to through its port |");
    println!("| --- | --- | --- |");
    println!(
        "| start probe to first 200 through its port (baseline) | {} | 1.00 |",
        ms(via_port)
    );
    println!(
        "| start probe to first 200 through its name | {} | {:.2} |",
        ms(via_name),
        via_name.as_secs_f64() / via_port.as_secs_f64()
    );
    println!(
        "| showroomctl start probe (until it answers) | {} | {:.2} |",
        ms(answered),
        answered.as_secs_f64() / via_port.as_secs_f64()
    );
    println!();
    println!(
        "Requests to v00 during the {n} starts and {n} stops of probe: through its name {name_ok} answered 200, {name_failed} failed; through its port {port_ok} answered 200, {port_failed} failed.",
        n = runs()
    );
}

/// One sequential client for `secs`: a fresh connection a request (as the
/// other figures), `GET /` naming `host`, with `auth` as a basic
/// Authorization header; (answered 200, failed, each 200's latency).
fn load(port: u16, host: &str, auth: Option<&str>, secs: u64) -> (u64, u64, Vec<Duration>) {
    use std::io::{Read, Write};
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    let t0 = Instant::now();
    let header = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
    while t0.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        let got = (|| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            write!(c, "GET / HTTP/1.0\r\nHost: {host}\r\n{header}\r\n").ok()?;
            let mut buf = Vec::new();
            c.read_to_end(&mut buf).ok()?;
            Some(buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.0 200"))
        })();
        if got == Some(true) {
            ok += 1;
            lat.push(t.elapsed());
        } else {
            failed += 1;
        }
    }
    (ok, failed, lat)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

/// Issue 22's figures: with 20 demos served, one asked by name without
/// pause through the front door against its own port, with and without a
/// password; the requests lost while 15 demos stop and start again; and,
/// over HTTPS, while the certificate is swapped on disk 5 times.
fn front_door_load() {
    let front = 16199;
    let secs = 5;
    let s = twenty_served(16100, front);
    let port = s.port_of("v00");
    let host = format!("v00.localhost:{front}");
    let _ = http_get_host(front, &host, "/");
    let direct = load(port, "localhost", None, secs);
    let by_name = load(front, &host, None, secs);
    let mut pw = Command::new(harness::bin("showroomctl"))
        .arg("--socket")
        .arg(&s.socket)
        .args(["access", "v00", "--password", "ann"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut pw.stdin.take().unwrap(), b"secret\n").unwrap();
    assert!(pw.wait().unwrap().success());
    // "ann:secret" in base64.
    let auth = "YW5uOnNlY3JldA==";
    let t0 = Instant::now();
    while !matches!(http_get_host(front, &host, "/"), Some((401, _))) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "v00 never asked for a password"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let with_auth = load(front, &host, Some(auth), secs);
    s.ok(&["access", "v00", "--open"]);

    println!("## The front door under load (issue 22): 20 vhost demos served, one client asking v00 for {secs} s, one connection a request (release build, one run)");
    println!("| path | requests/s | p50 | p99 | failed | p50 ratio to its own port |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let base = pct(&mut direct.2.clone(), 0.5);
    for (what, (ok, failed, mut lat)) in [
        ("its own port (baseline)", direct),
        ("by name through the front door", by_name),
        ("by name, with basic auth (SHA-512 crypt)", with_auth),
    ] {
        let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
        println!(
            "| {what} | {:.0} | {} | {} | {failed} | {:.2} |",
            ok as f64 / secs as f64,
            ms(p50),
            ms(p99),
            p50.as_secs_f64() / base.as_secs_f64()
        );
    }
    println!();
    let t0 = std::time::Instant::now();
    while !matches!(http_get_host(front, &host, "/"), Some((200, _))) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "v00 never opened again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hammer = Hammer::by_name(front, &host);
    for i in 5..20 {
        s.ok(&["stop", &format!("v{i:02}")]);
    }
    for i in 5..20 {
        s.ok(&["start", &format!("v{i:02}")]);
    }
    let (ok, failed) = hammer.finish();
    println!("While 15 demos stopped and started again (each a reload of the front door and of the demos' Apache): {ok} requests to v00 by name answered 200, {failed} failed.");
    drop(s);

    // Over HTTPS, one demo, its certificate renewed on disk 5 times.
    let certs = tempfile::tempdir().unwrap();
    let domain = "showroom.localhost";
    let (c1, k1) = harness::wildcard_cert_of(certs.path(), domain, "first");
    let (live_c, live_k) = (certs.path().join("live.pem"), certs.path().join("live.key"));
    std::fs::copy(&c1, &live_c).unwrap();
    std::fs::copy(&k1, &live_k).unwrap();
    let (front, tls) = (16299, 16298);
    let s = Showroom::with(Options {
        port_min: Some(16200),
        port_max: Some(16297),
        front_port: front,
        extra_config: format!(
            "domain = \"{domain}\"\ntls_port = {tls}\ntls_cert = {live_c:?}\ntls_key = {live_k:?}\n"
        ),
        ..Options::default()
    });
    s.ok(&["deploy", "testapache", "v00"]);
    s.ok(&["start", "v00"]);
    let mut hammer = Command::new("python3")
        .arg("-c")
        .arg(HTTPS_HAMMER)
        .args([&tls.to_string(), &format!("v00.{domain}:{tls}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    for n in 0..5 {
        let (c, k) = harness::wildcard_cert_of(certs.path(), domain, &format!("gen{n}"));
        let seen = s.log_count("the front door's certificate changed on disk");
        // Both renamed into place, as a careful renewal hook does.
        std::fs::copy(&k, certs.path().join("k.tmp")).unwrap();
        std::fs::copy(&c, certs.path().join("c.tmp")).unwrap();
        std::fs::rename(certs.path().join("k.tmp"), &live_k).unwrap();
        std::fs::rename(certs.path().join("c.tmp"), &live_c).unwrap();
        let t0 = Instant::now();
        while s.log_count("the front door's certificate changed on disk") == seen {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "certificate {n} never served"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(hammer.stdin.take());
    let out = hammer.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("While the certificate was renewed on disk 5 times (each checked, then served after a graceful reload), a client asking v00 by name over HTTPS: {}", text.trim());
    println!();
}

/// Argv: PORT HOST. Asks HOST over HTTPS on 127.0.0.1:PORT, a connection a
/// request, until its stdin closes; prints what answered 200 and what did
/// not. The certificate is not verified: each renewal here is self-signed,
/// and what is counted is requests lost, not trust. In Python: the
/// workspace has no TLS crate, and a benchmark is no reason to add one.
const HTTPS_HAMMER: &str = r#"
import http.client, ssl, sys, select
port, host = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ok = failed = 0; errors = {}
while not select.select([sys.stdin], [], [], 0)[0]:
    try:
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse(); r.read(); c.close()
        if r.status == 200: ok += 1
        else: failed += 1; errors[r.status] = errors.get(r.status, 0) + 1
    except Exception as e:
        failed += 1; errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
print(f"{ok} answered 200, {failed} failed {errors if errors else ''}")
"#;

fn main() {
    harness::require_tools();
    println!("# showroom benchmarks (real supervisord, real Apache, release binaries)\n");
    // `cargo bench --bench ops -- scale` runs only the figures named by a word given
    // (`cargo bench` itself adds `--bench`).
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| words.is_empty() || words.iter().any(|w| name.contains(w.as_str()));
    let benches: [(&str, fn()); 6] = [
        ("list", list_against_supervisorctl),
        ("vhost", vhost_start_with_20_served),
        ("scale", scale_figures),
        ("abuse", held_connections_and_long_lines),
        ("frontdoor", front_door_with_20_served),
        ("frontdoor-load", front_door_load),
    ];
    for (name, f) in benches {
        if wanted(name) {
            f();
        }
    }
}
