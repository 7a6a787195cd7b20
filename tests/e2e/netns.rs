//! Each demo has a network of its own (issue 19): a demo that binds the front port, `[::]:front_port`, another demo's port or the next port to be handed out takes nothing outside its namespace; its own port is forwarded from the host by pasta, its deploy script still reaches out, and the forwarder lives and dies with it. Ports 13000-13299.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::harness::{pid_alive, Options, Showroom};

/// Writes a deploy script `demo_APP.sh` (its `# PARAMS:` line, then `set -e` and `body`) into the showroom's scripts folder.
pub(crate) fn script(s: &Showroom, app: &str, params: &str, body: &str) {
    std::fs::write(
        s.scripts.join(format!("demo_{app}.sh")),
        format!("#!/bin/bash\n# PARAMS: {params}\nset -e\n{body}"),
    )
    .unwrap();
}

/// A demo process serving `WORD` on its PORT with Python's http.server.
fn web_app(s: &Showroom, app: &str, word: &str) {
    script(
        s,
        app,
        "name, comment",
        &format!(
            "mkdir -p www\necho '{word}' > www/index.html\n\
             printf '#!/bin/sh\\nexec python3 -m http.server %s --directory %s/www\\n' \"$PORT\" \"$PWD\" > start.sh\n"
        ),
    );
}

/// GET / on `addr` with `host`: the body, or None when nothing answers.
fn get(addr: SocketAddr, host: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.trim().to_owned())
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))
}

/// pasta processes forwarding `port` (their command line says `-t PORT`).
fn forwarders(port: u16) -> Vec<i32> {
    let want = format!("\0-t\0{port}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = format!("\0{}", String::from_utf8_lossy(&cmd));
            cmd.contains("pasta") && cmd.contains(&want) && pid_alive(*pid)
        })
        .collect()
}

/// The squatter: binds every target (IPv4 any, IPv6 only) at start, answers
/// `HIJACK` on each it got, notes what it got in `binds.txt`, and serves
/// `squatter` on its own port.
const SQUATTER: &str = r#"cat > squat.py <<'PY'
import os, socket, sys, threading
def serve(sock, word):
    while True:
        c, _ = sock.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + word + b"\n")
        c.close()
got = []
for port in [int(p) for p in os.environ["targets"].split(",")]:
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((addr, port)); s.listen(16)
        except OSError as e:
            continue
        got.append(f"{addr}:{port}")
        threading.Thread(target=serve, args=(s, b"HIJACK"), daemon=True).start()
open("binds.txt", "w").write("\n".join(got) + "\n")
own = socket.socket(); own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
own.bind(("0.0.0.0", int(os.environ["PORT"]))); own.listen(16)
serve(own, b"squatter")
PY
printf '#!/bin/sh\nexport targets=%s\nexec python3 %s/squat.py\n' "$targets" "$PWD" > start.sh
"#;

#[test]
fn a_demo_binding_host_ports_takes_nothing_outside_its_namespace() {
    let front = 13050;
    let s = Showroom::with(Options {
        port_min: Some(13000),
        port_max: Some(13040),
        front_port: front,
        ..Options::default()
    });
    web_app(&s, "web", "victim page");
    script(&s, "squat", "name, comment, targets", SQUATTER);
    s.ok(&["deploy", "web", "victim"]);
    let victim = s.port_of("victim");
    assert_eq!(victim, 13000);
    s.ok(&["start", "victim"]);
    s.wait_for("the victim to serve", Duration::from_secs(10), || {
        get(v4(victim), "localhost").as_deref() == Some("victim page")
    });
    // Another demo's port, the front door's, and the port the next deploy gets.
    let next = 13002;
    let targets = format!("{front},{victim},{next}");
    s.ok(&[
        "deploy",
        "squat",
        "squatter",
        "--param",
        &format!("targets={targets}"),
    ]);
    assert_eq!(s.port_of("squatter"), 13001);
    s.ok(&["start", "squatter"]);
    let binds = s.state.join("demos/squatter/binds.txt");
    s.wait_for(
        "the squatter to try its binds",
        Duration::from_secs(10),
        || binds.is_file(),
    );
    let got = std::fs::read_to_string(&binds).unwrap();
    // Inside its own namespace every port is free: the binds are its own.
    assert!(got.contains(&format!("0.0.0.0:{front}")), "{got}");
    assert!(got.contains(&format!(":::{front}")), "{got}");
    // Outside, nothing changed: its own port is reachable from the host...
    s.wait_for("the squatter's own port", Duration::from_secs(10), || {
        get(v4(13001), "localhost").as_deref() == Some("squatter")
    });
    // ...the victim still answers as itself (on IPv4, where it listens;
    // on IPv6, where it does not, nobody answers in its place)...
    assert_eq!(get(v4(victim), "localhost").as_deref(), Some("victim page"));
    assert_ne!(get(v6(victim), "localhost").as_deref(), Some("HIJACK"));
    // ...the front door is Apache's, by name, on IPv4 and IPv6...
    s.wait_for("the front door", Duration::from_secs(15), || {
        get(v4(front), "victim.localhost").as_deref() == Some("victim page")
    });
    let on_v6 = get(v6(front), "victim.localhost");
    assert_ne!(on_v6.as_deref(), Some("HIJACK"), "[::1]:{front}");
    // ...and the next deploy gets the port the squatter bound, and serves on it.
    web_app(&s, "later", "later page");
    s.ok(&["deploy", "later", "later"]);
    assert_eq!(s.port_of("later"), next);
    s.ok(&["start", "later"]);
    s.wait_for("the next demo to serve", Duration::from_secs(10), || {
        get(v4(next), "localhost").as_deref() == Some("later page")
    });
    assert_ne!(get(v6(next), "localhost").as_deref(), Some("HIJACK"));
    // No HIJACK anywhere on the host, whatever it asked.
    for addr in [v4(front), v4(victim), v4(next), v6(victim), v6(next)] {
        assert_ne!(get(addr, "localhost").as_deref(), Some("HIJACK"), "{addr}");
    }
    assert_eq!(s.status("victim"), "RUNNING");
}

#[test]
fn a_deploy_script_reaches_out_but_not_the_hosts_loopback_and_pasta_dies_with_the_demo() {
    let s = Showroom::start(13100);
    // A server on the host's loopback: pasta maps the namespace's gateway
    // address to it, the one way out to the host the namespace has.
    let listener = TcpListener::bind("127.0.0.1:13190").unwrap();
    let server = std::thread::spawn(move || {
        for c in listener.incoming().take(1) {
            let mut c = c.unwrap();
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\noutbound-ok\n");
        }
    });
    script(
        &s,
        "out",
        "name, comment",
        "gw=$(awk '$2==\"00000000\" {print $3; exit}' /proc/net/route)\n\
         ip=$(printf '%d.%d.%d.%d' 0x${gw:6:2} 0x${gw:4:2} 0x${gw:2:2} 0x${gw:0:2})\n\
         echo \"out via $ip: $(curl -sS -m 5 http://$ip:13190/)\"\n\
         if curl -sS -m 2 http://127.0.0.1:13190/ >/dev/null 2>&1; then echo 'host loopback: reached'; else echo 'host loopback: not reached'; fi\n\
         mkdir -p www\necho 'out page' > www/index.html\n\
         printf '#!/bin/sh\\nexec python3 -m http.server %s --directory %s/www\\n' \"$PORT\" \"$PWD\" > start.sh\n",
    );
    let out = s.ok(&["deploy", "out", "out"]);
    assert!(out.contains("outbound-ok"), "{out}");
    assert!(out.contains("host loopback: not reached"), "{out}");
    server.join().unwrap();
    let port = s.port_of("out");
    assert!(forwarders(port).is_empty(), "no forwarder before the start");
    s.ok(&["start", "out"]);
    s.wait_for(
        "the demo through its forwarded port",
        Duration::from_secs(10),
        || get(v4(port), "localhost").as_deref() == Some("out page"),
    );
    assert_eq!(forwarders(port).len(), 1, "one pasta for its port");
    s.ok(&["stop", "out"]);
    s.wait_for("pasta gone with the stop", Duration::from_secs(5), || {
        forwarders(port).is_empty()
    });
    s.ok(&["start", "out"]);
    assert_eq!(forwarders(port).len(), 1);
    // supervisord dies outright: the jail follows it, and pasta the jail.
    s.kill_supervisord_and_its_demos();
    s.wait_for(
        "pasta gone with supervisord",
        Duration::from_secs(5),
        || forwarders(port).is_empty(),
    );
    assert!(
        s.processes_inside("python3").is_empty(),
        "the demo went with its sandbox"
    );
    s.ok(&["supervisor", "start"]);
    s.ok(&["destroy", "out"]);
    assert!(!Path::new(&s.state.join("demos/out")).exists());
}
