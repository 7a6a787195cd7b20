//! The rule each directive and section of a demo's vhost is held to: those allowed freely, those refused outright and why, and those allowed with a check (own ports, paths inside the demo's folder, proxies to loopback).

use std::path::{Component, Path, PathBuf};

use super::{Place, Policy, Rule};

/// A section opened: which ones a vhost may hold, and where.
pub(super) fn check_section(
    name: &str,
    args: &[String],
    at: Place,
    p: &Policy<'_>,
) -> Result<(), Rule> {
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

/// A directive: refused, free, or held to its check.
pub(super) fn check_directive(
    name: &str,
    args: &[String],
    at: Place,
    p: &Policy<'_>,
) -> Result<(), Rule> {
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
