//! Benchmarks on the real components, each reported as a ratio against a baseline run in the same invocation: `showroomctl list` against `supervisorctl status` with 100 demos, a vhost start with 20 vhosts served (against Apache's config test), showroomd's memory and idle CPU (against no demos), and with the front door serving 20 demos the first 200 through a started demo's name (against through its port).
//!
//! Run with `bash tests/bench.sh` (it builds the release binaries first). `BENCH_RUNS` sets the runs per figure (default 15); `BENCH_ONLY=list|vhost|frontdoor` runs one section.

// A report printed for a person: stdout is where it belongs.
#![allow(clippy::print_stdout)]

#[path = "../e2e/harness.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{http_get, http_get_host, Hammer, Options, Showroom};

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

/// How long a just-started demo stays polled often (showroomd's HOT_FOR), and a margin.
const SETTLE: Duration = Duration::from_secs(16);

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

fn front_door_with_20_served() {
    let front = 23399;
    let s = Showroom::with(Options {
        port_min: Some(23300),
        port_max: Some(23398),
        front_port: front,
        ..Options::default()
    });
    for i in 0..20 {
        let name = format!("v{i:02}");
        s.ok(&["deploy", "testapache", &name]);
        s.ok(&["start", &name]);
    }
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

fn main() {
    // `cargo bench` passes --bench; nothing to filter.
    harness::require_tools();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |section: &str| only.is_empty() || only == section;
    println!("# showroom benchmarks (real supervisord, real Apache, release binaries)\n");
    if run("list") {
        list_against_supervisorctl();
    }
    if run("vhost") {
        vhost_start_with_20_served();
    }
    if run("frontdoor") {
        front_door_with_20_served();
    }
}
