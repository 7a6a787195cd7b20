//! What a demo's `apache2.conf` may say: an allowlist of directives a virtual host of that demo needs, checked before Apache ever reads the file.
//!
//! The file is parsed as Apache does (continuations, comments, quotes,
//! sections) and every directive is held to a rule: its own ports only,
//! paths inside its own folder, proxies to loopback only, nothing that
//! loads code, runs programs, reads other files or applies to every vhost.
//! Errors name the file, the line, the directive and the rule, never a
//! value: no other file's content can reach a caller or a log.

use std::path::Path;

mod parse;
mod rules;
pub(crate) use parse::{logical_lines, words};
use rules::{check_directive, check_section};

/// A vhost file larger than this is refused unread.
pub const MAX_BYTES: u64 = 256 * 1024;

/// What the file is checked against.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// The demo's folder, as the deploy script's `$PWD` spelled it.
    pub demo_dir: &'a Path,
    /// The ports this demo may listen on.
    pub ports: &'a [u16],
    /// Other demos' ports: named in the refusal, so that a port taken over is told apart from a typo.
    pub others: &'a [u16],
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: line {line}: {directive}: {rule}")]
    Refused {
        file: String,
        line: usize,
        /// The directive's name as written, or a placeholder when it is not a plain name.
        directive: String,
        rule: Rule,
    },
    #[error("{file}: {problem}")]
    Unreadable { file: String, problem: FileProblem },
}

#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("must be a regular file (not a link, a folder or a pipe)")]
    NotRegular,
    #[error("is larger than {MAX_BYTES} bytes")]
    TooBig,
    #[error("is not UTF-8 text")]
    NotText,
    #[error("cannot be read: {0}")]
    Io(std::io::Error),
}

/// The rule a directive broke, in showroom's words only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    #[error("not a directive a demo's virtual host may use")]
    Unknown,
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error("only `Listen` and `<VirtualHost>` may stand outside a <VirtualHost>: anything else would apply to every demo")]
    OutsideVirtualHost,
    #[error("allowed only outside any section")]
    OnlyAtTopLevel,
    #[error("port {0} belongs to another demo")]
    OthersPort(u16),
    #[error("port {port} is not this demo's (it may use {mine})")]
    NotMyPort { port: u16, mine: String },
    #[error("needs an explicit port of this demo (`*:PORT`)")]
    NoPort,
    #[error("paths must be absolute and inside the demo's folder {0}")]
    PathOutside(String),
    #[error("`${{…}}` variables are not allowed: they would be expanded after this check")]
    Variable,
    #[error("proxies only to http://, https://, ws:// or wss:// on 127.0.0.1, localhost or [::1]")]
    ProxyTarget,
    #[error("{0}")]
    BadValue(&'static str),
    #[error("wrong number of arguments")]
    Arity,
    #[error("closes a section that is not open")]
    Unbalanced,
    #[error("this section is never closed")]
    Unclosed,
    #[error("a section's first line must end with `>`")]
    SectionSyntax,
    #[error("an opening quote is never closed")]
    Quote,
}

/// Reads and checks a demo's vhost file; returns the text checked, which is
/// what Apache should load (a copy, so a later rewrite is not loaded unchecked).
pub fn check_file(file: &Path, policy: &Policy<'_>) -> Result<String, PolicyError> {
    let unreadable = |problem| PolicyError::Unreadable {
        file: file.display().to_string(),
        problem,
    };
    // A demo can replace its file with a link to any file, or a fifo: never
    // follow, never block, never read past the limit.
    use crate::demofs::DemoFsError;
    let bytes = crate::demofs::read_in(file, MAX_BYTES).map_err(|e| match e {
        DemoFsError::NotRegular { .. } | DemoFsError::NotAName(_) => {
            unreadable(FileProblem::NotRegular)
        }
        DemoFsError::TooBig { .. } => unreadable(FileProblem::TooBig),
        DemoFsError::Io { source, .. } => unreadable(FileProblem::Io(source)),
        other => unreadable(FileProblem::Io(std::io::Error::other(other.to_string()))),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable(FileProblem::NotText))?;
    check_text(file, &text, policy)?;
    Ok(text)
}

/// Checks the text of a vhost file; `file` only names it in errors.
pub fn check_text(file: &Path, text: &str, policy: &Policy<'_>) -> Result<(), PolicyError> {
    let refuse = |line: usize, directive: &str, rule: Rule| PolicyError::Refused {
        file: file.display().to_string(),
        line,
        directive: printable(directive),
        rule,
    };
    // Open sections: (name, line), innermost last.
    let mut open: Vec<(String, usize)> = Vec::new();
    for (line, raw) in logical_lines(text) {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("</") {
            let name = rest.trim_end_matches('>').trim();
            match open.pop() {
                Some((n, _)) if n.eq_ignore_ascii_case(name) => continue,
                _ => return Err(refuse(line, &format!("</{name}>"), Rule::Unbalanced)),
            }
        }
        if let Some(rest) = trimmed.strip_prefix('<') {
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>')
                .collect();
            let shown = format!("<{name}>");
            let Some(inner) = rest.strip_suffix('>') else {
                return Err(refuse(line, &shown, Rule::SectionSyntax));
            };
            let args = words(&inner[name.len()..]).map_err(|r| refuse(line, &shown, r))?;
            check_section(&name, &args, Place::of(&open), policy)
                .map_err(|r| refuse(line, &shown, r))?;
            open.push((name, line));
            continue;
        }
        let first = trimmed.split_whitespace().next().unwrap_or_default();
        let mut args = words(trimmed).map_err(|r| refuse(line, first, r))?;
        let name = args.remove(0);
        check_directive(&name, &args, Place::of(&open), policy)
            .map_err(|r| refuse(line, &name, r))?;
    }
    if let Some((name, line)) = open.pop() {
        return Err(refuse(line, &format!("<{name}>"), Rule::Unclosed));
    }
    Ok(())
}

/// Where a line stands.
#[derive(Clone, Copy)]
struct Place {
    /// Inside a `<VirtualHost>`.
    in_vhost: bool,
    /// Outside any section but `<IfModule>`.
    top: bool,
}

impl Place {
    fn of(open: &[(String, usize)]) -> Place {
        Place {
            in_vhost: open
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("VirtualHost")),
            top: at_top(open),
        }
    }
}

/// Outside any section but `<IfModule>`, which only guards what it holds.
fn at_top(open: &[(String, usize)]) -> bool {
    open.iter().all(|(n, _)| n.eq_ignore_ascii_case("IfModule"))
}

/// A directive name fit to print: a plain word, or a placeholder.
fn printable(name: &str) -> String {
    let plain = name.len() <= 64
        && name
            .trim_start_matches("</")
            .trim_start_matches('<')
            .trim_end_matches('>')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_owned()
    } else {
        "(a directive name showroom does not repeat)".into()
    }
}

#[cfg(test)]
mod tests;
