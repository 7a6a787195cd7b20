//! Idle demos sleep: what a demo's record keeps of it, and how idleness is read from what the front door saw (its access log for the demo, and the connections to the demo's port still open).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a demo's record keeps about sleeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sleep {
    /// Seconds without a request through the front door before it sleeps; None: never.
    #[serde(default)]
    pub after_secs: Option<u64>,
    /// Stopped for idleness and wanted running: the front door wakes it.
    #[serde(default)]
    pub asleep: bool,
}

impl Sleep {
    pub fn is_never(&self) -> bool {
        self.after_secs.is_none() && !self.asleep
    }
}

/// The status the front door routes a demo by: one marked asleep and wanted
/// running goes to the waker already while its process is being stopped,
/// so that no request finds its port closed between the stop and the
/// front door's reload (the request is held, and wakes it again).
pub fn front_status(
    status: protocol::DemoStatus,
    record: &crate::store::DemoRecord,
) -> protocol::DemoStatus {
    if record.sleep.asleep && record.wanted == protocol::Wanted::Running {
        protocol::DemoStatus::Sleeping
    } else {
        status
    }
}

/// The socket the front door proxies a sleeping demo's requests to: in
/// its run folder, which its Apache sees.
pub fn wake_socket(layout: &crate::layout::Layout) -> std::path::PathBuf {
    layout.frontdoor_run().join("wake.sock")
}

/// When the front door last passed on a request to the demo, seconds since
/// the epoch: the access log task appends each request to the demo's own
/// log within half a second, so the file's modification time says it
/// without reading it. None: no request ever.
pub fn last_request(access_log: &Path) -> Option<u64> {
    let m = std::fs::metadata(access_log).ok()?.modified().ok()?;
    m.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The local TCP ports with an ESTABLISHED connection, from
/// `/proc/net/tcp` and `/proc/net/tcp6`: a request still being answered
/// (a long download, a WebSocket) is one, whose line in the access log only
/// comes at its end. Both ends are on this host (the front door proxies to
/// 127.0.0.1), so the demo's port is the local port of its side.
pub fn established_ports() -> HashSet<u16> {
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            ports.extend(parse_established(&text));
        }
    }
    ports
}

/// The local ports of the ESTABLISHED (state 01) lines of a `/proc/net/tcp` table.
fn parse_established(text: &str) -> impl Iterator<Item = u16> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let mut f = line.split_whitespace();
        let local = f.nth(1)?;
        let state = f.nth(1)?;
        if state != "01" {
            return None;
        }
        let (_, port) = local.rsplit_once(':')?;
        u16::from_str_radix(port, 16).ok()
    })
}

/// Whether a demo idle since `last` (seconds since the epoch) should sleep at `now`.
pub fn is_due(after_secs: u64, last: u64, now: u64) -> bool {
    now.saturating_sub(last) >= after_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_established_connections_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:4E21 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000 20 4 30 10 -1\n\
   2: 0100007F:9C40 0100007F:4E21 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0000000000000000 20 4 30 10 -1\n\
   3: 0100007F:4E22 0100007F:9C41 06 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1\n";
        let ports: HashSet<u16> = parse_established(table).collect();
        // 20000 listens (0A), 20001 has a connection, 20002 is in TIME_WAIT (06).
        assert_eq!(ports, HashSet::from([0x4E21, 0x9C40]));
    }

    #[test]
    fn idle_time_counts_from_the_last_request() {
        assert!(!is_due(60, 1000, 1059));
        assert!(is_due(60, 1000, 1060));
        // A clock that went back never makes a demo sleep early.
        assert!(!is_due(60, 1000, 900));
    }

    #[test]
    fn older_records_never_sleep() {
        let r: Sleep = toml::from_str("").unwrap();
        assert!(r.is_never());
    }
}
