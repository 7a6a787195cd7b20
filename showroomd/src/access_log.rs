//! What went through the front door to each demo: the front door's Apache writes one access log (`frontdoor_server::ACCESS_FORMAT`); a task of showroomd's splits it by demo into capped logs, `logs/access/NAME.log`, one request a line, read by `logs NAME --access`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::layout::Layout;

/// How often the front door's log is read.
const EVERY: Duration = Duration::from_millis(500);

/// Past this, the front door's own log is emptied once read to its end:
/// what matters is kept per demo.
const SOURCE_MAX: u64 = 1 << 20;

/// One request, as kept in a demo's access log: `AT CLIENT METHOD STATUS
/// BYTES DURATION_US PATH`, the path last since it may hold spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// RFC 3339, UTC.
    pub at: String,
    pub client: String,
    pub method: String,
    pub status: u16,
    pub bytes: u64,
    pub micros: u64,
    pub path: String,
}

impl Entry {
    /// A line of the front door's log (`ACCESS_FORMAT`), with the demo it
    /// went to: the vhost's name less `.DOMAIN`.
    fn from_apache(line: &str, domain: &str) -> Option<(String, Entry)> {
        let f: Vec<&str> = line.split('\t').collect();
        let [at, client, method, path, status, bytes, micros, vhost] = f[..] else {
            return None;
        };
        let suffix = format!(".{domain}");
        let name = vhost
            .to_ascii_lowercase()
            .strip_suffix(&suffix.to_ascii_lowercase())?
            .to_owned();
        if !crate::frontdoor::has_host_name(&name) {
            return None;
        }
        let at: u64 = at.parse().ok()?;
        Some((
            name,
            Entry {
                at: crate::frontdoor_tls::iso(at),
                client: client.into(),
                method: method.into(),
                status: status.parse().ok()?,
                // `%B` says `-` for no body... only with `%b`; `%B` says 0.
                bytes: bytes.parse().unwrap_or(0),
                micros: micros.parse().unwrap_or(0),
                path: path.into(),
            },
        ))
    }

    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            self.at, self.client, self.method, self.status, self.bytes, self.micros, self.path
        )
    }

    /// Reads a line of a demo's access log back.
    pub fn parse(line: &str) -> Option<Entry> {
        let mut f = line.splitn(7, ' ');
        Some(Entry {
            at: f.next()?.into(),
            client: f.next()?.into(),
            method: f.next()?.into(),
            status: f.next()?.parse().ok()?,
            bytes: f.next()?.parse().ok()?,
            micros: f.next()?.parse().ok()?,
            path: f.next()?.into(),
        })
    }
}

/// Splits the front door's log into the demos' until `stop`.
pub async fn run(layout: Layout, domain: String, max_bytes: u64, stop: CancellationToken) {
    let mut offset = 0u64;
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let (l, d) = (layout.clone(), domain.clone());
        match tokio::task::spawn_blocking(move || ingest(&l, &d, offset, max_bytes)).await {
            Ok(Ok(o)) => offset = o,
            Ok(Err(e)) => {
                warn!(error = %e, "cannot read the front door's access log");
            }
            Err(e) => warn!(error = %e, "reading the front door's access log did not run"),
        }
    }
}

/// Reads the front door's log from `offset` to its last whole line, appends
/// each request to its demo's log; returns the offset read up to.
pub fn ingest(layout: &Layout, domain: &str, offset: u64, max: u64) -> std::io::Result<u64> {
    let source = layout.frontdoor_logs().join("access.log");
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&source)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let from = if len < offset { 0 } else { offset };
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    Read::by_ref(&mut f).take(4 << 20).read_to_end(&mut buf)?;
    let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut per_demo: std::collections::BTreeMap<String, String> = Default::default();
    for line in String::from_utf8_lossy(&buf[..whole]).lines() {
        if let Some((name, e)) = Entry::from_apache(line, domain) {
            let text = per_demo.entry(name).or_default();
            text.push_str(&e.line());
            text.push('\n');
        }
    }
    for (name, text) in per_demo {
        append_capped(&layout.access_log(&name), text.as_bytes(), max)?;
    }
    let read_to = from + whole as u64;
    // Emptied only once read to its end; Apache appends (O_APPEND), so
    // what it writes next lands at the new start. A request logged between
    // the read and the truncation is lost: a window of microseconds once
    // every megabyte.
    if read_to >= SOURCE_MAX && read_to == f.metadata()?.len() {
        f.set_len(0)?;
        return Ok(0);
    }
    Ok(read_to)
}

/// Appends to a log kept under `max` bytes: past it, the log keeps its last
/// half from a line start (temporary file, rename), as the deploy log does.
fn append_capped(path: &Path, bytes: &[u8], max: u64) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(bytes)?;
    let len = f.metadata()?.len();
    if len <= max {
        return Ok(());
    }
    let mut r = std::fs::File::open(path)?;
    r.seek(SeekFrom::Start(len - max / 2))?;
    let mut end = Vec::new();
    r.read_to_end(&mut end)?;
    let start = end.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
    crate::store::write_atomic(path, &end[start..])
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Removes a destroyed demo's access log.
pub fn remove(layout: &Layout, name: &str) {
    let _ = std::fs::remove_file(layout.access_log(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apaches_lines_go_to_their_demo() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(d.path());
        std::fs::create_dir_all(layout.frontdoor_logs()).unwrap();
        std::fs::create_dir_all(layout.logs().join("access")).unwrap();
        let src = layout.frontdoor_logs().join("access.log");
        std::fs::write(
            &src,
            "1764039845\t127.0.0.1\tGET\t/a b?q=1\t200\t12\t3400\tapp.localhost\n\
             1764039846\t127.0.0.2\tPOST\t/\t401\t0\t100\tlocalhost\n\
             1764039847\t::1\tGET\t/x\t503\t9\t50\tAPP.localhost\n1764",
        )
        .unwrap();
        let o = ingest(&layout, "localhost", 0, 1 << 20).unwrap();
        let kept = std::fs::read_to_string(layout.access_log("app")).unwrap();
        let lines: Vec<&str> = kept.lines().collect();
        assert_eq!(
            lines,
            [
                "2025-11-25T03:04:05Z 127.0.0.1 GET 200 12 3400 /a b?q=1",
                "2025-11-25T03:04:07Z ::1 GET 503 9 50 /x"
            ]
        );
        assert_eq!(Entry::parse(lines[0]).unwrap().path, "/a b?q=1");
        // The unfinished last line waits for its end.
        assert_eq!(o, std::fs::metadata(&src).unwrap().len() - 4);
    }

    #[test]
    fn a_demos_log_is_capped() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.log");
        for i in 0..1000 {
            append_capped(&f, format!("line {i}\n").as_bytes(), 1000).unwrap();
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.len() <= 1000, "{}", text.len());
        assert!(text.ends_with("line 999\n"));
        assert!(text.starts_with("line "));
    }
}
