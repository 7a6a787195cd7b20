//! Tests of deploy jobs: real scripts in real process groups, their output read in chunks and cut, slow readers told what they lost, timeouts and leftovers that leave no child behind (checked in /proc), params read from the script.

use super::*;

async fn run_script(body: &str, timeout: Duration) -> (Outcome, Vec<String>) {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("demo_x.sh");
    std::fs::write(&script, body).unwrap();
    let (tx, mut rx) = mpsc::channel(1000);
    let job = Job {
        script,
        cwd: d.path().to_owned(),
        env: vec![("PORT".into(), "20000".into())],
        timeout,
        log: d.path().join("log"),
        log_max_bytes: 1 << 20,
        pgid_file: d.path().join("pgid"),
        sandbox: std::sync::Arc::new(crate::sandbox::Sandbox::off()),
        seen_at: None,
        name: "x".into(),
        limits: Default::default(),
    };
    let outcome = run(job, tx, CancellationToken::new()).await;
    let mut lines = vec![];
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    (outcome, lines)
}

#[tokio::test]
async fn output_and_env_come_through() {
    let (o, lines) = run_script(
        "echo port=$PORT; echo oops >&2; exit 0",
        Duration::from_secs(10),
    )
    .await;
    assert!(o.success, "{o:?}");
    assert!(lines.contains(&"port=20000".to_string()));
    assert!(lines.contains(&"oops".to_string()));
}

#[tokio::test]
async fn failure_keeps_the_tail() {
    let body = "for i in $(seq 1 50); do echo line $i; done; exit 3";
    let (o, _) = run_script(body, Duration::from_secs(10)).await;
    assert!(!o.success);
    assert_eq!(o.tail.len(), TAIL_LINES);
    assert_eq!(o.tail.last().unwrap(), "line 50");
    assert!(o.how.contains('3'), "{}", o.how);
}

/// The pids a script printed as `pid=N`.
fn pids(lines: &[String]) -> Vec<i32> {
    let pids: Vec<i32> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("pid=")?.parse().ok())
        .collect();
    assert!(!pids.is_empty(), "the script printed its pids: {lines:?}");
    pids
}

/// Asserts that each process is gone (or a zombie nobody reaped yet) within 2 s.
async fn assert_gone(pids: &[i32]) {
    for pid in pids {
        let dead = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let t0 = std::time::Instant::now();
        while !dead() {
            assert!(
                t0.elapsed() < Duration::from_secs(2),
                "process {pid} still runs"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_script_past_its_time_is_killed_with_its_children() {
    let t0 = std::time::Instant::now();
    let body = "sleep 300 & echo pid=$!; echo pid=$$; sleep 300";
    let (o, lines) = run_script(body, Duration::from_millis(300)).await;
    assert!(!o.success);
    assert!(o.how.contains("killed"), "{}", o.how);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_gone(&pids(&lines)).await;
}

#[tokio::test]
async fn a_background_child_does_not_hold_the_job_open() {
    let t0 = std::time::Instant::now();
    let (o, lines) = run_script(
        "sleep 300 &\necho pid=$!\necho done",
        Duration::from_secs(60),
    )
    .await;
    assert!(o.success, "{o:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_gone(&pids(&lines)).await;
}

#[tokio::test]
async fn a_script_that_closes_its_output_still_meets_its_deadline() {
    let t0 = std::time::Instant::now();
    let (o, _) = run_script(
        "echo before\nexec >/dev/null 2>&1\nsleep 300",
        Duration::from_millis(500),
    )
    .await;
    assert!(!o.success);
    assert!(o.how.contains("killed"), "{}", o.how);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

fn split(chunks: &[&[u8]]) -> Vec<String> {
    let mut s = Splitter::default();
    let mut out = vec![];
    for c in chunks {
        s.push(c, &mut |l| out.push(l));
    }
    s.finish(&mut |l| out.push(l));
    out
}

#[test]
fn output_is_cut_at_newlines_and_carriage_returns() {
    assert_eq!(split(&[b"a\nb\r\n\nc"]), ["a", "b", "", "c"]);
    assert_eq!(
        split(&[b"\r10%\r", b"50%\r100%\n", b"done\n"]),
        ["10%", "50%", "100%", "done"]
    );
    let long = vec![b'x'; MAX_LINE * 3];
    let lines = split(&[&long, &long, b"\nnext\n"]);
    assert_eq!(
        lines.len(),
        2,
        "{:?}",
        lines.iter().map(String::len).collect::<Vec<_>>()
    );
    assert!(lines[0].ends_with(&format!("[cut: {} more bytes of this line]", MAX_LINE * 5)));
    assert_eq!(lines[1], "next");
}

#[tokio::test]
async fn a_megabyte_line_without_newline_ends_well_before_the_deadline() {
    let t0 = std::time::Instant::now();
    let (o, lines) = run_script(
        "head -c 1000000 /dev/zero | tr '\\0' x; head -c 100000 /dev/urandom; exit 0",
        Duration::from_secs(30),
    )
    .await;
    assert!(o.success, "{o:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(
        lines[0].starts_with("xxx") && lines[0].contains("[cut:"),
        "{:.100}",
        lines[0]
    );
}

#[tokio::test]
async fn a_receiver_that_does_not_read_loses_lines_and_is_told_how_many() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("demo_x.sh");
    std::fs::write(&script, "seq 1 100000").unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let job = Job {
        script,
        cwd: d.path().to_owned(),
        env: vec![],
        timeout: Duration::from_secs(20),
        log: d.path().join("log"),
        log_max_bytes: 64 * 1024,
        pgid_file: d.path().join("pgid"),
        sandbox: std::sync::Arc::new(crate::sandbox::Sandbox::off()),
        seen_at: None,
        name: "x".into(),
        limits: Default::default(),
    };
    let o = run(job, tx, CancellationToken::new()).await;
    assert!(o.success, "{o:?}");
    assert_eq!(o.tail.last().unwrap(), "100000");
    let mut lines = vec![];
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    assert_eq!(lines.len(), 16);
    assert!(
        lines
            .last()
            .unwrap()
            .contains("lines dropped: this client read too slowly"),
        "{lines:?}"
    );
    // The log keeps its end, under its cap, and says what it cut.
    let log = std::fs::read_to_string(d.path().join("log")).unwrap();
    assert!(log.len() <= 64 * 1024, "{}", log.len());
    // Each line with its time first.
    let last: Vec<&str> = log.lines().rev().take(2).collect();
    assert!(
        last[0].ends_with("Z 100000") && last[1].ends_with("Z 99999"),
        "{last:?}"
    );
    let first = log.lines().next().unwrap();
    assert!(
        first.starts_with("showroomd: the first ") && first.contains("were cut"),
        "{first}"
    );
    let cut: usize = first.split_whitespace().nth(3).unwrap().parse().unwrap();
    let stamp = "2026-12-02T05:20:01Z ".len();
    let whole: usize = (1..=100000)
        .map(|i: u32| stamp + i.to_string().len() + 1)
        .sum();
    assert_eq!(cut + log.len() - first.len() - 1, whole);
}

#[test]
fn a_leftover_script_is_killed_only_when_it_works_in_its_folder() {
    let d = tempfile::tempdir().unwrap();
    let demo = d.path().join("demo");
    std::fs::create_dir(&demo).unwrap();
    let spawn = |cwd: &Path| {
        std::process::Command::new("sleep")
            .arg("300")
            .current_dir(cwd)
            .process_group(0)
            .spawn()
            .unwrap()
    };
    use std::os::unix::process::CommandExt;
    let pgid_file = d.path().join("pgid");
    // A group working elsewhere (a reused id) is left alone.
    let mut other = spawn(d.path());
    std::fs::write(&pgid_file, other.id().to_string()).unwrap();
    assert!(!kill_leftover(&pgid_file, &demo));
    assert!(other.try_wait().unwrap().is_none());
    other.kill().unwrap();
    other.wait().unwrap();
    // The script's own group goes.
    let mut script = spawn(&demo);
    std::fs::write(&pgid_file, script.id().to_string()).unwrap();
    assert!(kill_leftover(&pgid_file, &demo));
    assert!(!script.wait().unwrap().success());
    assert!(!pgid_file.exists());
}

#[test]
fn params_are_read_from_the_comment() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("demo_a.sh");
    std::fs::write(&s, "#!/bin/bash\n# PARAMS: name, comment\necho\n").unwrap();
    assert_eq!(declared_params(&s), vec!["name", "comment"]);
    std::fs::write(d.path().join("demo_b.sh"), "echo\n").unwrap();
    std::fs::write(d.path().join("other.sh"), "echo\n").unwrap();
    let apps = available(d.path()).unwrap();
    assert_eq!(
        apps,
        vec![
            ("a".into(), vec!["name".into(), "comment".into()]),
            ("b".into(), vec![])
        ]
    );
    assert!(script_for(d.path(), "../x").is_none());
    assert!(script_for(d.path(), "a").is_some());
}
