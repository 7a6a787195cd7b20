//! `list`: installed demos, sorted by name and filtered, in a table that fits the width it is read at.

use std::collections::BTreeMap;
use std::process::ExitCode;

use protocol::{Client, ClientError, DemoInfo, DemoStatus, Request, Response};
use serde_json::json;
use unicode_width::UnicodeWidthStr;

use crate::output;

/// The documented JSON shape of one demo (also used by `deploy --json`).
pub fn demo_json(d: &DemoInfo) -> serde_json::Value {
    let params: serde_json::Map<String, serde_json::Value> = d
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "name": d.name,
        "app": d.app,
        "port": d.port,
        "status": d.status.as_str(),
        "comment": d.comment,
        "created": output::rfc3339(d.created),
        "params": params,
        "reason": d.reason,
        "wanted": d.wanted.as_str(),
        "expires_at": d.expires_at.map(output::rfc3339),
        "deploy_secs": d.deploy_ms.map(|ms| ms as f64 / 1000.0),
        "url": d.url,
        "keep": d.keep,
        "port2": d.port2,
        "access": d.access,
        "not_served": d.not_served,
        "limits": {
            "memory": d.limits.memory,
            "procs": d.limits.procs,
            "tmp_size": d.limits.tmp_size,
            "nofile": d.limits.nofile,
        },
    })
}

/// The REASON cell: the status's reason, and `kept` for a demo no cleanup touches.
fn reason_cell(d: &DemoInfo) -> String {
    match (d.keep, d.reason.is_empty()) {
        (false, _) => d.reason.clone(),
        (true, true) => "kept".into(),
        (true, false) => format!("kept; {}", d.reason),
    }
}

/// Which demos `list` shows: every filter given must match.
#[derive(Debug, Default)]
pub struct Filter {
    /// A glob on the name: `*` any run of characters, `?` any one.
    pub pattern: Option<String>,
    pub statuses: Vec<DemoStatus>,
    pub apps: Vec<String>,
}

impl Filter {
    fn keeps(&self, d: &DemoInfo) -> bool {
        self.pattern.as_deref().is_none_or(|p| glob(p, &d.name))
            && (self.statuses.is_empty() || self.statuses.contains(&d.status))
            && (self.apps.is_empty() || self.apps.contains(&d.app))
    }

    fn is_empty(&self) -> bool {
        self.pattern.is_none() && self.statuses.is_empty() && self.apps.is_empty()
    }
}

pub async fn run(
    c: &mut Client,
    as_json: bool,
    filter: Filter,
    wide: bool,
) -> Result<ExitCode, ClientError> {
    let r = c.request(&Request::List).await?;
    let Response::List(all) = r else {
        return Err(super::unexpected(r));
    };
    let total = all.len();
    let demos: Vec<DemoInfo> = all.into_iter().filter(|d| filter.keeps(d)).collect();
    if as_json {
        output::json(&serde_json::Value::Array(
            demos.iter().map(demo_json).collect(),
        ));
        return Ok(ExitCode::SUCCESS);
    }
    // No width: a program reads through a pipe, and gets the table as it
    // always was, with no line added (scripts split it and count its rows).
    let Some(width) = output::width() else {
        wide_table(&demos);
        return Ok(ExitCode::SUCCESS);
    };
    if wide {
        wide_table(&demos);
    } else {
        for line in fitted(&demos, width, output::now_secs()) {
            output::say(&line);
        }
    }
    if let Some(note) = no_url_note(&demos) {
        output::say(&cut(&note, width));
    }
    let of = (!filter.is_empty()).then_some(total);
    output::say(&cut(&count_line(&demos, of), width));
    Ok(ExitCode::SUCCESS)
}

/// Every column with full times, as `list` always printed: `-o wide`, and any pipe.
fn wide_table(demos: &[DemoInfo]) {
    // A REASON column only when some demo has one: the usual table,
    // and the column positions scripts split on, stay as they were.
    let reasons = demos.iter().any(|d| !d.reason.is_empty() || d.keep);
    let rows: Vec<Vec<String>> = demos
        .iter()
        .map(|d| {
            let mut row = vec![
                d.name.clone(),
                d.app.clone(),
                port(d),
                d.status.to_string(),
                d.wanted.as_str().to_owned(),
                output::rfc3339(d.created),
                d.expires_at
                    .map(output::rfc3339)
                    .unwrap_or_else(|| "never".into()),
                output::took(d.deploy_ms),
                d.comment.clone(),
                url(d),
            ];
            if reasons {
                row.push(reason_cell(d));
            }
            row
        })
        .collect();
    let mut header = vec![
        "NAME", "APP", "PORT", "STATUS", "WANTED", "CREATED", "EXPIRES", "DEPLOY", "COMMENT", "URL",
    ];
    if reasons {
        header.push("REASON");
    }
    output::table(&header, &rows);
}

fn port(d: &DemoInfo) -> String {
    d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
}

/// The URL, or why there is none when it is the name's fault.
fn url(d: &DemoInfo) -> String {
    match &d.url {
        Some(u) => u.clone(),
        None if !protocol::names::is_host_label(&d.name) => NO_URL.into(),
        None => "-".into(),
    }
}

/// The URL cell of a demo named before names had to be host labels.
const NO_URL: &str = "none: not a host name";

/// Columns left out when the width is short, the first first. NAME and
/// STATUS always stay: they are what a row is about.
pub const DROP_ORDER: [&str; 9] = [
    "DEPLOY", "WANTED", "URL", "AGE", "EXPIRES", "PORT", "APP", "COMMENT", "REASON",
];

/// Elastic columns are cut with `…` down to this many cells before a
/// column is left out: a comment is a hint, a reason says why a demo is down.
const COMMENT_MIN: usize = 10;
const REASON_MIN: usize = 30;

struct Column {
    header: &'static str,
    cells: Vec<String>,
    /// Some: cut down to this many cells rather than dropped at once.
    elastic: Option<usize>,
}

impl Column {
    fn new(header: &'static str, demos: &[DemoInfo], f: impl Fn(&DemoInfo) -> String) -> Self {
        Column {
            header,
            cells: demos.iter().map(|d| output::cell(&f(d))).collect(),
            elastic: None,
        }
    }

    fn natural(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.width())
            .chain([self.header.width()])
            .max()
            .unwrap_or(0)
    }

    fn least(&self) -> usize {
        match self.elastic {
            Some(least) => self.natural().min(least),
            None => self.natural(),
        }
    }
}

/// The table at `width`: relative times, columns left out in `DROP_ORDER`
/// until the rest fits, comment and reason cut with `…`, and any line still
/// too long (a name wider than the terminal) cut at the width.
fn fitted(demos: &[DemoInfo], width: usize, now: u64) -> Vec<String> {
    let elastic = |mut c: Column, least: usize| {
        c.elastic = Some(least);
        c
    };
    let mut cols = vec![
        Column::new("NAME", demos, |d| d.name.clone()),
        Column::new("APP", demos, |d| d.app.clone()),
        Column::new("PORT", demos, port),
        Column::new("STATUS", demos, |d| d.status.to_string()),
        Column::new("WANTED", demos, |d| d.wanted.as_str().to_owned()),
        Column::new("AGE", demos, |d| {
            output::span(now.saturating_sub(d.created))
        }),
        Column::new("EXPIRES", demos, |d| match d.expires_at {
            None => "never".into(),
            Some(t) if t <= now => "due".into(),
            Some(t) => format!("in {}", output::span(t - now)),
        }),
        Column::new("DEPLOY", demos, |d| output::took(d.deploy_ms)),
        elastic(
            Column::new("COMMENT", demos, |d| d.comment.clone()),
            COMMENT_MIN,
        ),
        Column::new("URL", demos, url),
        elastic(Column::new("REASON", demos, reason_cell), REASON_MIN),
        // A KEEP column goes here once DemoInfo carries `keep` (the daemon's
        // half of issue 21), and into DROP_ORDER after DEPLOY.
    ];
    // Columns with nothing to say take no room.
    cols.retain(|c| {
        !matches!(c.header, "COMMENT" | "REASON") || c.cells.iter().any(|s| !s.is_empty())
    });
    let need = |cols: &[Column]| {
        cols.iter().map(Column::least).sum::<usize>() + 2 * cols.len().saturating_sub(1)
    };
    for header in DROP_ORDER {
        if need(&cols) <= width {
            break;
        }
        cols.retain(|c| c.header != header);
    }
    let mut widths: Vec<usize> = cols.iter().map(Column::natural).collect();
    let fixed: usize = cols
        .iter()
        .filter(|c| c.elastic.is_none())
        .map(Column::natural)
        .sum::<usize>()
        + 2 * cols.len().saturating_sub(1);
    let mut room = width.saturating_sub(fixed);
    // The reason before the comment: it says why a demo is not running.
    let mut elastic_at: Vec<usize> = (0..cols.len())
        .filter(|&i| cols[i].elastic.is_some())
        .collect();
    elastic_at.reverse();
    for (k, &i) in elastic_at.iter().enumerate() {
        let later: usize = elastic_at[k + 1..].iter().map(|&j| cols[j].least()).sum();
        let w = cols[i]
            .natural()
            .min(room.saturating_sub(later))
            .max(cols[i].least());
        widths[i] = w;
        room = room.saturating_sub(w);
    }
    let row = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                let c = cut(c, w);
                if i == last {
                    c
                } else {
                    let pad = w.saturating_sub(c.width());
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        cut(line.join("  ").trim_end(), width)
    };
    let mut lines = vec![row(cols.iter().map(|c| c.header).collect())];
    for r in 0..demos.len() {
        lines.push(row(cols.iter().map(|c| c.cells[r].as_str()).collect()));
    }
    lines
}

/// `text` in at most `width` cells, its end replaced by `…` when it is cut.
fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `12 demos: 9 RUNNING, 3 STOPPED`, the largest count first; with a
/// filter, how many there are in all (`3 demos (of 12): 3 RUNNING`).
fn count_line(demos: &[DemoInfo], of: Option<usize>) -> String {
    let mut by_status: BTreeMap<DemoStatus, usize> = BTreeMap::new();
    for d in demos {
        *by_status.entry(d.status).or_default() += 1;
    }
    let mut counts: Vec<(DemoStatus, usize)> = by_status.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = demos.len();
    let mut line = format!("{n} demo{}", if n == 1 { "" } else { "s" });
    if let Some(total) = of {
        line.push_str(&format!(" (of {total})"));
    }
    if !counts.is_empty() {
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        line.push_str(&format!(": {}", parts.join(", ")));
    }
    line
}

/// A line naming the demos that have no URL because of their name (made
/// before names had to be host labels): they keep working on their port.
fn no_url_note(demos: &[DemoInfo]) -> Option<String> {
    let names: Vec<&str> = demos
        .iter()
        .filter(|d| d.url.is_none() && !protocol::names::is_host_label(&d.name))
        .map(|d| d.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "no URL for {}: not a host name (lower-case letters, digits and '-'); reached on its port",
        names.join(", ")
    ))
}

/// Whether `name` matches `pattern`, where `*` stands for any run of
/// characters and `?` for any one.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and where in the name it has matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Wanted;

    fn demo(name: &str, status: DemoStatus, comment: &str) -> DemoInfo {
        DemoInfo {
            name: name.into(),
            app: "testapache".into(),
            port: Some(20_000),
            status,
            comment: comment.into(),
            created: 1_000_000 - 3 * 86_400,
            params: vec![],
            reason: String::new(),
            wanted: Wanted::Running,
            expires_at: Some(1_000_000 + 5 * 3600 + 10),
            deploy_ms: Some(1234),
            url: Some(format!("http://{name}.localhost:8080/")),
            access: "open".into(),
            not_served: String::new(),
            limits: Default::default(),
            keep: false,
            port2: None,
        }
    }

    #[test]
    fn globs() {
        for (p, n, m) in [
            ("feat-*", "feat-x", true),
            ("feat-*", "feat-", true),
            ("feat-*", "xfeat-1", false),
            ("*-2", "a-b-2", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(glob(p, n), m, "{p} {n}");
        }
    }

    #[test]
    fn fitted_tables_fit_and_keep_one_line_a_demo() {
        let long = "a comment long enough to need cutting at any width below two hundred characters, with é and 漢字 in it";
        let demos: Vec<DemoInfo> = (0..30)
            .map(|i| demo(&format!("demo-{i:02}"), DemoStatus::Running, long))
            .collect();
        for width in [40, 80, 120, 200] {
            let lines = fitted(&demos, width, 1_000_000);
            assert_eq!(lines.len(), 31);
            for l in &lines {
                assert!(l.width() <= width, "{width}: {l:?}");
            }
            assert!(lines[0].starts_with("NAME"));
            assert!(lines[1].contains("demo-00") && lines[1].contains("RUNNING"));
        }
        let at80 = fitted(&demos, 80, 1_000_000);
        assert!(
            at80[1].contains("3d") && at80[1].contains("in 5h"),
            "{}",
            at80[1]
        );
        assert!(at80[1].contains('…'), "the comment is cut: {}", at80[1]);
        assert!(!at80[0].contains("DEPLOY"), "{}", at80[0]);
        let at200 = fitted(&demos, 200, 1_000_000);
        assert!(at200[0].contains("URL") && at200[0].contains("DEPLOY"));
        // Narrower than NAME and STATUS: lines are cut, never wrapped.
        for l in fitted(&demos, 12, 1_000_000) {
            assert!(l.width() <= 12, "{l:?}");
        }
    }

    #[test]
    fn a_reason_keeps_its_room_before_the_comment() {
        let mut d = demo("x", DemoStatus::Fatal, &"c".repeat(100));
        d.reason = "exited with status 1: FATAL: DATABASE_URL is not set".into();
        let lines = fitted(&[d], 80, 1_000_000);
        assert!(lines[0].ends_with("REASON"), "{}", lines[0]);
        assert!(
            lines[1].contains("exited with status 1: FATAL: DATA"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("ccccccccc…"), "{}", lines[1]);
    }

    #[test]
    fn counts_by_status_largest_first() {
        let mut demos: Vec<DemoInfo> = (0..9)
            .map(|i| demo(&format!("r{i}"), DemoStatus::Running, ""))
            .collect();
        demos.extend((0..3).map(|i| demo(&format!("s{i}"), DemoStatus::Stopped, "")));
        assert_eq!(count_line(&demos, None), "12 demos: 9 RUNNING, 3 STOPPED");
        assert_eq!(
            count_line(&demos[..1], Some(12)),
            "1 demo (of 12): 1 RUNNING"
        );
        assert_eq!(count_line(&[], None), "0 demos");
    }

    #[test]
    fn old_names_are_noted_without_url() {
        let mut old = demo("Feature_X", DemoStatus::Stopped, "");
        old.url = None;
        assert_eq!(url(&old), NO_URL);
        let note = no_url_note(&[old, demo("ok", DemoStatus::Stopped, "")]).unwrap();
        assert!(note.starts_with("no URL for Feature_X:"), "{note}");
        assert!(no_url_note(&[demo("ok", DemoStatus::Stopped, "")]).is_none());
    }
}
