//! Reading the end of a log file, and what it gained since: for `logs`, and for Apache's error log when it will not start.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The last `lines` lines of a file (read from at most its last `max_bytes`),
/// each ending in a newline, and the file's length. A missing file is empty.
pub fn last_lines(path: &Path, lines: usize, max_bytes: u64) -> (String, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (String::new(), 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))
        .is_err()
        || f.read_to_end(&mut buf).is_err()
    {
        return (String::new(), len);
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    (out, len)
}

/// What the file gained since `from` (from its start again if it was
/// truncated or rotated), at most `max_bytes`, and the offset read up to.
pub fn grown(path: &Path, from: u64, max_bytes: u64) -> Option<(String, u64)> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len == from {
        return None;
    }
    let start = if len < from { 0 } else { from };
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(max_bytes).read_to_end(&mut buf).ok()?;
    Some((
        String::from_utf8_lossy(&buf).into_owned(),
        start + buf.len() as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_and_what_it_gained() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("log");
        assert_eq!(last_lines(&f, 2, 1024), (String::new(), 0));
        std::fs::write(&f, "a\nb\nc\n").unwrap();
        assert_eq!(last_lines(&f, 2, 1024), ("b\nc\n".into(), 6));
        assert_eq!(
            last_lines(&f, 5, 4).0,
            "b\nc\n",
            "only the last bytes are read"
        );
        assert_eq!(grown(&f, 6, 1024), None);
        std::fs::write(&f, "a\nb\nc\nd\n").unwrap();
        assert_eq!(grown(&f, 6, 1024), Some(("d\n".into(), 8)));
        std::fs::write(&f, "x\n").unwrap();
        assert_eq!(
            grown(&f, 8, 1024),
            Some(("x\n".into(), 2)),
            "truncated: from the start"
        );
    }
}
