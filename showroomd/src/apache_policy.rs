//! What a demo's `apache2.conf` may say: an allowlist of directives a virtual host of that demo needs, checked before Apache ever reads the file.
//!
//! The file is parsed as Apache does (continuations, comments, quotes,
//! sections) and every directive is held to a rule: its own ports only,
//! paths inside its own folder, proxies to loopback only, nothing that
//! loads code, runs programs, reads other files or applies to every vhost.
//! Errors name the file, the line, the directive and the rule, never a
//! value: no other file's content can reach a caller or a log.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

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
    // A demo can replace its file with a link to any file, or a fifo: never follow, never block.
    let meta = file
        .symlink_metadata()
        .map_err(|e| unreadable(FileProblem::Io(e)))?;
    if !meta.file_type().is_file() {
        return Err(unreadable(FileProblem::NotRegular));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(file)
        .map_err(|e| unreadable(FileProblem::Io(e)))?;
    let meta = f.metadata().map_err(|e| unreadable(FileProblem::Io(e)))?;
    if !meta.is_file() {
        return Err(unreadable(FileProblem::NotRegular));
    }
    if meta.len() > MAX_BYTES {
        return Err(unreadable(FileProblem::TooBig));
    }
    let mut bytes = Vec::new();
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(FileProblem::Io(e)))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(unreadable(FileProblem::TooBig));
    }
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

/// Lines joined where one ends with a backslash, each with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                current = Some((start, acc));
            }
            None => {
                acc.push_str(line);
                out.push((start, acc));
            }
        }
    }
    out.extend(current);
    out
}

/// Apache's word splitting (`ap_getword_conf`): white space separates,
/// `"…"` and `'…'` quote, a backslash escapes the quote inside them.
fn words(s: &str) -> Result<Vec<String>, Rule> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(Rule::Quote),
                    Some('\\') if matches!(chars.peek(), Some(&c) if c == first || c == '\\') => {
                        word.push(chars.next().expect("peeked"));
                    }
                    Some(c) if c == first => break,
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        out.push(word);
    }
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

fn check_section(name: &str, args: &[String], at: Place, p: &Policy<'_>) -> Result<(), Rule> {
    let Place { in_vhost, top } = at;
    no_variables(args)?;
    match name.to_ascii_lowercase().as_str() {
        // Its contents are checked as if it were not there.
        "ifmodule" => Ok(()),
        "virtualhost" => {
            if !top {
                return Err(Rule::OnlyAtTopLevel);
            }
            if args.is_empty() {
                return Err(Rule::Arity);
            }
            args.iter().try_for_each(|a| match a.rsplit_once(':') {
                Some((_, port)) if !port.ends_with(']') => own_port(port, p),
                _ => Err(Rule::NoPort),
            })
        }
        _ if !in_vhost => Err(Rule::OutsideVirtualHost),
        "directory" => match args {
            [path] if path != "~" => inside(path, p),
            [_] | [_, _] => Err(Rule::Refused(
                "a regular expression cannot be held to the demo's folder",
            )),
            _ => Err(Rule::Arity),
        },
        "location" | "locationmatch" | "files" | "filesmatch" | "limit" | "limitexcept"
        | "requireall" | "requireany" | "requirenone" => Ok(()),
        "directorymatch" => Err(Rule::Refused(
            "a regular expression cannot be held to the demo's folder",
        )),
        "if" | "elseif" | "else" => Err(Rule::Refused(
            "expressions can read files (`file()`) and the server's environment",
        )),
        "proxy" | "proxymatch" => Err(Rule::Refused(
            "proxy sections are not needed: use ProxyPass",
        )),
        _ => Err(Rule::Unknown),
    }
}

/// Plain settings a vhost may use with any value.
const FREE: &[&str] = &[
    "servername",
    "serveralias",
    "serveradmin",
    "serversignature",
    "usecanonicalname",
    "directoryindex",
    "directoryslash",
    "fallbackresource",
    "errordocument",
    "redirect",
    "redirectmatch",
    "redirectpermanent",
    "redirecttemp",
    "addtype",
    "addcharset",
    "addencoding",
    "addlanguage",
    "adddefaultcharset",
    "defaultlanguage",
    "forcetype",
    "removetype",
    "indexoptions",
    "indexignore",
    "indexorderdefault",
    "headername",
    "readmename",
    "fileetag",
    "enablesendfile",
    "enablemmap",
    "acceptpathinfo",
    "limitrequestbody",
    "limitrequestfields",
    "limitrequestfieldsize",
    "limitrequestline",
    "limitxmlrequestbody",
    "timeout",
    "keepalive",
    "keepalivetimeout",
    "maxkeepaliverequests",
    "expiresactive",
    "expiresdefault",
    "expiresbytype",
    "setenvif",
    "setenvifnocase",
    "browsermatch",
    "browsermatchnocase",
    "proxypreservehost",
    "proxytimeout",
    "proxyaddheaders",
    "proxypassreversecookiepath",
    "proxypassreversecookiedomain",
];

/// Directives refused outright, with why.
const REFUSED: &[(&str, &str)] = &[
    ("loadmodule", "loads code into the Apache every demo shares"),
    ("loadfile", "loads code into the Apache every demo shares"),
    ("include", "a demo's configuration is this one file"),
    ("includeoptional", "a demo's configuration is this one file"),
    ("errorlog", "Apache's logs are showroom's (each line names the vhost): a log file in the demo's folder could be a link into another demo's"),
    ("customlog", "Apache's logs are showroom's (each line names the vhost): a log file in the demo's folder could be a link into another demo's"),
    ("transferlog", "Apache's logs are showroom's (each line names the vhost): a log file in the demo's folder could be a link into another demo's"),
    ("globallog", "Apache's logs are showroom's"),
    ("scriptalias", "CGI programs would run in the Apache every demo shares"),
    ("scriptaliasmatch", "CGI programs would run in the Apache every demo shares"),
    ("addhandler", "handlers run programs or expose the server's state"),
    ("sethandler", "handlers run programs or expose the server's state"),
    ("action", "handlers run programs or expose the server's state"),
    ("aliasmatch", "a regular expression's substitution cannot be held to the demo's folder"),
    ("rewriteengine", "mod_rewrite can map a URL to any file, proxy anywhere and run programs (RewriteMap)"),
    ("rewriterule", "mod_rewrite can map a URL to any file, proxy anywhere and run programs (RewriteMap)"),
    ("rewritecond", "mod_rewrite can map a URL to any file, proxy anywhere and run programs (RewriteMap)"),
    ("rewritemap", "mod_rewrite can map a URL to any file, proxy anywhere and run programs (RewriteMap)"),
    ("rewritebase", "mod_rewrite can map a URL to any file, proxy anywhere and run programs (RewriteMap)"),
    ("rewriteoptions", "mod_rewrite can map a URL to any file, proxy anywhere and run programs (RewriteMap)"),
    ("user", "the server's account is showroom's"),
    ("group", "the server's account is showroom's"),
    ("serverroot", "a server-wide setting"),
    ("pidfile", "a server-wide setting"),
    ("defaultruntimedir", "a server-wide setting"),
    ("mutex", "a server-wide setting"),
    ("typesconfig", "a server-wide setting"),
    ("define", "a variable defined here applies to every demo"),
    ("undefine", "a variable defined here applies to every demo"),
    ("passenv", "passes the server's environment on"),
    ("accessfilename", ".htaccess files are not read (AllowOverride None)"),
    ("proxypassmatch", "use ProxyPass"),
    ("proxyremote", "proxies only to loopback"),
    ("proxyremotematch", "proxies only to loopback"),
    ("proxyrequests", "a forward proxy would let anyone use this host"),
    ("authuserfile", "reads a file of the host"),
    ("authgroupfile", "reads a file of the host"),
];

fn check_directive(name: &str, args: &[String], at: Place, p: &Policy<'_>) -> Result<(), Rule> {
    let Place { in_vhost, top } = at;
    let lower = name.to_ascii_lowercase();
    if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == lower) {
        return Err(Rule::Refused(why));
    }
    no_variables(args)?;
    if lower == "listen" {
        if !top {
            return Err(Rule::OnlyAtTopLevel);
        }
        let [addr, rest @ ..] = args else {
            return Err(Rule::Arity);
        };
        if rest.len() > 1 || rest.iter().any(|r| !r.eq_ignore_ascii_case("http")) {
            return Err(Rule::BadValue(
                "Listen takes [ADDRESS:]PORT and at most `http`",
            ));
        }
        let port = addr.rsplit_once(':').map_or(addr.as_str(), |(_, p)| p);
        return own_port(port, p);
    }
    if !in_vhost {
        return Err(Rule::OutsideVirtualHost);
    }
    match lower.as_str() {
        n if FREE.contains(&n) => Ok(()),
        "documentroot" => match args {
            [path] => inside(path, p),
            _ => Err(Rule::Arity),
        },
        "alias" => match args {
            [_, path] => inside(path, p),
            _ => Err(Rule::Arity),
        },
        "options" => args.iter().try_for_each(|o| {
            let bare = o.trim_start_matches(['+', '-']).to_ascii_lowercase();
            let harmless = matches!(bare.as_str(), "none" | "indexes" | "multiviews");
            if harmless || o.starts_with('-') {
                Ok(())
            } else {
                Err(Rule::BadValue("Options may be None, Indexes or MultiViews: symbolic links are never followed (a demo can plant one to any file), CGI and server-side includes never run"))
            }
        }),
        "allowoverride" | "allowoverridelist" => match args {
            [v] if v.eq_ignore_ascii_case("none") => Ok(()),
            _ => Err(Rule::BadValue(
                "only `None`: .htaccess files are the demo's to write and are not read",
            )),
        },
        "require" => {
            let words: Vec<String> = args
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .skip_while(|a| a == "not")
                .collect();
            match words.first().map(String::as_str) {
                Some("all" | "ip" | "host" | "local" | "method") => Ok(()),
                _ => Err(Rule::BadValue(
                    "Require may use all, ip, host, local or method (expressions can read files)",
                )),
            }
        }
        "header" | "requestheader" => {
            if args
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with("expr=") || a.contains("%{"))
            {
                Err(Rule::BadValue(
                    "headers may not use expressions or `%{…}` (they can read files and the server's environment)",
                ))
            } else {
                Ok(())
            }
        }
        "setenv" | "unsetenv" => match args.first() {
            Some(var) if var.to_ascii_uppercase().starts_with("LD_") || var == "PATH" => {
                Err(Rule::BadValue("LD_* and PATH are not the demo's to set"))
            }
            Some(_) => Ok(()),
            None => Err(Rule::Arity),
        },
        "loglevel" => args.iter().try_for_each(|a| {
            let level = a.rsplit(':').next().unwrap_or(a).to_ascii_lowercase();
            if matches!(
                level.as_str(),
                "emerg" | "alert" | "crit" | "error" | "warn" | "notice" | "info"
            ) {
                Ok(())
            } else {
                Err(Rule::BadValue(
                    "LogLevel at most `info`: the log is shared by every demo",
                ))
            }
        }),
        "proxypass" | "proxypassreverse" => match args {
            [_, target, params @ ..] => {
                if lower == "proxypass" && target == "!" && params.is_empty() {
                    return Ok(());
                }
                loopback_url(target)?;
                if params.iter().all(|k| {
                    k.split_once('=').is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric())
                    }) || matches!(k.as_str(), "nocanon" | "noquery")
                }) {
                    Ok(())
                } else {
                    Err(Rule::BadValue(
                        "after the URL, ProxyPass takes KEY=VALUE, nocanon or noquery",
                    ))
                }
            }
            _ => Err(Rule::Arity),
        },
        _ => Err(Rule::Unknown),
    }
}

fn no_variables(args: &[String]) -> Result<(), Rule> {
    if args.iter().any(|a| a.contains("${")) {
        Err(Rule::Variable)
    } else {
        Ok(())
    }
}

fn own_port(text: &str, p: &Policy<'_>) -> Result<(), Rule> {
    let Ok(port) = text.parse::<u16>() else {
        return Err(Rule::NoPort);
    };
    if p.ports.contains(&port) {
        return Ok(());
    }
    if p.others.contains(&port) {
        return Err(Rule::OthersPort(port));
    }
    Err(Rule::NotMyPort {
        port,
        mine: p
            .ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Whether `path` is, lexically, the demo's folder or inside it. `..` is
/// refused rather than resolved: Apache would resolve it against links.
fn inside(path: &str, p: &Policy<'_>) -> Result<(), Rule> {
    let outside = || Rule::PathOutside(p.demo_dir.display().to_string());
    let path = Path::new(path);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(outside());
    }
    let plain: PathBuf = path.components().collect();
    let dir: PathBuf = p.demo_dir.components().collect();
    if plain.starts_with(&dir) {
        Ok(())
    } else {
        Err(outside())
    }
}

fn loopback_url(url: &str) -> Result<(), Rule> {
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s))
        .ok_or(Rule::ProxyTarget)?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']').map(|(h, _)| format!("[{h}]"))
    } else {
        Some(authority.split(':').next().unwrap_or("").to_owned())
    };
    let port_ok = authority
        .rsplit_once(':')
        .filter(|(_, p)| !p.ends_with(']'))
        .is_none_or(|(_, p)| p.parse::<u16>().is_ok());
    match host.as_deref() {
        Some("127.0.0.1" | "localhost" | "[::1]") if port_ok && !authority.contains('@') => Ok(()),
        _ => Err(Rule::ProxyTarget),
    }
}

#[cfg(test)]
#[path = "apache_policy_tests.rs"]
mod tests;
