//! Tests of the vhost policy: every shipped and seed demo passes, each attack is refused at its line, and the real Apache runs the result unprivileged in the sandbox.

use super::*;
use crate::sandbox::tests::pids_with_arg;
use crate::sandbox::{Account, Sandbox};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const DIR: &str = "/var/lib/showroom/demos/a";

fn check(text: &str) -> Result<(), PolicyError> {
    let policy = Policy {
        demo_dir: Path::new(DIR),
        ports: &[20000],
        others: &[20001],
    };
    check_text(Path::new("/x/apache2.conf"), text, &policy)
}

/// The line and rule of a refusal.
fn refused(text: &str) -> (usize, Rule, String) {
    match check(text) {
        Err(e @ PolicyError::Refused { .. }) => {
            let msg = e.to_string();
            let PolicyError::Refused { line, rule, .. } = e else {
                unreachable!()
            };
            (line, rule, msg)
        }
        other => panic!("not refused: {other:?}\n{text}"),
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a deploy script as a deploy does (in a folder, PORT/HOST/name set) and returns its vhost, if any.
fn deploy(script: &Path, dir: &Path, port: u16) -> Option<String> {
    let ok = Command::new("bash")
        .arg(script)
        .current_dir(dir)
        .env("PORT", port.to_string())
        // Apps with `# PORTS: 2` get a second port.
        .env("PORT2", (port + 1).to_string())
        .env("HOST", "localhost")
        .env("name", "a")
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        ok || script.ends_with("demo_error.sh"),
        "{}",
        script.display()
    );
    std::fs::read_to_string(dir.join("apache2.conf")).ok()
}

#[test]
fn every_shipped_and_seed_vhost_passes_and_the_bad_seeds_are_named() {
    let mut seen = 0;
    for folder in ["demos", "tests/fixtures/seed"] {
        for entry in std::fs::read_dir(repo().join(folder)).unwrap() {
            let script = entry.unwrap().path();
            let file = script.file_name().unwrap().to_str().unwrap().to_owned();
            if !file.starts_with("demo_") {
                continue;
            }
            let d = tempfile::tempdir().unwrap();
            let Some(conf) = deploy(&script, d.path(), 20000) else {
                continue;
            };
            seen += 1;
            let policy = Policy {
                demo_dir: d.path(),
                ports: &[20000],
                others: &[20001, 20002],
            };
            let result = check_text(&d.path().join("apache2.conf"), &conf, &policy);
            match file.as_str() {
                // Seeds whose vhost Apache must refuse: the policy refuses
                // them first, naming the directive and line 3 as Apache did.
                "demo_error3.sh" | "demo_testapachebad.sh" => {
                    let msg = result.unwrap_err().to_string();
                    assert!(msg.contains("line 3"), "{msg}");
                    assert!(msg.contains("NotADirective") || msg.contains("ThisIsNotADirective"));
                }
                _ => result.unwrap_or_else(|e| panic!("{file}: {e}\n{conf}")),
            }
        }
    }
    assert!(seen >= 7, "only {seen} vhosts");
}

#[test]
fn each_attack_is_refused_at_its_line_with_its_rule() {
    let head = "Listen 20000\n<VirtualHost *:20000>\n";
    let cases: &[(&str, Rule)] = &[
        ("ErrorLog \"|/bin/sh -c 'id > /tmp/x'\"", Rule::Refused("")),
        (
            "LoadModule cgi_module /usr/lib/apache2/modules/mod_cgi.so",
            Rule::Refused(""),
        ),
        ("Alias /etc /etc", Rule::PathOutside(DIR.into())),
        ("Include /etc/shadow", Rule::Refused("")),
        ("IncludeOptional /etc/*.conf", Rule::Refused("")),
        (
            "DocumentRoot /var/lib/showroom/demos/b",
            Rule::PathOutside(DIR.into()),
        ),
        (
            "DocumentRoot /var/lib/showroom/demos/a/../b",
            Rule::PathOutside(DIR.into()),
        ),
        (
            "DocumentRoot /var/lib/showroom/demos/ab",
            Rule::PathOutside(DIR.into()),
        ),
        ("DocumentRoot www", Rule::PathOutside(DIR.into())),
        ("DocumentRoot ${HOME}", Rule::Variable),
        ("Options +FollowSymLinks", Rule::BadValue("")),
        ("Options All", Rule::BadValue("")),
        ("Options ExecCGI", Rule::BadValue("")),
        ("AllowOverride All", Rule::BadValue("")),
        ("ProxyPass / http://10.0.0.1/", Rule::ProxyTarget),
        (
            "ProxyPass / http://127.0.0.1@evil.example/",
            Rule::ProxyTarget,
        ),
        (
            "ProxyPass / unix:/run/showroom/showroomd.sock|http://x/",
            Rule::ProxyTarget,
        ),
        ("ProxyRequests On", Rule::Refused("")),
        ("RewriteMap m prg:/bin/sh", Rule::Refused("")),
        (
            "ScriptAlias /cgi /var/lib/showroom/demos/a",
            Rule::Refused(""),
        ),
        ("SetHandler server-status", Rule::Refused("")),
        ("User root", Rule::Refused("")),
        ("Define X 1", Rule::Refused("")),
        ("SetEnv LD_PRELOAD /x.so", Rule::BadValue("")),
        (
            "Header set X \"expr=%{file:/etc/shadow}\"",
            Rule::BadValue(""),
        ),
        (
            "Require expr file('/etc/shadow') =~ /root/",
            Rule::BadValue(""),
        ),
        ("<If \"-f '/etc/shadow'\">\n</If>", Rule::Refused("")),
        (
            "<Directory /etc>\nRequire all granted\n</Directory>",
            Rule::PathOutside(DIR.into()),
        ),
        ("<Directory ~ \"^/etc\">\n</Directory>", Rule::Refused("")),
        (
            "<VirtualHost *:20000>\n</VirtualHost>",
            Rule::OnlyAtTopLevel,
        ),
        ("Listen 20000", Rule::OnlyAtTopLevel),
        ("NoSuchThing on", Rule::Unknown),
        ("DocumentRoot \\\n /etc", Rule::PathOutside(DIR.into())),
    ];
    for (body, rule) in cases {
        let text = format!("{head}# a comment\n{body}\n</VirtualHost>\n");
        let (line, got, msg) = refused(&text);
        assert_eq!(line, 4, "{body}: {msg}");
        assert_eq!(
            std::mem::discriminant(&got),
            std::mem::discriminant(rule),
            "{body}: {msg}"
        );
        if !matches!(rule, Rule::BadValue(_) | Rule::Refused("")) {
            assert_eq!(&got, rule, "{body}");
        }
        // Our words only: no value of the line reaches the message.
        for secret in ["/etc", "shadow", "id >", "LD_PRELOAD", "10.0.0.1", "evil"] {
            if body.contains(secret) {
                assert!(!msg.contains(secret), "{msg} repeats {secret:?}");
            }
        }
    }
}

#[test]
fn ports_and_placement_are_held_to_the_demo() {
    let (line, rule, _) = refused("Listen 20001\n");
    assert_eq!((line, rule), (1, Rule::OthersPort(20001)));
    let (_, rule, msg) = refused("Listen 80\n");
    assert!(matches!(rule, Rule::NotMyPort { port: 80, .. }), "{msg}");
    let (line, rule, _) = refused("Listen 20000\n\n<VirtualHost *:20001>\n</VirtualHost>\n");
    assert_eq!((line, rule), (3, Rule::OthersPort(20001)));
    for vhost in ["*", "_default_", "[::1]", "*:*"] {
        let (_, rule, _) = refused(&format!("<VirtualHost {vhost}>\n</VirtualHost>\n"));
        assert_eq!(rule, Rule::NoPort, "{vhost}");
    }
    // Outside a vhost anything else would reach every demo.
    let (line, rule, _) = refused("Listen 20000\nHeader set X y\n");
    assert_eq!((line, rule), (2, Rule::OutsideVirtualHost));
    let (_, rule, _) = refused("<Location />\nRequire all denied\n</Location>\n");
    assert_eq!(rule, Rule::OutsideVirtualHost);
    let (line, rule, _) = refused("<VirtualHost *:20000>\nServerName x\n");
    assert_eq!((line, rule), (1, Rule::Unclosed));
    let (line, rule, _) = refused("</VirtualHost>\n");
    assert_eq!((line, rule), (1, Rule::Unbalanced));
    check(
        "<IfModule mod_proxy.c>\n  Listen 127.0.0.1:20000\n  <VirtualHost [::1]:20000 127.0.0.1:20000>\n \
         ServerName \"a b\"\n ProxyPass /x ! \n ProxyPass / http://[::1]:21000/ retry=0 nocanon\n \
         ProxyPassReverse / ws://localhost/\n Options -FollowSymLinks +Indexes\n \
         <Directory \"/var/lib/showroom/demos/a/www\">\n Require not ip 10.0.0.0/8\n </Directory>\n \
         </VirtualHost>\n</IfModule>\n",
    )
    .unwrap();
}

#[test]
fn quoting_and_continuations_are_read_as_apache_reads_them() {
    assert_eq!(
        words(r#"a "b c" 'd "e"' "f\"g" h\i"#).unwrap(),
        vec!["a", "b c", "d \"e\"", "f\"g", "h\\i"]
    );
    assert_eq!(words("\"open").unwrap_err(), Rule::Quote);
    let lines = logical_lines("a \\\n b\\\nc\nd\n");
    assert_eq!(
        lines,
        vec![(1, "a   b c".to_string()), (4, "d".to_string())]
    );
}

#[test]
fn a_link_or_a_pipe_is_never_read() {
    let d = tempfile::tempdir().unwrap();
    let policy = Policy {
        demo_dir: d.path(),
        ports: &[20000],
        others: &[],
    };
    let link = d.path().join("apache2.conf");
    let plant_link = |p: &Path| std::os::unix::fs::symlink("/etc/passwd", p).unwrap();
    let plant_fifo = |p: &Path| nix::unistd::mkfifo(p, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for plant in [&plant_link as &dyn Fn(&Path), &plant_fifo] {
        plant(&link);
        let e = check_file(&link, &policy).unwrap_err();
        assert!(
            matches!(
                e,
                PolicyError::Unreadable {
                    problem: FileProblem::NotRegular,
                    ..
                }
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("root:"), "{e}");
        std::fs::remove_file(&link).unwrap();
    }
    std::fs::write(&link, "Listen 20000\n").unwrap();
    assert_eq!(check_file(&link, &policy).unwrap(), "Listen 20000\n");
}

// ---- the real Apache, unprivileged, in the sandbox ----

fn free_port() -> u16 {
    std::net::TcpListener::bind(("0.0.0.0", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn wait_until(bound: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < bound {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn the_real_apache_serves_a_seed_demo_unprivileged_and_leaves_no_worker() {
    use crate::layout::Layout;
    assert!(
        Path::new(crate::sandbox::DEFAULT_BWRAP).exists(),
        "bubblewrap is missing: apt-get install bubblewrap"
    );
    let top = tempfile::Builder::new()
        .prefix("showroom-apache-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let layout = Layout::new(top.path().join("state"));
    layout.create_dirs().unwrap();
    let root = nix::unistd::geteuid().is_root();
    let sandbox = Sandbox {
        enabled: true,
        bwrap: crate::sandbox::DEFAULT_BWRAP.into(),
        setpriv: crate::sandbox::DEFAULT_SETPRIV.into(),
        hidden: vec![layout.root().to_owned()],
        run_as: root.then_some(Account {
            uid: 65534,
            gid: 65534,
        }),
        jail: None,
    };
    sandbox
        .secure_state(
            &[layout.root(), &layout.demos()],
            &[&layout.apache_dir(), &layout.apache_copies()],
            &[&layout.apache_run(), &layout.apache_logs()],
            &[&layout.logs(), &layout.supervisor_dir(), &layout.trash()],
        )
        .unwrap();
    let dir = layout.demo_dir("a");
    std::fs::create_dir(&dir).unwrap();
    sandbox.prepare_demo_dir(&dir).unwrap();
    let port = free_port();

    // The seed's deploy, sandboxed as a deploy will be.
    let script = repo().join("tests/fixtures/seed/demo_testapache.sh");
    let argv = sandbox.deploy_argv(&dir, &script);
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PORT", port.to_string())
        // Apps with `# PORTS: 2` get a second port.
        .env("PORT2", (port + 1).to_string())
        .env("HOST", "localhost")
        .env("name", "a")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let policy = Policy {
        demo_dir: &dir,
        ports: &[port],
        others: &[],
    };
    let checked = check_file(&layout.vhost("a"), &policy).unwrap();
    std::fs::write(layout.apache_copy("a"), checked).unwrap();
    let cfg = crate::Config {
        state_dir: layout.root().to_owned(),
        ..Default::default()
    };
    std::fs::write(
        layout.apache_conf(),
        crate::apache::render_main_as(&layout, &cfg, false),
    )
    .unwrap();

    // The config test, unprivileged too.
    let mut test = sandbox.drop_privileges();
    test.extend([
        cfg.apache_bin.display().to_string(),
        "-t".into(),
        "-f".into(),
        layout.apache_conf().display().to_string(),
    ]);
    let out = Command::new(&test[0]).args(&test[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let run = || {
        let argv = crate::apache::command(&layout, &cfg, &sandbox);
        let mut child = Command::new(&argv[0]).args(&argv[1..]).spawn().unwrap();
        let served = wait_until(Duration::from_secs(10), || {
            get(port).is_some_and(|r| r.contains("hello from a"))
        });
        if !served {
            let _ = child.kill();
            let log = std::fs::read_to_string(layout.apache_logs().join("error.log"));
            panic!("Apache did not serve the demo: {log:?}");
        }
        child
    };
    let conf = layout.apache_conf();
    let conf_arg = conf.to_str().unwrap();
    let all_gone = |what: &str| {
        let gone = wait_until(Duration::from_secs(3), || {
            pids_with_arg(conf_arg).is_empty()
        });
        assert!(gone, "{what}: {:?}", pids_with_arg(conf_arg));
    };

    // Killed master: every worker goes with it.
    let mut bwrap = run();
    let master = crate::sandbox::main_pid(bwrap.id() as i32).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{master}/status")).unwrap();
    if root {
        assert!(
            status.lines().any(|l| l.starts_with("Uid:\t65534\t")),
            "Apache's master is not root: {status}"
        );
    }
    assert!(pids_with_arg(conf_arg).len() >= 2, "a master and workers");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    bwrap.wait().unwrap();
    all_gone("Apache workers outlived their master");

    // Killed supervisor side (bwrap, as when supervisord dies): the same.
    let mut bwrap = run();
    bwrap.kill().unwrap();
    bwrap.wait().unwrap();
    all_gone("Apache outlived its sandbox");
    assert!(get(port).is_none(), "the port is free again");
}
