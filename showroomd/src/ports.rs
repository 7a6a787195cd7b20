//! Whether some other program holds a TCP port, and which one when /proc shows it: a port so held is never handed to a demo, and a start that fails on one names it.

use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};

/// The error binding `port` gave, on IPv4 or IPv6, when some program holds
/// it. A wildcard bind fails on any address's listener of that port, so
/// one that holds only `127.0.0.1` or `::1` is found too.
pub fn held(port: u16) -> Option<std::io::Error> {
    if let Err(e) = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
        return Some(e);
    }
    match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)) {
        // A host without IPv6 has no IPv6 holder either.
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => None,
        Err(e) if e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT) => None,
        Err(e) => Some(e),
        Ok(_) => None,
    }
}

/// Who listens on `port`, as far as /proc lets this user see: `pid 123
/// (python3)`; None when no listener is visible (another user's process).
pub fn holder(port: u16) -> Option<String> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|t| t.to_str().map(|t| wanted.iter().any(|w| w == t)))
                .unwrap_or(false)
        });
        if owns {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            return Some(format!("pid {pid} ({})", comm.trim()));
        }
    }
    None
}

/// `PORT`, and `PORT2` for an app that declares `# PORTS: 2`: what its
/// scripts and its process are given.
pub fn env_vars(ports: &[u16]) -> Vec<(String, String)> {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let var = match i {
                0 => "PORT".to_owned(),
                i => format!("PORT{}", i + 1),
            };
            (var, p.to_string())
        })
        .collect()
}

/// A sentence on a port some program holds: which one, when /proc says.
pub fn held_by(port: u16) -> String {
    match holder(port) {
        Some(who) => format!("port {port} is held by another program: {who}"),
        None => format!("port {port} is held by another program"),
    }
}

/// The socket inodes listening on `port` (`/proc/net/tcp` and `tcp6`, state 0A).
fn listening_inodes(port: u16) -> Vec<String> {
    let hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    let local = cols.get(1)?;
                    (local.ends_with(&hex) && cols.get(3) == Some(&"0A"))
                        .then(|| cols.get(9).map(|s| s.to_string()))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_seen_held_and_named() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(held(port).is_some());
        let who = held_by(port);
        assert!(
            who.contains(&format!("pid {}", std::process::id())),
            "{who}"
        );
        drop(l);
        assert!(held(port).is_none());
    }

    #[test]
    fn an_ipv6_only_listener_is_seen_held() {
        let Ok(l) = TcpListener::bind(("::1", 0)) else {
            return; // no IPv6 on this host: nothing can hold a port there
        };
        let port = l.local_addr().unwrap().port();
        assert!(held(port).is_some());
    }
}
