//! The front door: every demo at http(s)://NAME.DOMAIN[:PORT]/ through the shared Apache, an index of them at DOMAIN, pages for stopped and unknown names; pure renderers, and their staging behind Apache's config test.

use std::fmt::Write as _;
use std::path::PathBuf;

use protocol::{DemoInfo, DemoStatus};

use crate::visitors::Access;

use crate::apache::ApacheError;
use crate::config::Config;
use crate::layout::Layout;
use crate::store::{self, StoreError};

/// Where and how the front door is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub domain: String,
    /// The HTTP port: the front door itself, or with TLS only its redirect.
    pub port: u16,
    pub tls: Option<Tls>,
    /// The folder Apache serves the front door's own pages from.
    pub pages: PathBuf,
    /// Where visitors' password files are (`visitors::password_file`).
    pub auth: PathBuf,
    /// Shown to visitors on a 503 page: whom to ask.
    pub contact: Option<String>,
    /// The index at DOMAIN; false: 404 as an unknown name.
    pub index: bool,
    /// Address ranges the index may be read from; empty: anyone.
    pub index_allow: Vec<String>,
    /// Listen on `[::]` besides `0.0.0.0`.
    pub ipv6: bool,
    /// showroomd's socket a sleeping demo's requests are proxied to (`waker`).
    pub wake_socket: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Settings {
    /// None when the config turns the front door off (`front_port = 0`).
    pub fn from_config(cfg: &Config, layout: &Layout) -> Option<Settings> {
        if cfg.front_port == 0 {
            return None;
        }
        // Apache reads showroomd's copies (`install_tls`): it never runs as
        // root, and the operator's key may be readable by root alone.
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(_), Some(_)) => Some(Tls {
                port: cfg.tls_port,
                cert: layout.frontdoor_run().join("frontdoor-cert.pem"),
                key: layout.frontdoor_run().join("frontdoor-key.pem"),
            }),
            _ => None,
        };
        Some(Settings {
            domain: cfg.domain.clone(),
            port: cfg.front_port,
            tls,
            pages: layout.frontdoor_pages(),
            auth: layout.frontdoor_auth(),
            contact: cfg.contact.clone(),
            index: cfg.index,
            index_allow: cfg.index_allow.clone(),
            ipv6: crate::frontdoor_server::host_has_ipv6(),
            wake_socket: crate::sleep::wake_socket(layout),
        })
    }

    /// The URL people use for `host`: HTTPS when there is a certificate,
    /// the port left out when it is the scheme's own.
    fn url_of_host(&self, host: &str) -> String {
        let (scheme, port, default) = match &self.tls {
            Some(t) => ("https", t.port, 443),
            None => ("http", self.port, 80),
        };
        if port == default {
            format!("{scheme}://{host}/")
        } else {
            format!("{scheme}://{host}:{port}/")
        }
    }

    /// The index page's URL.
    pub fn index_url(&self) -> String {
        self.url_of_host(&self.domain)
    }

    /// The ports it listens on: HTTP, then HTTPS.
    pub fn ports(&self) -> Vec<u16> {
        std::iter::once(self.port)
            .chain(self.tls.as_ref().map(|t| t.port))
            .collect()
    }
}

/// What the front door knows of a demo: its params never reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDemo {
    pub name: String,
    /// None for a damaged record: listed, never proxied.
    pub port: Option<u16>,
    pub status: DemoStatus,
    pub app: String,
    pub comment: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// When it expires, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Who may visit it.
    pub access: Access,
    /// Why it is in its status, when showroomd knows (`DemoInfo.reason`).
    pub reason: String,
}

impl From<&DemoInfo> for FrontDemo {
    /// As listed; open to every visitor (the list does not carry the rules).
    fn from(d: &DemoInfo) -> Self {
        FrontDemo {
            name: d.name.clone(),
            port: d.port,
            status: d.status,
            app: d.app.clone(),
            comment: d.comment.clone(),
            created: d.created,
            expires_at: d.expires_at,
            access: Access::default(),
            reason: d.reason.clone(),
        }
    }
}

/// Whether a demo's name is also its host name under DOMAIN. Names are
/// case-sensitive and host names are not, and a '.' would make a
/// sub-subdomain a wildcard certificate does not cover: only lower-case
/// single labels qualify, so that two demos never share a host name.
pub fn has_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The demo's front-door URL, `http(s)://NAME.DOMAIN[:PORT]/`; None when
/// its name cannot be a host name (it is then reached on its own port only).
pub fn url_for(s: &Settings, name: &str) -> Option<String> {
    has_host_name(name).then(|| s.url_of_host(&format!("{name}.{}", s.domain)))
}

/// Whether the front door proxies to the demo's port; otherwise it answers
/// with the demo's stopped page. Unknown (supervisord not answering) and
/// partial demos may still answer, so they are tried.
pub fn serves(status: DemoStatus) -> bool {
    matches!(
        status,
        DemoStatus::Running | DemoStatus::Starting | DemoStatus::Partial | DemoStatus::Unknown
    )
}

/// Where a demo's vhost serves its page when it does not answer: a path
/// of the demo's own name the front door keeps for itself.
pub const DOWN_PATH: &str = "/.showroom-down.html";

/// The page a demo that does not answer is shown with (503).
pub fn stopped_page(name: &str) -> String {
    format!("stopped-{name}.html")
}

pub const INDEX_PAGE: &str = "index.html";
/// The request header naming the sleeping demo a request is for, set by the front door for the waker.
pub const WAKE_HEADER: &str = "X-Showroom-Wake";
pub const NOT_FOUND_PAGE: &str = "404.html";

/// Apache's config for the front door: included by the main config before
/// the demos' vhosts.
pub fn render_conf(s: &Settings, demos: &[FrontDemo]) -> String {
    let body = render_conf_body(s, demos);
    body.replace(GENERATION, &generation(&body))
}

/// Stands in the body for the config's own generation (see [`generation`]).
const GENERATION: &str = "@SHOWROOM_GENERATION@";
/// The response header that carries it, on the front port's first vhost.
pub const GENERATION_HEADER: &str = "X-Showroom-Front";

/// A digest of the config, sent back by Apache in [`GENERATION_HEADER`]: once
/// a fresh connection gets it, a graceful reload has put this config live
/// (Apache's USR1 returns before its new workers serve).
pub fn generation(body: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The generation a rendered config carries.
pub fn generation_of(conf: &str) -> Option<&str> {
    let i = conf.find(GENERATION_HEADER)? + GENERATION_HEADER.len();
    let rest = conf[i..].trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

/// Headers a client could forge to pass for another address or host.
pub const FORWARDING_HEADERS: &[&str] = &[
    "Forwarded",
    "X-Real-IP",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Server",
];

/// `<Location />` holding a demo's visitor rules (nothing when it is open):
/// every user of its password file, from one of its ranges.
fn render_access(s: &Settings, name: &str, a: &Access) -> String {
    if a.is_open() {
        return String::new();
    }
    let mut rules = Vec::new();
    let mut auth = String::new();
    if !a.users.is_empty() {
        auth = format!(
            "        AuthType Basic\n        AuthName \"{}\"\n        AuthBasicProvider file\n        AuthUserFile \"{}\"\n",
            name,
            s.auth.join(format!("{name}.htpasswd")).display()
        );
        rules.push("Require valid-user".to_owned());
    }
    if !a.allow.is_empty() {
        rules.push(format!("Require ip {}", a.allow.join(" ")));
    }
    format!(
        "    <Location />\n{auth}        <RequireAll>\n{}        </RequireAll>\n    </Location>\n",
        rules
            .iter()
            .map(|r| format!("            {r}\n"))
            .collect::<String>()
    )
}

fn render_conf_body(s: &Settings, demos: &[FrontDemo]) -> String {
    let mut out = String::from(
        "# Generated by showroomd: the front door (docs/ARCHITECTURE.md). Edits are lost.\n",
    );
    // Both families named: a program holding `[::]:PORT` alone would
    // otherwise be missed, and Apache on `0.0.0.0` alone never serves IPv6.
    for port in s.ports() {
        out += &format!("Listen 0.0.0.0:{port}\n");
        if s.ipv6 {
            out += &format!("Listen [::]:{port}\n");
        }
    }
    // What a client claims about forwarding never reaches a demo: mod_proxy
    // then sets X-Forwarded-For to the client's address alone, and
    // X-Forwarded-Host/-Server to what this front door saw.
    for h in FORWARDING_HEADERS {
        out += &format!("RequestHeader unset {h} early\n");
    }
    out += &format!(
        "<Directory \"{}\">\n    Options None\n    AllowOverride None\n    Require all granted\n</Directory>\n",
        s.pages.display()
    );
    match &s.tls {
        None => out += &render_vhosts(s, s.port, "http", "", demos),
        Some(t) => {
            out += &render_redirect(&s.domain, s.port, t.port);
            let ssl = format!(
                "    SSLEngine on\n    SSLCertificateFile \"{}\"\n    SSLCertificateKeyFile \"{}\"\n",
                t.cert.display(),
                t.key.display()
            );
            out += &render_vhosts(s, t.port, "https", &ssl, demos);
        }
    }
    out
}

/// One vhost on the HTTP port sends every request to the same host and
/// path over HTTPS. SERVER_NAME is the Host header's name without its port
/// (UseCanonicalName is off), so the redirect keeps NAME.DOMAIN.
fn render_redirect(domain: &str, http: u16, https: u16) -> String {
    let port = if https == 443 {
        String::new()
    } else {
        format!(":{https}")
    };
    format!(
        "<VirtualHost *:{http}>\n    ServerName {domain}\n    Header always set {GENERATION_HEADER} \"{GENERATION}\"\n    RewriteEngine On\n    \
         RewriteRule ^ https://%{{SERVER_NAME}}{port}%{{REQUEST_URI}} [R=301,L]\n</VirtualHost>\n"
    )
}

/// The front door's vhosts on one port: the index first, then one a demo
/// with a host name.
fn render_vhosts(s: &Settings, port: u16, proto: &str, ssl: &str, demos: &[FrontDemo]) -> String {
    let open =
        |server_name: &str| format!("<VirtualHost *:{port}>\n    ServerName {server_name}\n{ssl}");
    // First on the port, Apache's default: it also answers every Host that
    // names no demo (SERVER_NAME is the Host asked for), with the 404 page.
    let mut out = open(&s.domain);
    if proto == "http" {
        out += &format!("    Header always set {GENERATION_HEADER} \"{GENERATION}\"\n");
    }
    let only_index = if s.index {
        format!(
            "    RewriteCond %{{SERVER_NAME}} !={} [NC,OR]\n    RewriteCond %{{REQUEST_URI}} !^/(index\\.html)?$\n",
            s.domain
        )
    } else {
        String::new()
    };
    if !s.index_allow.is_empty() {
        let index = Access {
            users: Vec::new(),
            allow: s.index_allow.clone(),
        };
        out += &render_access(s, "index", &index);
    }
    out += &render_static(s, &only_index, 404, NOT_FOUND_PAGE);
    for d in demos.iter().filter(|d| has_host_name(&d.name)) {
        out += &open(&format!("{}.{}", d.name, s.domain));
        out += &render_access(s, &d.name, &d.access);
        if d.status == DemoStatus::Sleeping && d.port.is_some() {
            // Held by showroomd's waker until the demo answers, then passed
            // on to it; the header names the demo (a client's own is replaced).
            let _ = write!(
                out,
                "    ProxyPreserveHost On\n    RequestHeader set X-Forwarded-Proto \"{proto}\"\n    \
                 RequestHeader set {WAKE_HEADER} \"{}\"\n    \
                 ProxyPass / \"unix:{}|http://localhost/\" retry=0 disablereuse=On upgrade=websocket\n</VirtualHost>\n",
                d.name,
                s.wake_socket.display()
            );
            continue;
        }
        match d.port {
            // Proxied whatever its status: when it does not answer (stopped,
            // failed, starting) mod_proxy's 503 is its page, which is
            // rewritten as its status changes, without a reload (its own
            // 503s pass through: ProxyErrorOverride is off). So a start or a
            // stop changes no config, and costs the front door nothing.
            // retry=0: a demo that comes back is reached at once, not after
            // the minute Apache would otherwise hold its failure against it.
            // disablereuse: a pooled connection the demo closes (a graceful
            // reload of Apache when the demo is a vhost, a keep-alive timeout)
            // as a request is sent on it is a 502 for that request.
            Some(p) => {
                let page = s.pages.join(stopped_page(&d.name));
                let _ = write!(
                    out,
                    "    ProxyPreserveHost On\n    RequestHeader set X-Forwarded-Proto \"{proto}\"\n    \
                     Alias {DOWN_PATH} \"{}\"\n    ProxyPass {DOWN_PATH} !\n    \
                     ErrorDocument 503 {DOWN_PATH}\n    \
                     Header always set Retry-After \"{RETRY_AFTER_SECS}\" env=REDIRECT_STATUS\n    \
                     Header always set Cache-Control \"no-cache\" env=REDIRECT_STATUS\n    \
                     ProxyPass / http://127.0.0.1:{p}/ retry=0 disablereuse=On upgrade=websocket\n    \
                     ProxyPassReverse / http://127.0.0.1:{p}/\n</VirtualHost>\n",
                    page.display()
                );
            }
            None => {
                // A visitor's browser or crawler is told when to ask again.
                out += &format!("    Header always set Retry-After \"{RETRY_AFTER_SECS}\"\n");
                out += &render_static(s, "", 503, &stopped_page(&d.name))
            }
        }
    }
    out
}

/// The body of a vhost that answers `status` with `page` to every request
/// meeting `conds` (RewriteCond lines; the rest is served from the pages
/// folder). The first condition lets the page's own internal request through.
fn render_static(s: &Settings, conds: &str, status: u16, page: &str) -> String {
    format!(
        "    DocumentRoot \"{}\"\n    Header always set Cache-Control \"no-cache\"\n    \
         ErrorDocument {status} /{page}\n    RewriteEngine On\n    \
         RewriteCond %{{ENV:REDIRECT_STATUS}} ^$\n{conds}    RewriteRule ^ - [R={status}]\n</VirtualHost>\n",
        s.pages.display()
    )
}

/// Everything the front door needs on disk for one set of demos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub conf: String,
    /// File names in the pages folder, and their content.
    pub pages: Vec<(String, String)>,
}

pub fn render(s: &Settings, demos: &[FrontDemo]) -> Rendered {
    Rendered {
        conf: render_conf(s, demos),
        pages: render_pages(s, demos),
    }
}

/// The pages alone: what a start or a stop changes.
pub fn render_pages(s: &Settings, demos: &[FrontDemo]) -> Vec<(String, String)> {
    let mut pages = vec![
        (INDEX_PAGE.to_owned(), render_index(s, demos)),
        (NOT_FOUND_PAGE.to_owned(), render_not_found(s)),
    ];
    // Every demo's: it is what a visitor sees whenever the demo does not
    // answer, and it says the status as last read.
    for d in demos.iter().filter(|d| has_host_name(&d.name)) {
        pages.push((stopped_page(&d.name), render_stopped(s, d)));
    }
    pages
}

#[derive(Debug, thiserror::Error)]
pub enum FrontDoorError {
    #[error("cannot write the front door's files: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Apache(#[from] ApacheError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Copies the operator's certificate and key where Apache reads them: its
/// own run folder (0700, Apache's account), each file 0600 and Apache's.
/// `replace`: over copies already there (a pair just checked); otherwise
/// only when there are none yet (at start: the copies of the pair served
/// before stay until a tick has checked the files). True when a copy changed.
pub fn install_tls(
    cfg: &Config,
    layout: &Layout,
    sandbox: &crate::sandbox::Sandbox,
    replace: bool,
) -> Result<bool, FrontDoorError> {
    let (Some(settings), Some(cert), Some(key)) = (
        Settings::from_config(cfg, layout),
        cfg.tls_cert.as_ref(),
        cfg.tls_key.as_ref(),
    ) else {
        return Ok(false);
    };
    let Some(tls) = settings.tls else {
        return Ok(false);
    };
    if !replace && tls.cert.exists() && tls.key.exists() {
        return Ok(false);
    }
    use std::os::unix::fs::PermissionsExt;
    let mut changed = false;
    for (from, to) in [(cert, &tls.cert), (key, &tls.key)] {
        let bytes = std::fs::read(from).map_err(io_err(from))?;
        if std::fs::read(to).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        changed = true;
        store::write_atomic(to, &bytes)?;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).map_err(io_err(to))?;
        if let Some(a) = &sandbox.run_as {
            std::os::unix::fs::chown(to, Some(a.uid), Some(a.gid)).map_err(io_err(to))?;
        }
    }
    Ok(changed)
}

/// What [`stage`] left for its caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    Unchanged,
    /// Only static pages changed: Apache serves them as they are, no reload.
    PagesOnly,
    /// The live config changed and passed Apache's config test: reload
    /// Apache gracefully, then call [`tidy`].
    Reload,
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> FrontDoorError + '_ {
    move |source| FrontDoorError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes the pages, and the config when it changed, after Apache's config
/// test passed on it in place of the live one. A config Apache refuses is
/// never put live: the error carries Apache's words, the old one stays.
pub async fn stage(
    layout: &Layout,
    cfg: &Config,
    sandbox: &crate::sandbox::Sandbox,
    r: &Rendered,
) -> Result<Staged, FrontDoorError> {
    let changed = write_pages(layout, &r.pages)?;
    match stage_conf(layout, cfg, sandbox, &r.conf).await? {
        Staged::Unchanged => {
            tidy(layout, r)?;
            Ok(if changed {
                Staged::PagesOnly
            } else {
                Staged::Unchanged
            })
        }
        staged => Ok(staged),
    }
}

/// Writes the pages that changed (atomically); true when any did. Apache
/// serves them as they are: no reload.
pub fn write_pages(layout: &Layout, pages: &[(String, String)]) -> Result<bool, FrontDoorError> {
    let dir = layout.frontdoor_pages();
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut changed = false;
    for (file, html) in pages {
        changed |= store::write_if_changed(&dir.join(file), html)?;
    }
    Ok(changed)
}

/// Puts `conf` live when it differs from the live one, after Apache's
/// config test passed on it in place of the live one (`Staged::Reload`);
/// `Staged::Unchanged` when it is the live one already.
pub async fn stage_conf(
    layout: &Layout,
    cfg: &Config,
    sandbox: &crate::sandbox::Sandbox,
    conf: &str,
) -> Result<Staged, FrontDoorError> {
    let live = layout.frontdoor_conf();
    if std::fs::read_to_string(&live).ok().as_deref() == Some(conf) {
        return Ok(Staged::Unchanged);
    }
    let candidate = layout.frontdoor_candidate();
    store::write_atomic(&candidate, conf.as_bytes())?;
    if let Err(e) = crate::frontdoor_server::config_test(layout, cfg, sandbox, &candidate).await {
        let _ = std::fs::remove_file(&candidate);
        return Err(e.into());
    }
    std::fs::rename(&candidate, &live).map_err(io_err(&live))?;
    Ok(Staged::Reload)
}

/// Removes the pages `r` no longer names. After the reload: until then the
/// running Apache may still answer with one of them.
pub fn tidy(layout: &Layout, r: &Rendered) -> Result<(), FrontDoorError> {
    tidy_pages(layout, &r.pages)
}

/// Removes the pages that are not among `pages`.
pub fn tidy_pages(layout: &Layout, pages: &[(String, String)]) -> Result<(), FrontDoorError> {
    let dir = layout.frontdoor_pages();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !pages.iter().any(|(f, _)| *f == name) {
            let path = e.path();
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

#[path = "frontdoor_pages.rs"]
mod pages;
pub use pages::{
    escape, render_index, render_not_found, render_stopped, status_words, RETRY_AFTER_SECS,
};

#[cfg(test)]
#[path = "frontdoor_tests.rs"]
mod tests;
