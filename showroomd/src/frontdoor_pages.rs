//! The front door's own HTML pages: the index of open demos, the page of a demo that does not answer (stopped, asleep, broken) and the 404; rendered from the same snapshot as its config.

use std::fmt::Write as _;

use protocol::DemoStatus;

use super::{serves, url_for, FrontDemo, Settings};

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str =
    "body{font-family:system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem;\
line-height:1.45;color:#222;background:#f6f6f4}h1{font-size:1.5rem}\
ul.demos{list-style:none;padding:0}li.demo{background:#fff;border:1px solid #ddd;\
border-radius:.5rem;padding:.75rem 1rem;margin:.75rem 0}h2{margin:0;font-size:1.2rem;\
overflow-wrap:anywhere}.meta{margin:.3rem 0;color:#555;font-size:.9rem}\
.status{font-weight:600;padding:0 .4em;border-radius:.3em;background:#eee}\
.up .status{background:#d4f5dc;color:#13572a}.down .status{background:#fde2e1;color:#7a1d17}\
.comment{margin:.3rem 0 0}.url{font-size:.85rem;overflow-wrap:anywhere}code{background:#eee;\
padding:0 .3em;border-radius:.2em}";

/// Shows each demo's age in the reader's browser, counted from its deploy
/// date: the page is a static file, rewritten only when a demo changes, so
/// an age written into it would go stale.
const AGE_SCRIPT: &str = "for(const t of document.querySelectorAll('time[data-created]')){\
const c=Number(t.dataset.created),s=Math.max(0,Date.now()/1000-c);\
const a=s<3600?Math.floor(s/60)+' min':s<172800?Math.floor(s/3600)+' h':Math.floor(s/86400)+' d';\
t.dateTime=t.title=new Date(c*1000).toISOString();t.textContent='deployed '+a+' ago';}";

/// A whole page: `title` and `body` already escaped.
fn page(title: &str, body: &str, script: &str) -> String {
    let script = if script.is_empty() {
        String::new()
    } else {
        format!("<script>{script}</script>\n")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style></head>\n<body>\n{body}{script}</body></html>\n"
    )
}

/// The index at DOMAIN: every demo with its status, app, comment, age and link.
pub fn render_index(s: &Settings, demos: &[FrontDemo]) -> String {
    let domain = escape(&s.domain);
    // A protected demo is left out: the index is one page for every
    // visitor, and its name and comment are for those who may visit it.
    let mut demos: Vec<&FrontDemo> = demos.iter().filter(|d| d.access.is_open()).collect();
    demos.sort_by(|a, b| a.name.cmp(&b.name));
    let mut body = format!("<h1>Demos at {domain}</h1>\n");
    if demos.is_empty() {
        body += "<p>No demo yet: an operator deploys one with <code>showroomctl deploy APP NAME</code>.</p>\n";
    }
    body += "<ul class=\"demos\">\n";
    for d in demos {
        let name = escape(&d.name);
        let (title, url) = match url_for(s, &d.name) {
            Some(u) => {
                let u = escape(&u);
                (
                    format!("<a href=\"{u}\">{name}</a>"),
                    format!("<p class=\"url\"><a href=\"{u}\">{u}</a></p>\n"),
                )
            }
            None => (name.clone(), String::new()),
        };
        let class = if serves(d.status) { "up" } else { "down" };
        let comment = if d.comment.is_empty() {
            String::new()
        } else {
            format!("<p class=\"comment\">{}</p>\n", escape(&d.comment))
        };
        let comment = if d.reason.is_empty() || serves(d.status) {
            comment
        } else {
            format!("<p class=\"reason\">{}</p>\n{comment}", escape(&d.reason))
        };
        let _ = write!(
            body,
            "<li class=\"demo {class}\" id=\"demo-{name}\">\n<h2>{title}</h2>\n\
             <p class=\"meta\"><span class=\"status\">{status}</span> <span class=\"app\">{app}</span> · \
             <time data-created=\"{created}\">deployed</time></p>\n{comment}{url}</li>\n",
            status = d.status.as_str(),
            app = escape(&d.app),
            created = d.created,
        );
    }
    body += "</ul>\n";
    page(&format!("Demos at {domain}"), &body, AGE_SCRIPT)
}

/// What a 503 answer asks clients to wait before trying again, in seconds.
pub const RETRY_AFTER_SECS: u32 = 60;

/// A status in words, for visitors.
pub fn status_words(status: DemoStatus) -> &'static str {
    match status {
        DemoStatus::Deploying => "being set up",
        DemoStatus::Stopped => "stopped",
        DemoStatus::Starting => "starting",
        DemoStatus::Running => "running",
        DemoStatus::Backoff => "having trouble starting",
        DemoStatus::Stopping => "stopping",
        DemoStatus::Exited => "stopped after its program ended",
        DemoStatus::Fatal => "broken: it could not start",
        DemoStatus::Partial => "partly running",
        DemoStatus::Unknown => "in an unknown state",
        DemoStatus::Destroyed => "gone",
        DemoStatus::Sleeping => "asleep: it wakes at its first visit",
    }
}

/// The page a demo that is not running answers with (status 503), for
/// visitors: its comment, its status in words, when it expires, whom to
/// ask; never params, paths or operator commands. A protected demo's page
/// says nothing of it (a visitor who may not see it gets this page too).
pub fn render_stopped(s: &Settings, d: &FrontDemo) -> String {
    let n = escape(&d.name);
    // The reason in words, never one naming a path (or anything long).
    let reason = Some(d.reason.trim())
        .filter(|r| !r.is_empty() && r.len() <= 120 && !r.contains('/') && d.access.is_open())
        .map_or(String::new(), |r| format!(" ({})", escape(r)));
    let mut body = format!(
        "<h1>{n} is not available right now</h1>\n<p class=\"status\">This demo is {}{reason}.</p>\n",
        status_words(d.status)
    );
    if d.access.is_open() {
        if !d.comment.is_empty() {
            body += &format!("<p class=\"comment\">{}</p>\n", escape(&d.comment));
        }
        if let Some(at) = d.expires_at {
            body += &format!(
                "<p class=\"expiry\">It expires <time data-at=\"{at}\">{}</time>.</p>\n",
                utc(at)
            );
        }
    }
    body += "<p>Try again in a few minutes.</p>\n";
    if let Some(c) = &s.contact {
        body += &format!("<p class=\"contact\">{}</p>\n", escape(c));
    }
    if s.index {
        body += &format!(
            "<p><a href=\"{}\">All demos</a></p>\n",
            escape(&s.index_url())
        );
    }
    page(&format!("{n}: not available"), &body, "")
}

/// Seconds since the epoch as `2026-12-02 04:37 UTC`.
fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02} UTC")
}

/// The page a name that is no demo's answers with (status 404).
pub fn render_not_found(s: &Settings) -> String {
    let domain = escape(&s.domain);
    let body = format!(
        "<h1>No such demo</h1>\n<p>No demo at {domain} answers to this name.</p>\n\
         <p><a href=\"{}\">All demos</a></p>\n",
        escape(&s.index_url())
    );
    page(&format!("No such demo at {domain}"), &body, "")
}
