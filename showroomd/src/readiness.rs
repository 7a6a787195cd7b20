//! Whether a demo answers on its port the way the front door reaches it (a wake's end, a start's): read from the demo's own network namespace's table, then a connection the host accepts; never a fixed wait.

use tokio::net::TcpStream;

/// Whether a waking demo answers on the way the front door reaches it.
///
/// With a network of its own, `127.0.0.1:PORT` on the host is pasta's
/// socket: it accepts at once and closes a connection it cannot pass on, so
/// a connection there proves nothing, and neither does a listening socket
/// in the host's table (pasta's own, seen through any host-side process of
/// the demo: its jail, its stamper). What counts is a listening socket in
/// the demo's namespace, on the loopback pasta splices into, for each port
/// pasta forwards; then a connection to `127.0.0.1:PORT` (pasta's, or
/// Apache's for a vhost) that the host accepts.
#[derive(Debug)]
pub(crate) struct Readiness {
    pub dir: std::path::PathBuf,
    /// What the front door connects to.
    pub port: u16,
    /// The ports the demo's own process listens on (pasta's forwards).
    pub app_ports: Vec<u16>,
    pub own_network: bool,
    /// A process of the demo inside its namespace, once seen: its table is
    /// the namespace's, read without a walk of every process each time.
    pub inside: Option<i32>,
    /// How long a start waits for an answer past supervisord's RUNNING
    /// (`ready_wait_secs`).
    pub past_running: std::time::Duration,
}

impl Readiness {
    pub async fn answers(&mut self) -> bool {
        if self.own_network {
            let (dir, ports, seen) = (self.dir.clone(), self.app_ports.clone(), self.inside);
            let found = tokio::task::spawn_blocking(move || listens_inside(&dir, &ports, seen))
                .await
                .ok()
                .flatten();
            self.inside = found.map(|(pid, _)| pid);
            if !found.is_some_and(|(_, all)| all) {
                return false;
            }
        } else {
            // The host's network: only the demo itself listens on its ports.
            for &p in &self.app_ports {
                if p != self.port && TcpStream::connect(("127.0.0.1", p)).await.is_err() {
                    return false;
                }
            }
        }
        TcpStream::connect(("127.0.0.1", self.port)).await.is_ok()
    }
}

/// Whether a starting demo still boots: the CPU its processes use, read
/// between two looks. A demo that answers on no port and used no CPU for
/// IDLE is not booting (a worker, the seed's `sleep`): its start need not
/// wait past supervisord's RUNNING for an answer that will not come.
#[derive(Debug)]
pub(crate) struct Booting {
    ticks: Option<u64>,
    since: tokio::time::Instant,
}

impl Booting {
    /// How long without CPU a demo is not booting any more.
    const IDLE: std::time::Duration = std::time::Duration::from_millis(500);

    pub fn new() -> Self {
        Booting {
            ticks: None,
            since: tokio::time::Instant::now(),
        }
    }

    /// Takes a look at the processes under `pid` (what supervisord started).
    pub fn look(&mut self, pid: u32) {
        let now = i32::try_from(pid)
            .ok()
            .filter(|p| *p > 0)
            .and_then(crate::sandbox::tree_cpu_ticks);
        if now != self.ticks {
            self.ticks = now;
            self.since = tokio::time::Instant::now();
        }
    }

    /// Whether it used CPU within the last IDLE.
    pub fn busy(&self) -> bool {
        self.ticks.is_some() && self.since.elapsed() < Self::IDLE
    }
}

/// A process of the demo in a network namespace not showroomd's (`seen`
/// first, else a walk of /proc), and whether every one of `ports` has a
/// listening socket on the loopback or every address in that namespace.
fn listens_inside(dir: &std::path::Path, ports: &[u16], seen: Option<i32>) -> Option<(i32, bool)> {
    let ours = std::fs::read_link("/proc/self/ns/net").ok()?;
    let is_inside = |p: i32| {
        std::fs::read_link(format!("/proc/{p}/ns/net")).is_ok_and(|n| n != ours)
            && crate::sandbox::cwd_of(p).is_some_and(|c| c.starts_with(dir))
    };
    let pid = seen
        .filter(|&p| is_inside(p))
        .or_else(|| crate::sandbox::pids().find(|&p| is_inside(p)))?;
    let tables: Vec<String> = ["tcp", "tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).ok())
        .collect();
    let all = ports.iter().all(|&port| {
        tables
            .iter()
            .any(|t| t.lines().skip(1).any(|l| is_loopback_listen(l, port)))
    });
    Some((pid, all))
}

/// Whether a line of /proc/net/tcp{,6} is a socket listening on `port` at
/// an address pasta's splice reaches: every address, or the loopback.
fn is_loopback_listen(line: &str, port: u16) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    // State 0A: LISTEN.
    let Some((addr, p)) = w.get(1).and_then(|a| a.split_once(':')) else {
        return false;
    };
    if w.get(3) != Some(&"0A") || u16::from_str_radix(p, 16) != Ok(port) {
        return false;
    }
    // The kernel prints each 32-bit word in host (little-endian) order:
    // 127.x.y.z is "..7F", ::1 "00000000000000000000000001000000",
    // ::ffff:127.x.y.z "0000000000000000FFFF0000..7F".
    addr.bytes().all(|b| b == b'0')
        || (addr.len() == 8 && addr.ends_with("7F"))
        || addr == "00000000000000000000000001000000"
        || (addr.len() == 32
            && addr.starts_with("0000000000000000FFFF0000")
            && addr.ends_with("7F"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_counts_on_every_address_or_the_loopback_only() {
        let line = |addr: &str, state: &str| {
            format!("  0: {addr}:1F90 00000000:0000 {state} 00000000:00000000 00:00000000 00000000   999        0 1 1 0 100 0 0 10 0")
        };
        assert!(is_loopback_listen(&line("00000000", "0A"), 8080));
        assert!(is_loopback_listen(&line("0100007F", "0A"), 8080));
        assert!(!is_loopback_listen(&line("0100007F", "0A"), 8081));
        // Established, not listening.
        assert!(!is_loopback_listen(&line("0100007F", "01"), 8080));
        // The namespace's outside address: pasta's splice does not reach it.
        assert!(!is_loopback_listen(&line("0200C80A", "0A"), 8080));
        assert!(is_loopback_listen(
            &line("00000000000000000000000000000000", "0A"),
            8080
        ));
        assert!(is_loopback_listen(
            &line("00000000000000000000000001000000", "0A"),
            8080
        ));
        assert!(!is_loopback_listen(
            &line("000099FD000000000000000001000000", "0A"),
            8080
        ));
    }
}
