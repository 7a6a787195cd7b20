//! Printing: tables for people, JSON for programs, times and durations.

use std::io::Write;

use protocol::ProtocolError;

/// A cell on one line: control characters (a newline in a comment, a
/// terminal escape) are shown escaped, so no cell adds a row or recolours the screen.
pub fn cell(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Prints rows as left-aligned columns under a header, two spaces apart,
/// no borders: a person reads it, `awk` splits it.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(std::io::stdout().lock(), "{}", render_table(header, rows));
}

fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.to_vec())
        .add_rows(
            rows.iter()
                .map(|r| r.iter().map(|c| cell(c)).collect::<Vec<_>>()),
        );
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t.lines()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The width a person reads at: the terminal's on standard output, else
/// `COLUMNS`; None when a program reads (a pipe, no `COLUMNS`).
pub fn width() -> Option<usize> {
    let stdout = std::io::stdout();
    if std::io::IsTerminal::is_terminal(&stdout) {
        if let Ok(ws) = rustix::termios::tcgetwinsize(&stdout) {
            if ws.ws_col > 0 {
                return Some(usize::from(ws.ws_col));
            }
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
}

/// How long ago, or how long until, in its largest whole unit: `45s`, `12m`, `5h`, `3d`.
pub fn span(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn json(v: &serde_json::Value) {
    let _ = writeln!(std::io::stdout().lock(), "{v}");
}

pub fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

pub fn error_json(e: &ProtocolError) -> serde_json::Value {
    serde_json::json!({"error": {"kind": format!("{:?}", e.kind), "message": e.message, "detail": e.detail}})
}

/// The last second RFC 3339 can write: 9999-12-31T23:59:59Z.
const LAST_RFC3339_SECS: u64 = 253_402_300_799;

/// Seconds since the epoch as `2026-11-25T03:04:05Z`. A time past year
/// 9999 (a record from before the TTL bound, a daemon of another version)
/// is shown as the last one RFC 3339 can write, never a panic.
pub fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.min(LAST_RFC3339_SECS));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// How long a deploy took, for a person: `850ms`, `1m 12s`; `-` when unknown.
pub fn took(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        // Whole seconds past a minute: the milliseconds of a long install say nothing.
        Some(ms) if ms >= 60_000 => {
            humantime::format_duration(std::time::Duration::from_secs(ms / 1000)).to_string()
        }
        Some(ms) if ms >= 1000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms}ms"),
    }
}

/// `90s`, `30m`, `12h`, `7d`, `2w`, and sums like `1d12h`, in seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    humantime::parse_duration(s.trim())
        .map(|d| d.as_secs())
        .map_err(|e| format!("{s:?} is not a duration like 90s, 30m, 12h, 7d, 2w or 1d12h: {e}"))
}

/// A time to live: a duration of 100 years at most (`protocol::limits`).
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let secs = parse_duration(s)?;
    protocol::limits::check_ttl(secs).map_err(|e| e.message)?;
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("1d12h"), Ok(86_400 + 12 * 3600));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("2w"), Ok(2 * 604_800));
        for bad in ["", "7", "d", "7x", "-1d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_are_columns_two_spaces_apart() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string(), "x".to_string()],
            vec!["long-name".to_string(), "".to_string(), "y z".to_string()],
        ];
        assert_eq!(
            render_table(&["NAME", "N", "COMMENT"], &rows),
            "NAME       N  COMMENT\na          1  x\nlong-name     y z"
        );
    }

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell("plain é"), "plain é");
        assert_eq!(cell("one\ntwo\t\u{1b}[31m"), "one\\ntwo\\t\\u{1b}[31m");
    }

    #[test]
    fn spans_use_their_largest_unit() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(59), "59s");
        assert_eq!(span(60), "1m");
        assert_eq!(span(3599), "59m");
        assert_eq!(span(5 * 3600 + 59), "5h");
        assert_eq!(span(3 * 86_400 + 7), "3d");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_039_845), "2025-11-25T03:04:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        // Whatever the daemon sends, never a panic.
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_800), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn ttls_are_a_hundred_years_at_most() {
        assert_eq!(parse_ttl("100y"), Ok(100 * 31_557_600));
        assert!(parse_ttl("8000y")
            .unwrap_err()
            .contains("longer than 100 years"));
    }
}
