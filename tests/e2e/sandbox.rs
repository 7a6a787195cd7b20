//! Hostile demos (issue 14): each attack leaves the victim demo, showroom's state and the host untouched, and a refusal says why.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::harness::{bin, http_get, pid_alive, Options, Showroom};

/// Writes a deploy script `demo_APP.sh` into the showroom's scripts folder.
fn script(s: &Showroom, app: &str, body: &str) {
    std::fs::write(
        s.scripts.join(format!("demo_{app}.sh")),
        format!("#!/bin/bash\n# PARAMS: name, comment\n{body}"),
    )
    .unwrap();
}

/// A victim with a process (marked on its command line), a secret in its
/// folder, and a virtual host; started. Returns its port.
fn victim(s: &Showroom) -> u16 {
    script(
        s,
        "victim",
        "set -e\necho \"secret of $name\" > secret\nmkdir -p www\necho \"hello from $name\" > www/index.html\n\
         printf '#!/bin/bash\\nexec -a victim-marker-%s sleep 99999999\\n' \"$PORT\" > start.sh\n\
         printf 'Listen %s\\n<VirtualHost *:%s>\\n    DocumentRoot %s/www\\n    <Directory %s/www>\\n        Require all granted\\n    </Directory>\\n</VirtualHost>\\n' \"$PORT\" \"$PORT\" \"$PWD\" \"$PWD\" > apache2.conf\n",
    );
    s.ok(&["deploy", "victim", "victim"]);
    s.ok(&["start", "victim"]);
    s.port_of("victim")
}

/// What must still hold of the victim: running, serving, its folder and record as they were.
struct Untouched {
    port: u16,
    secret: Vec<u8>,
    record: Vec<u8>,
}

impl Untouched {
    fn take(s: &Showroom, port: u16) -> Untouched {
        let dir = s.state.join("demos/victim");
        Untouched {
            port,
            secret: std::fs::read(dir.join("secret")).unwrap(),
            record: std::fs::read(dir.join("demo.conf")).unwrap(),
        }
    }

    #[track_caller]
    fn check(&self, s: &Showroom) {
        let dir = s.state.join("demos/victim");
        assert_eq!(s.status("victim"), "RUNNING");
        assert_eq!(std::fs::read(dir.join("secret")).unwrap(), self.secret);
        assert_eq!(std::fs::read(dir.join("demo.conf")).unwrap(), self.record);
        assert_eq!(
            http_get(self.port, "/").map(|(c, b)| (c, b.trim().to_owned())),
            Some((200, "hello from victim".into())),
            "the victim serves its own page"
        );
        assert_eq!(marked(&format!("victim-marker-{}", self.port)).len(), 1);
    }
}

/// Host processes whose command line contains `needle`.
fn marked(needle: &str) -> Vec<i32> {
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && pid_alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The uid a process runs as.
fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The attacks a demo's code can make on its own, as a bash function run
/// at deploy and again from start.sh: each prints `ATTACK what: denied` or
/// `ATTACK what: SUCCEEDED`.
fn attacks(s: &Showroom, tag: &str) -> String {
    let state = s.state.display();
    format!(
        r#"try() {{ if ( eval "$2" ) >/dev/null 2>&1; then echo "ATTACK $1: SUCCEEDED"; else echo "ATTACK $1: denied"; fi; }}
attack() {{
try destroy-victim "{ctl} --socket {sock} destroy victim"
try read-victim-secret "cat {state}/demos/victim/secret"
try read-victim-record "cat {state}/demos/victim/demo.conf"
try list-demos "ls {state}/demos | grep -q victim"
try supervisord-socket "test -S {state}/supervisor/supervisor.sock"
try supervisorctl "supervisorctl -c {state}/supervisor/supervisord.conf pid | grep -q '^[0-9]'"
try read-deploy-log "cat {state}/logs/deploy/victim.log"
try read-shadow "cat /etc/shadow"
try write-host "touch /var/tmp/showroom-hostile-{tag}"
try write-state "touch {state}/planted-{tag}"
try write-apache "touch {state}/apache/demos/planted-{tag}.conf"
try see-victim-process "grep -qs victim-marker /proc/[0-9]*/cmdline"
# Every process this uid may signal, but the caller: in the sandbox, none but its own.
kill -9 -1 2>/dev/null || true
echo "private tmp" > /tmp/showroom-hostile-{tag}
echo ATTACK-END
}}
"#,
        ctl = bin("showroomctl").display(),
        sock = s.socket.display(),
    )
}

#[track_caller]
fn all_denied(output: &str, phase: &str) {
    let lines: Vec<&str> = output.lines().filter(|l| l.contains("ATTACK ")).collect();
    assert_eq!(lines.len(), 12, "{phase}: every attack ran: {output}");
    for l in lines {
        assert!(l.ends_with(": denied"), "{phase}: {l}\n{output}");
    }
    assert!(!output.contains("secret of victim"), "{phase}: {output}");
}

#[test]
fn a_demo_and_its_deploy_script_reach_neither_another_demo_nor_showroom_nor_the_host() {
    let s = Showroom::start(26500);
    assert!(
        s.daemon_log()
            .contains("sandbox on: demos, deploy scripts and Apache run in bubblewrap"),
        "showroomd says which it uses at start"
    );
    let victim_port = victim(&s);
    let before = Untouched::take(&s, victim_port);
    let tag = "26500";
    script(
        &s,
        "evil",
        &format!(
            "{}attack\nprintf '#!/bin/bash\\n' > start.sh\ndeclare -f try attack >> start.sh\nprintf 'attack\\nexec sleep 99999999\\n' >> start.sh\n",
            attacks(&s, tag)
        ),
    );
    let deploy = s.ctl(&["deploy", "evil", "evil"]);
    assert_eq!(deploy.code, 0, "{}{}", deploy.stdout, deploy.stderr);
    all_denied(&format!("{}{}", deploy.stdout, deploy.stderr), "deploy");
    s.ok(&["start", "evil"]);
    s.wait_for(
        "the start script's attacks",
        Duration::from_secs(10),
        || s.ok(&["logs", "evil"]).matches("ATTACK-END").count() >= 2,
    );
    let logs = s.ok(&["logs", "evil"]);
    let start_part = &logs[logs.find("ATTACK-END").unwrap() + 10..];
    all_denied(start_part, "start.sh");

    before.check(&s);
    assert_eq!(s.demo_names_on_disk(), ["evil", "victim"]);
    for p in [
        format!("/var/tmp/showroom-hostile-{tag}"),
        format!("/tmp/showroom-hostile-{tag}"),
        s.state.join(format!("planted-{tag}")).display().to_string(),
    ] {
        assert!(!Path::new(&p).exists(), "{p} was written from a sandbox");
    }
    // Root is never the one running a demo (this test's demos: other
    // showrooms on the host may run theirs without a sandbox).
    let sleeping = s.processes_inside("sleep");
    assert!(!sleeping.is_empty(), "the demos' processes run");
    let evil = sleeping
        .into_iter()
        .filter(|p| uid_of(*p) == Some(0))
        .count();
    assert_eq!(evil, 0, "no demo process runs as root");

    // The files themselves: nobody outside showroom's user and group reads them.
    let as_nobody = |f: &Path| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(f)
            .output()
            .unwrap()
    };
    // The probe itself works: a file everyone may read is read.
    let control = as_nobody(Path::new("/etc/passwd"));
    assert!(
        control.status.success(),
        "setpriv as nobody cannot read /etc/passwd: {}",
        String::from_utf8_lossy(&control.stderr)
    );
    let state = &s.state;
    for f in [
        state.join("demos/victim/demo.conf"),
        state.join("demos/victim/secret"),
        state.join("logs/deploy/victim.log"),
        state.join("supervisor/supervisord.conf"),
        state.join("apache/apache2.conf"),
    ] {
        let out = as_nobody(&f);
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "{} is readable by another user (or cat failed otherwise: {})",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    use std::os::unix::fs::PermissionsExt;
    for (d, mode) in [
        (state.clone(), 0o750),
        (state.join("demos"), 0o750),
        (state.join("demos/victim"), 0o700),
        (state.join("logs"), 0o700),
        (state.join("supervisor"), 0o700),
    ] {
        let m = std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m, mode, "{}", d.display());
    }
}

/// Deploys `name` with `conf` as its apache2.conf (`$PORT` is expanded by the script), then starts it.
fn start_with_vhost(s: &Showroom, name: &str, conf: &str) -> String {
    script(
        s,
        name,
        &format!(
            "mkdir -p www\necho hi > www/index.html\ncat > apache2.conf <<CONF\n{conf}\nCONF\n"
        ),
    );
    s.ok(&["deploy", name, name]);
    s.refused(&["start", name])
}

#[test]
fn apache_refuses_every_hostile_vhost_at_start_naming_the_line_and_the_rule() {
    let s = Showroom::start(26600);
    let victim_port = victim(&s);
    let before = Untouched::take(&s, victim_port);
    let pwned = "/var/tmp/showroom-hostile-26600-id";
    let vh = |body: &str| format!("Listen $PORT\n<VirtualHost *:$PORT>\n{body}\n</VirtualHost>");
    let shadow_first = std::fs::read_to_string("/etc/shadow")
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let hijack = format!("line 1: <VirtualHost>: port {victim_port} belongs to another demo");
    let cases = [
        (
            "pipedlog",
            vh(&format!("ErrorLog \"|/bin/sh -c 'id > {pwned}'\"")),
            "line 3: ErrorLog: refused",
        ),
        (
            "loadmod",
            format!(
                "LoadModule cgi_module /usr/lib/apache2/modules/mod_cgi.so\n{}",
                vh("")
            ),
            "line 1: LoadModule: refused",
        ),
        (
            "aliasetc",
            vh("Alias /etc /etc\n<Directory /etc>\nRequire all granted\n</Directory>"),
            "line 3: Alias: paths must be absolute and inside the demo's folder",
        ),
        (
            "incshadow",
            vh("Include /etc/shadow"),
            "line 3: Include: refused",
        ),
        (
            "hijack",
            format!("<VirtualHost *:{victim_port}>\nDocumentRoot \\$PWD/www\n</VirtualHost>"),
            &hijack[..],
        ),
        (
            "rewrite",
            vh("RewriteEngine on\nRewriteRule ^/(.*) /etc/$1"),
            "line 3: RewriteEngine: refused",
        ),
    ];
    for (name, conf, why) in &cases {
        let e = start_with_vhost(&s, name, conf);
        assert!(e.contains("apache2.conf: "), "{name}: names the file: {e}");
        assert!(e.contains(why), "{name}: {why:?} in {e}");
        assert!(
            !e.contains(&shadow_first),
            "{name}: no other file's content"
        );
        assert!(!e.contains("root:"), "{name}: no other file's content: {e}");
        assert_eq!(s.status(name), "STOPPED", "{name}");
        assert!(!s.state.join(format!("apache/demos/{name}.conf")).exists());
        before.check(&s);
    }
    assert!(!Path::new(pwned).exists(), "a piped log never ran");
    assert!(!s.daemon_log().contains(&shadow_first));

    // A vhost file that is a link to another file is refused unread.
    script(&s, "linked", "ln -s /etc/shadow apache2.conf\n");
    s.ok(&["deploy", "linked", "linked"]);
    let e = s.refused(&["start", "linked"]);
    assert!(e.contains("must be a regular file"), "{e}");
    assert!(!e.contains("root:"), "{e}");

    // A link planted in the demo's own folder is never followed by Apache.
    script(
        &s,
        "planted",
        "mkdir -p www\nln -s /etc/passwd www/passwd\necho ok > www/index.html\n\
         printf 'Listen %s\\n<VirtualHost *:%s>\\n    DocumentRoot %s/www\\n    <Directory %s/www>\\n        Require all granted\\n    </Directory>\\n</VirtualHost>\\n' \"$PORT\" \"$PORT\" \"$PWD\" \"$PWD\" > apache2.conf\n",
    );
    s.ok(&["deploy", "planted", "planted"]);
    s.ok(&["start", "planted"]);
    let port = s.port_of("planted");
    assert_eq!(http_get(port, "/").map(|r| r.0), Some(200));
    let leak = http_get(port, "/passwd");
    assert!(
        leak.as_ref()
            .is_some_and(|(c, b)| *c != 200 && !b.contains("root:")),
        "{leak:?}"
    );

    // Apache itself never runs as root: master and workers.
    let apache = marked(&s.state.join("apache/apache2.conf").display().to_string());
    assert!(apache.len() >= 2, "{apache:?}");
    for pid in apache {
        assert_ne!(uid_of(pid), Some(0), "Apache process {pid} runs as root");
    }
    before.check(&s);
}

/// No `sleep 2670N` of the test below runs anywhere on the host.
#[track_caller]
fn none_left() {
    let left = marked("sleep 2670");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn no_process_of_a_deploy_script_or_a_demo_outlives_it() {
    let mut s = Showroom::start(26700);
    // A deploy script that leaves its folder and leaves a setsid child behind.
    script(
        &s,
        "escape",
        "cd /\nsetsid sleep 26701 </dev/null >/dev/null 2>&1 &\n(setsid sleep 26702 </dev/null >/dev/null 2>&1 &)\necho left\n",
    );
    s.ok(&["deploy", "escape", "escape"]);
    none_left();

    // A start script that does the same: destroy takes it all.
    script(
        &s,
        "escape2",
        "printf '#!/bin/bash\\ncd /\\nsetsid sleep 26703 </dev/null >/dev/null 2>&1 &\\nexec sleep 26704\\n' > start.sh\n",
    );
    s.ok(&["deploy", "escape2", "escape2"]);
    s.ok(&["start", "escape2"]);
    s.wait_for("the demo's processes", Duration::from_secs(10), || {
        marked("sleep 26703").len() == 1 && marked("sleep 26704").len() == 1
    });
    s.ok(&["destroy", "escape2"]);
    none_left();

    // A deploy under way when showroomd is killed: its script, and what it
    // left with setsid outside its folder, die with the daemon.
    script(
        &s,
        "longer",
        "cd /\nsetsid sleep 26705 </dev/null >/dev/null 2>&1 &\nsleep 26706\n",
    );
    let mut deploy = s.spawn_ctl(&["deploy", "longer", "cut"]);
    s.wait_for("the deploy under way", Duration::from_secs(10), || {
        marked("sleep 26705").len() == 1 && marked("sleep 26706").len() == 1
    });
    s.kill_daemon();
    let _ = deploy.wait(Duration::from_secs(10));
    s.wait_for(
        "the script to die with showroomd",
        Duration::from_secs(5),
        || marked("sleep 2670").is_empty(),
    );
    s.start_daemon();
    assert_eq!(s.demo_names_on_disk(), ["escape"]);
}

/// The host pid of Apache's master: the one child of the bwrap supervisord runs.
fn apache_master(s: &Showroom) -> i32 {
    let out = s.supervisorctl(&["pid", "apache2"]);
    let bwrap: i32 = out.trim().parse().unwrap();
    let children = std::fs::read_to_string(format!("/proc/{bwrap}/task/{bwrap}/children")).unwrap();
    children.split_whitespace().next().unwrap().parse().unwrap()
}

/// Apache masters of this showroom (a process of comm apache2 whose parent is not apache2).
fn apache_masters(s: &Showroom) -> usize {
    let conf = s.state.join("apache/apache2.conf").display().to_string();
    marked(&conf)
        .into_iter()
        .filter(|p| {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            let parent = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|st| {
                    st.rsplit(')')
                        .next()?
                        .split_whitespace()
                        .nth(1)?
                        .parse::<i32>()
                        .ok()
                })
                .unwrap_or(0);
            let pcomm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
            comm.trim() == "apache2" && pcomm.trim() != "apache2"
        })
        .count()
}

#[track_caller]
fn once_each(s: &Showroom, port: u16) {
    s.wait_for("one of each, serving", Duration::from_secs(15), || {
        marked(&format!("victim-marker-{port}")).len() == 1
            && apache_masters(s) == 1
            && http_get(port, "/").is_some_and(|(c, _)| c == 200)
    });
}

#[test]
fn killing_supervisord_apache_or_showroomd_leaves_nothing_running_twice() {
    let mut s = Showroom::start(26800);
    let port = victim(&s);
    once_each(&s, port);

    // supervisord killed: its sandboxes go with it; a start brings all back.
    let sup = s.supervisord_pid().unwrap();
    kill(Pid::from_raw(sup), Signal::SIGKILL).unwrap();
    s.wait_for(
        "every sandbox gone with supervisord",
        Duration::from_secs(5),
        || marked(&format!("victim-marker-{port}")).is_empty() && apache_masters(&s) == 0,
    );
    s.ok(&["supervisor", "start"]);
    s.ok(&["start", "victim"]);
    once_each(&s, port);

    // Apache's master killed: its workers go with it, supervisord restarts it.
    let master = apache_master(&s);
    kill(Pid::from_raw(master), Signal::SIGKILL).unwrap();
    s.wait_for("Apache restarted", Duration::from_secs(15), || {
        !pid_alive(master) && apache_masters(&s) == 1
    });
    once_each(&s, port);
    s.ok(&["stop", "victim"]);
    s.ok(&["start", "victim"]);
    once_each(&s, port);

    // showroomd killed: the demos run on, a restart picks them up.
    s.kill_daemon();
    s.start_daemon();
    assert_eq!(s.status("victim"), "RUNNING");
    once_each(&s, port);
    assert!(!s.daemon_log().contains("is taken"));
}

#[test]
fn leftovers_of_a_crash_before_the_sandbox_are_ended_at_the_next_start() {
    let mut s = Showroom::with(Options {
        port_min: Some(26900),
        extra_config: "sandbox = false\n".into(),
        ..Options::default()
    });
    assert!(s.daemon_log().contains("sandbox off (`sandbox = false`)"));
    // The policy and the account hold without the sandbox too.
    let port = victim(&s);
    let e = start_with_vhost(
        &s,
        "incshadow",
        "Listen $PORT\n<VirtualHost *:$PORT>\nInclude /etc/shadow\n</VirtualHost>",
    );
    assert!(e.contains("line 3: Include: refused"), "{e}");
    once_each(&s, port);
    let leftover = marked(&format!("victim-marker-{port}"));
    assert_ne!(uid_of(leftover[0]), Some(0));

    // A crash as before the sandbox: supervisord killed, its demo and Apache left running.
    s.kill_daemon();
    kill(Pid::from_raw(s.supervisord_pid().unwrap()), Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        marked(&format!("victim-marker-{port}")),
        leftover,
        "left running"
    );
    let toml = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, toml.replace("sandbox = false\n", "")).unwrap();
    s.start_daemon();
    assert!(s
        .daemon_log()
        .contains("killed a process left running by a supervisord that is gone"));
    assert!(
        !leftover.iter().any(|p| pid_alive(*p)),
        "the leftover is gone"
    );
    s.ok(&["start", "victim"]);
    once_each(&s, port);
    let demo = marked(&format!("victim-marker-{port}"));
    let inner = std::fs::read_to_string(format!("/proc/{}/status", demo[0])).unwrap();
    assert!(
        inner
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.split_whitespace().count() > 2),
        "the demo now runs in a PID namespace of its own: {inner}"
    );
}
