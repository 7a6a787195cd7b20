//! Day two at the terminal: `list` in a real terminal (tmux) and through a pipe, names that always get a URL, refusals that name their subject, questions before harm, and a host installed by systemd/README.md's steps.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use protocol::ErrorKind;

use crate::abuse::deploy_refused_raw;
use crate::harness::{bin, http_get, installed, repo_root, Options, Out, Showroom};

/// A tmux server of its own (its socket in the test's folder) with one
/// window of a fixed size running a plain shell in that folder; killed on drop.
struct Terminal {
    socket: PathBuf,
    dir: PathBuf,
    /// How many commands were run: each one's end is marked with its number.
    runs: usize,
}

impl Terminal {
    fn new(s: &Showroom, width: u16, height: u16) -> Terminal {
        assert!(
            installed("tmux"),
            "tmux is required (a real terminal): apt-get install tmux"
        );
        let dir = s.dir.path().to_owned();
        // A short command to type: the full paths would wrap the command line itself.
        let ctl = dir.join("ctl");
        std::fs::write(
            &ctl,
            format!(
                "#!/bin/sh\nexec {} --socket {} \"$@\"\n",
                bin("showroomctl").display(),
                s.socket.display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&ctl).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&ctl, perms).unwrap();
        // A server of its own each time: a killed one's socket may linger a moment.
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Terminal {
            socket: dir.join(format!("tmux-{n}.sock")),
            dir,
            runs: 0,
        };
        let (w, h) = (width.to_string(), height.to_string());
        let o = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-c",
            &t.dir.to_string_lossy(),
            "env -i PATH=/usr/bin:/bin TERM=xterm HOME=/nonexistent PS1='$ ' bash --norc --noprofile",
        ]);
        assert_eq!(o.code, 0, "tmux new-session: {}", o.stderr);
        t
    }

    fn tmux(&self, args: &[&str]) -> Out {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running tmux")
            .into()
    }

    /// The screen and its scrollback, wrapped lines joined back: a row
    /// that wrapped shows as one line longer than the width.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-E", "-"])
            .stdout
    }

    fn keys(&self, keys: &str) {
        assert_eq!(self.tmux(&["send-keys", "-l", keys]).code, 0);
        assert_eq!(self.tmux(&["send-keys", "Enter"]).code, 0);
    }

    /// Types `./ctl ARGS` and returns at once; `finish` waits for its end.
    fn start(&mut self, args: &str) -> usize {
        self.tmux(&["clear-history"]);
        self.keys("clear");
        self.runs += 1;
        let n = self.runs;
        self.keys(&format!("./ctl {args}; echo END-{n}:$?"));
        n
    }

    /// Waits until the screen shows `what`.
    #[track_caller]
    fn wait_for(&self, what: &str) -> String {
        let t0 = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{what:?} not on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for run `n` to end: its exit code and the lines it printed.
    #[track_caller]
    fn finish(&self, n: usize) -> (i32, Vec<String>) {
        let marker = format!("END-{n}:");
        let screen = self.wait_for(&format!("\n{marker}"));
        let lines: Vec<&str> = screen.lines().collect();
        let end = lines.iter().rposition(|l| l.starts_with(&marker)).unwrap();
        let begin = lines[..end]
            .iter()
            .rposition(|l| l.contains(&format!("echo {marker}")))
            .expect("the command line");
        let code = lines[end][marker.len()..].trim().parse().unwrap();
        (
            code,
            lines[begin + 1..end]
                .iter()
                .map(|l| l.to_string())
                .collect(),
        )
    }

    /// Runs `./ctl ARGS` to its end.
    #[track_caller]
    fn run(&mut self, args: &str) -> (i32, Vec<String>) {
        let n = self.start(args);
        self.finish(n)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// showroomctl through a pipe, with `env` set.
fn ctl_env(s: &Showroom, env: &[(&str, &str)], args: &[&str]) -> Out {
    Command::new(bin("showroomctl"))
        .arg("--socket")
        .arg(&s.socket)
        .args(args)
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("running showroomctl")
        .into()
}

fn width(line: &str) -> usize {
    line.chars().count()
}

#[test]
fn daytwo_list_fits_a_real_terminal_and_a_pipe_with_columns_and_filters_and_counts() {
    let s = Showroom::with(Options {
        port_min: Some(14000),
        front_port: 14999,
        ..Options::default()
    });
    let long = "for the ACME review on Thursday, with the new pricing page and the checkout flow";
    let names: Vec<String> = (0..30).map(|i| format!("feat-{i:02}")).collect();
    let mut deploys: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut args = vec!["deploy", "test1", n.as_str()];
            if i % 3 == 0 {
                args.extend(["--comment", long]);
            }
            if i % 5 == 0 {
                args.extend(["--ttl", "3d"]);
            }
            s.spawn_ctl(&args)
        })
        .collect();
    for d in &mut deploys {
        assert_eq!(d.wait(Duration::from_secs(120)), Some(0), "{:?}", d.seen);
    }
    s.ok(&["deploy", "testapache", "other-app"]);
    for n in &names[..4] {
        s.ok(&["start", n]);
    }

    for (w, h) in [(80u16, 50u16), (120, 50)] {
        let mut t = Terminal::new(&s, w, h);
        let (code, lines) = t.run("list");
        assert_eq!(code, 0, "{lines:?}");
        let table = lines.join("\n");
        for l in &lines {
            assert!(
                width(l) <= usize::from(w),
                "{w} columns, a line of {}:\n{table}",
                width(l)
            );
        }
        // A header, one line a demo, the count.
        assert_eq!(lines.len(), 1 + 31 + 1, "{w} columns:\n{table}");
        assert!(
            lines[0].starts_with("NAME") && lines[0].contains("STATUS"),
            "{table}"
        );
        for n in &names {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.starts_with(&format!("{n} ")))
                    .count(),
                1,
                "{n} at {w} columns:\n{table}"
            );
        }
        let row0 = lines.iter().find(|l| l.starts_with("feat-00 ")).unwrap();
        assert!(row0.contains("RUNNING"), "{table}");
        assert!(row0.contains("in 2d"), "a relative expiry:\n{table}");
        assert!(row0.contains('…'), "the comment is cut:\n{table}");
        assert!(
            !table.contains("T0") && !table.contains("Z "),
            "no RFC 3339 times:\n{table}"
        );
        assert_eq!(
            lines.last().unwrap(),
            "31 demos: 27 STOPPED, 4 RUNNING",
            "{table}"
        );
        // The URL is the first wide column to go.
        assert_eq!(
            table.contains("http://feat-00.localhost:14999/"),
            w == 120,
            "{table}"
        );
        eprintln!("list at {w} columns in tmux:\n{table}");
        if w == 80 {
            // -o wide prints every column, whatever the width: rows wrap.
            let (code, lines) = t.run("list -o wide");
            assert_eq!(code, 0);
            assert!(
                lines[0].contains("CREATED") && lines[0].contains("DEPLOY"),
                "{lines:?}"
            );
            assert!(lines.iter().any(|l| width(l) > 80), "{lines:?}");
        }
    }

    // Through a pipe, COLUMNS is the width.
    let o = ctl_env(&s, &[("COLUMNS", "60")], &["list"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for l in o.stdout.lines() {
        assert!(width(l) <= 60, "{}", o.stdout);
    }
    assert_eq!(o.stdout.lines().count(), 33, "{}", o.stdout);
    // Without it, the table scripts have always read: every column, no count.
    let o = ctl_env(&s, &[], &["list"]);
    assert_eq!(o.stdout.lines().count(), 32, "{}", o.stdout);
    assert!(
        o.stdout.lines().next().unwrap().contains("CREATED"),
        "{}",
        o.stdout
    );

    // Filters: a glob, statuses, an app; the count says of how many.
    let o = ctl_env(
        &s,
        &[("COLUMNS", "100")],
        &["list", "feat-0*", "--status", "RUNNING"],
    );
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1, "{}", o.stdout);
    assert_eq!(lines[5], "4 demos (of 31): 4 RUNNING", "{}", o.stdout);
    let o = ctl_env(
        &s,
        &[("COLUMNS", "100")],
        &["list", "--app", "testapache", "--status", "stopped"],
    );
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[1].starts_with("other-app "), "{}", o.stdout);
    assert_eq!(lines[2], "1 demo (of 31): 1 STOPPED");
    let o = ctl_env(
        &s,
        &[("COLUMNS", "100")],
        &["list", "feat-1?", "--status", "STOPPED"],
    );
    assert_eq!(o.stdout.lines().count(), 12, "{}", o.stdout);
    // --json: the same filters, the documented shape, no count line.
    let got = s.json(&["list", "feat-2*"]);
    let got: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = names[20..30].iter().map(String::as_str).collect();
    assert_eq!(got, want);
    let all = s.json(&["list"]);
    assert_eq!(all.as_array().unwrap().len(), 31);
    assert!(all[0].get("created").is_some() && all[0].get("url").is_some());
    // A bad status is a usage error.
    assert_eq!(s.ctl(&["list", "--status", "NOPE"]).code, 2);
}

#[test]
fn daytwo_new_names_are_host_labels_and_refusals_name_their_subject() {
    let s = Showroom::start(14100);
    // showroomctl's own check: the rule and the nearest valid name.
    for (bad, proposal) in [
        ("Feature_X", "feature-x"),
        ("My.Demo", "my-demo"),
        ("Hello", "hello"),
        ("Dash-", "dash"),
    ] {
        let err = s.refused(&["deploy", "test1", bad]);
        assert!(err.contains(&format!("invalid demo name {bad:?}")), "{err}");
        assert!(err.contains("host label"), "{err}");
        assert!(err.contains(&format!("try {proposal:?}")), "{err}");
    }
    let long = "a".repeat(64);
    assert!(s
        .refused(&["deploy", "test1", &long])
        .contains("at most 63 characters"));
    s.ok(&["deploy", "test1", &"a".repeat(63)]);
    s.ok(&["deploy", "test1", "feature-x"]);
    let err = s.refused(&["clone", "feature-x", "Feature_Y"]);
    assert!(err.contains("try \"feature-y\""), "{err}");
    // The daemon's own check, for a client that does not check.
    let e = deploy_refused_raw(&s, "test1", "Feature_X", &[]);
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("try \"feature-x\""), "{}", e.message);
    let listed: Vec<String> = s.installed().into_iter().map(|d| d.0).collect();
    assert_eq!(listed.len(), 2, "nothing made: {listed:?}");

    // A missing demo: the seed's words, then which.
    for verb in ["start", "stop", "destroy", "logs"] {
        let err = s.refused(&[verb, "nosuch"]);
        assert!(
            err.contains("this demo does not exist: no demo named \"nosuch\""),
            "{verb}: {err}"
        );
    }
    let j = ctl_env(&s, &[], &["stop", "nosuch", "--json"]);
    assert_eq!(j.code, 1);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "NotFound", "{v}");
    // A taken name: the seed's words, then which.
    let err = s.refused(&["deploy", "test1", "feature-x"]);
    assert!(
        err.contains("this demo already exists: a demo named \"feature-x\" is installed"),
        "{err}"
    );
    // A missing app: the seed's words, then the app named.
    let err = s.refused(&["deploy", "nosuchapp", "x"]);
    let mut lines = err.lines();
    assert_eq!(lines.next(), Some("showroomctl: this demo does not exist"));
    assert!(
        lines.next().unwrap().contains("no app \"nosuchapp\""),
        "{err}"
    );
}

#[test]
fn daytwo_a_full_port_range_names_the_range_what_holds_it_and_what_to_do() {
    let s = Showroom::with(Options {
        port_min: Some(14200),
        port_max: Some(14202),
        ..Options::default()
    });
    for n in ["p1", "p2", "p3"] {
        s.ok(&["deploy", "test1", n]);
    }
    s.ok(&["start", "p1"]);
    let err = s.refused(&["deploy", "test1", "p4"]);
    assert!(err.contains("no free port left in 14200..=14202"), "{err}");
    assert!(err.contains("3 of its 3 ports held by demos"), "{err}");
    assert!(
        err.contains("2 STOPPED") && err.contains("1 RUNNING"),
        "{err}"
    );
    assert!(
        err.contains("showroomctl cleanup --status STOPPED --dry-run"),
        "{err}"
    );
    assert!(err.contains("port_max"), "{err}");
    let j = ctl_env(&s, &[], &["deploy", "test1", "p4", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "NoFreePort", "{v}");
    assert_eq!(s.installed().len(), 3);
}

#[test]
fn daytwo_destroy_cleanup_all_and_supervisor_stop_ask_on_a_terminal_only() {
    let s = Showroom::start(14300);
    for n in ["victim", "spared", "piped", "quiet", "idle"] {
        s.ok(&["deploy", "test1", n]);
    }
    for n in ["victim", "spared", "piped", "quiet"] {
        s.ok(&["start", n]);
    }
    let mut t = Terminal::new(&s, 100, 40);

    // No: nothing destroyed, exit 1.
    let n = t.start("destroy victim");
    t.wait_for("[y/N]");
    t.keys("n");
    let (code, out) = t.finish(n);
    assert_eq!(code, 1, "{out:?}");
    assert!(out.join("\n").contains("not confirmed"), "{out:?}");
    assert_eq!(s.status("victim"), "RUNNING");
    // Yes: destroyed.
    let n = t.start("destroy victim");
    let screen = t.wait_for("[y/N]");
    assert!(screen.contains("demo \"victim\" is RUNNING"), "{screen}");
    t.keys("y");
    assert_eq!(t.finish(n).0, 0);
    assert_eq!(s.status("victim"), "DESTROYED");
    // --yes asks nothing; a stopped demo's destroy asks nothing either.
    let (code, out) = t.run("destroy spared --yes");
    assert_eq!(code, 0, "{out:?}");
    assert!(!out.join("\n").contains("[y/N]"), "{out:?}");
    let (code, out) = t.run("destroy idle");
    assert_eq!(code, 0, "{out:?}");
    assert!(!out.join("\n").contains("[y/N]"), "{out:?}");
    // Through a pipe: at once, as cron and scripts expect.
    s.ok(&["destroy", "piped"]);
    assert_eq!(s.status("piped"), "DESTROYED");

    // cleanup --all names what it would destroy; a no keeps it.
    s.ok(&["deploy", "test1", "later"]);
    let n = t.start("cleanup --all");
    let screen = t.wait_for("[y/N]");
    assert!(screen.contains("(2: later, quiet)"), "{screen}");
    t.keys("no");
    assert_eq!(t.finish(n).0, 1);
    assert_eq!(s.installed().len(), 2);

    // supervisor stop: a no keeps supervisord and the demos running.
    let n = t.start("supervisor stop");
    t.wait_for("[y/N]");
    t.keys("N");
    assert_eq!(t.finish(n).0, 1);
    assert_eq!(s.status("quiet"), "RUNNING");
    assert!(s.supervisord_pid().is_some());

    // Through a pipe both act at once.
    let out = s.ok(&["cleanup", "--all"]);
    assert!(out.contains("destroyed quiet"), "{out}");
    assert!(s.installed().is_empty());
    s.ok(&["supervisor", "stop"]);
    assert!(s.ok(&["supervisor", "status"]).contains("not running"));
}

#[test]
fn daytwo_a_demo_named_before_the_rule_keeps_working_and_is_noted_without_url() {
    let mut s = Showroom::with(Options {
        port_min: Some(14500),
        port_max: Some(14589),
        front_port: 14599,
        ..Options::default()
    });
    s.ok(&["deploy", "test1", "legacy"]);
    s.ok(&["deploy", "test1", "fine"]);
    // What an older showroom accepted: the same demo under the name `Legacy_X`.
    s.stop_daemon();
    let old = "Legacy_X";
    std::fs::rename(
        s.state.join("demos/legacy"),
        s.state.join(format!("demos/{old}")),
    )
    .unwrap();
    let record = std::fs::read_to_string(s.state.join("records/legacy.toml")).unwrap();
    std::fs::write(s.state.join(format!("records/{old}.toml")), record).unwrap();
    std::fs::remove_file(s.state.join("records/legacy.toml")).unwrap();
    let copy = s.state.join(format!("demos/{old}/demo.conf"));
    let _ = std::fs::remove_file(copy);
    s.start_daemon();

    // Until the checks at start gave supervisord its program, `status` may say otherwise.
    s.wait_for("its program to be back", Duration::from_secs(20), || {
        s.status(old) == "STOPPED"
    });
    s.ok(&["start", old]);
    assert_eq!(s.status(old), "RUNNING");
    assert_eq!(s.listed(old)["url"], serde_json::Value::Null);
    let o = ctl_env(&s, &[("COLUMNS", "200")], &["list"]);
    assert!(o.stdout.contains("none: not a host name"), "{}", o.stdout);
    assert!(
        o.stdout.contains("no URL for Legacy_X: not a host name"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("http://fine.localhost:14599/"),
        "{}",
        o.stdout
    );
    s.ok(&["stop", old]);
    assert_eq!(s.status(old), "STOPPED");
    s.ok(&["destroy", old]);
    assert_eq!(s.status(old), "DESTROYED");
}

/// The lines of systemd/README.md's install block that install the demos
/// folder, with `/usr/share/showroom/demos` made `to`.
fn readme_install_lines(to: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("systemd/README.md")).unwrap();
    // Only the shell blocks: the config block names the folder too.
    let mut in_sh = false;
    let lines: Vec<String> = readme
        .lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_sh = *l == "```sh";
                return false;
            }
            in_sh
        })
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| l.contains("/usr/share/showroom/demos"))
        .map(|l| l.replace("/usr/share/showroom/demos", &to.to_string_lossy()))
        .collect();
    assert!(!lines.is_empty(), "systemd/README.md installs no demos");
    lines
}

#[test]
fn daytwo_a_host_installed_by_the_systemd_readme_can_clone() {
    let mut s = Showroom::with(Options {
        port_min: Some(14400),
        ..Options::default()
    });
    let installed = s.dir.path().join("usr-share-showroom-demos");
    for line in readme_install_lines(&installed) {
        let o: Out = Command::new("bash")
            .args(["-c", &line])
            .current_dir(repo_root())
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 0, "{line}: {}", o.stderr);
    }
    // Every deploy script and reconfigure step the checkout ships is there.
    for entry in std::fs::read_dir(repo_root().join("demos")).unwrap() {
        let f = entry.unwrap().file_name().to_string_lossy().into_owned();
        if f.starts_with("demo_") || f.starts_with("reconfigure_") {
            assert!(installed.join(&f).is_file(), "{f} is not installed");
        }
    }
    // showroomd on the installed folder, as the service's config names it.
    s.stop_daemon();
    let config = std::fs::read_to_string(&s.config).unwrap();
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("scripts_dir") {
                format!("scripts_dir = {:?}", installed)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&s.config, config + "\n").unwrap();
    s.start_daemon();

    s.ok(&["deploy", "proxied", "site"]);
    s.ok(&["start", "site"]);
    s.ok(&["clone", "site", "site-copy"]);
    s.ok(&["start", "site-copy"]);
    let port = s.port_of("site-copy");
    s.wait_for("the clone to answer", Duration::from_secs(20), || {
        http_get(port, "/").is_some_and(|(c, b)| c == 200 && b.contains("site-copy"))
    });

    // The service's config shows every key of the front door.
    let toml = std::fs::read_to_string(repo_root().join("systemd/showroomd.toml")).unwrap();
    let readme = std::fs::read_to_string(repo_root().join("systemd/README.md")).unwrap();
    for key in ["domain", "front_port", "tls_port", "tls_cert", "tls_key"] {
        assert!(
            toml.contains(&format!("{key} = ")),
            "showroomd.toml lacks {key}"
        );
        assert!(
            readme.contains(&format!("{key} = ")),
            "systemd/README.md lacks {key}"
        );
    }
    let demos = std::fs::read_to_string(repo_root().join("demos/README.md")).unwrap();
    assert!(demos.contains("showroom-demo") && demos.contains("0700") && demos.contains("0750"));
    assert!(!demos.contains("Apache runs as `www-data`") && !demos.contains("0755"));
}
