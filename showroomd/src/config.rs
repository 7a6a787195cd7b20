//! The daemon's settings: built-in defaults, overridden by a TOML file, overridden by flags.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Everything showroom keeps: demos, supervisord's and Apache's files, logs.
    pub state_dir: PathBuf,
    /// The Unix socket showroomctl talks to.
    pub socket: PathBuf,
    /// Where the `demo_APP.sh` deploy scripts are.
    pub scripts_dir: PathBuf,
    /// Given to deploy scripts as `HOST` and used as Apache's ServerName.
    pub host: String,
    /// Demos get the lowest free port in `port_min..=port_max`.
    pub port_min: u16,
    pub port_max: u16,
    /// A deploy script running longer is killed with its process group.
    pub deploy_timeout_secs: u64,
    /// How many deploy scripts may run at once; more wait their turn. Most
    /// of a deploy is waiting (downloads), so the default lets a burst of 20
    /// run together; a small host whose scripts compile may want fewer.
    pub max_deploy_jobs: usize,
    /// The supervisord program to start.
    pub supervisord: PathBuf,
    /// supervisord's `minfds`: each running demo holds about 3 descriptors in it.
    pub minfds: u32,
    /// The Apache binary (Debian's `apache2-bin`).
    pub apache_bin: PathBuf,
    /// Where Apache's modules are, loaded by absolute path.
    pub apache_modules_dir: PathBuf,
    /// How often demos in motion (starting, backing off, just started) are polled.
    pub poll_moving_ms: u64,
    /// How often every process is swept with one `getAllProcessInfo`, the
    /// check that no event of supervisord's was missed.
    pub sweep_secs: u64,
    /// Socket permission bits.
    pub socket_mode: u32,
    /// Group that owns the socket (and may so read from it); none keeps the daemon's.
    pub socket_group: Option<String>,
    /// Members of this group may also deploy, start, stop and destroy.
    pub operator_group: Option<String>,
    /// How long in-flight requests may run on at shutdown before deploys are cut short.
    pub shutdown_grace_secs: u64,
    /// Demos, deploy scripts and Apache run in bubblewrap (see docs/ARCHITECTURE.md, "The sandbox");
    /// false only for a host where it cannot work.
    pub sandbox: bool,
    /// As root, the unprivileged account they run as instead (sandbox or not).
    pub sandbox_user: String,
    /// The front door serves each demo at NAME.DOMAIN and the index at DOMAIN.
    pub domain: String,
    /// The front door's HTTP port; 0 turns the front door off.
    pub front_port: u16,
    /// The front door's HTTPS port, used when `tls_cert` and `tls_key` are set.
    pub tls_port: u16,
    /// A certificate (chain) for DOMAIN and *.DOMAIN, PEM; with `tls_key`, HTTP redirects to HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A deploy log is kept under this size; past it, its start is cut and its end kept.
    pub deploy_log_max_bytes: u64,
    /// Connections served at once; past it, the longest-idle one is closed
    /// for the newcomer, or the newcomer refused when none is idle.
    pub max_connections: usize,
    /// A connection that sends no request this long after its hello (or its
    /// last answer) is closed; `watch` and `logs --follow` are never idle.
    pub idle_timeout_secs: u64,
    /// How long a demo deployed without `--ttl` lives (`7d`, `12h`); none: for ever.
    #[serde(deserialize_with = "ttl")]
    pub default_ttl: Option<u64>,
    /// What happens to a demo whose time is up.
    pub expire_action: ExpireAction,
    /// How many wanted-running demos are started at once when supervisord was started afresh.
    pub restore_jobs: usize,
    /// A line for visitors on the front door's 503 pages (who to ask); none: no line.
    pub contact: Option<String>,
    /// The front door's index at DOMAIN; false: it answers 404 like an unknown name.
    pub index: bool,
    /// Address ranges the index may be read from; empty: anyone.
    pub index_allow: Vec<String>,
    /// The address ranges a new demo is limited to (`access NAME --allow` changes it); empty: open.
    pub default_allow: Vec<String>,
    /// The memory a demo's processes may use together unless its deploy says
    /// (`--memory`): `512M`, `2G`; none: unlimited. Past it the kernel kills.
    #[serde(deserialize_with = "size")]
    pub demo_memory: Option<u64>,
    /// Processes (threads included) a demo may have at once unless its deploy says (`--procs`).
    pub demo_procs: Option<u64>,
    /// The size of each demo's private `/tmp` (memory, counted in its memory limit with cgroups).
    #[serde(deserialize_with = "size")]
    pub demo_tmp_size: Option<u64>,
    /// Open files each of a demo's processes may hold (RLIMIT_NOFILE).
    pub demo_nofile: Option<u64>,
    /// Each demo (process, deploy script, reconfigure step) in a network
    /// namespace of its own, only its own ports forwarded from the host by
    /// `pasta`; needs `sandbox`. false: the host's network, shared by all.
    pub demo_own_network: bool,
    /// Debian's `passt` package's forwarder.
    pub pasta: PathBuf,
    /// The idle time a new demo is deployed with (`30m`): after it without a
    /// request through the front door it sleeps; none: demos never sleep.
    #[serde(deserialize_with = "ttl")]
    pub sleep_after: Option<u64>,
    /// How long a request waits for its sleeping demo to answer before a 503.
    pub wake_timeout_secs: u64,
    /// How many demos wake at once; more wait their turn, in order.
    pub max_wake_jobs: usize,
    /// How long a start (or a wake) waits at most, once supervisord says
    /// RUNNING (`startsecs`, a clock), for a demo still booting (using CPU)
    /// to answer on its port; an idle, silent one is started at RUNNING.
    pub ready_wait_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpireAction {
    /// Stopped, and wanted stopped: its folder stays for a later `start` or `destroy`.
    Stop,
    Destroy,
}

/// A size as a person writes it (`512M`, `2G`), in bytes.
fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|t| protocol::parse_size(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// A duration as a person writes it (`90m`, `7d`), in seconds.
fn ttl<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| {
        humantime::parse_duration(&t)
            .map_err(|e| e.to_string())
            .and_then(|d| {
                protocol::limits::check_ttl(d.as_secs()).map_err(|e| e.message)?;
                Ok(d.as_secs())
            })
            .map_err(|e| serde::de::Error::custom(format!("{t:?}: {e}")))
    })
    .transpose()
}

impl Default for Config {
    fn default() -> Self {
        let root = nix::unistd::geteuid().is_root();
        let state_dir = if root {
            PathBuf::from("/var/lib/showroom")
        } else {
            match std::env::var_os("XDG_STATE_HOME") {
                Some(d) if !d.is_empty() => PathBuf::from(d).join("showroom"),
                _ => home().join(".local/state/showroom"),
            }
        };
        Config {
            state_dir,
            socket: protocol::default_socket_path(),
            scripts_dir: default_scripts_dir(),
            host: "localhost".into(),
            port_min: 20000,
            port_max: 29999,
            deploy_timeout_secs: 600,
            max_deploy_jobs: 32,
            supervisord: PathBuf::from("supervisord"),
            minfds: 4096,
            apache_bin: PathBuf::from("/usr/sbin/apache2"),
            apache_modules_dir: PathBuf::from("/usr/lib/apache2/modules"),
            poll_moving_ms: 200,
            // supervisord's events say what changed; the sweep is the check that
            // nothing was missed, and costs it ~0.5 s of CPU at 1000 demos.
            sweep_secs: 300,
            socket_mode: 0o660,
            socket_group: None,
            operator_group: None,
            shutdown_grace_secs: 30,
            sandbox: true,
            sandbox_user: crate::sandbox::DEFAULT_ACCOUNT.into(),
            domain: "localhost".into(),
            // Apache never runs as root, and below 1024 only root may listen
            // (unless the host lowers net.ipv4.ip_unprivileged_port_start).
            front_port: 8080,
            tls_port: 8443,
            tls_cert: None,
            tls_key: None,
            deploy_log_max_bytes: 4 << 20,
            max_connections: 1024,
            idle_timeout_secs: 60,
            default_ttl: None,
            expire_action: ExpireAction::Stop,
            restore_jobs: 4,
            contact: None,
            index: true,
            index_allow: Vec::new(),
            default_allow: Vec::new(),
            // Enough for a Python or Node app and its install; a demo that
            // needs more is deployed with --memory.
            demo_memory: Some(1 << 30),
            demo_procs: Some(512),
            demo_tmp_size: Some(256 << 20),
            demo_nofile: Some(4096),
            demo_own_network: true,
            pasta: PathBuf::from(crate::sandbox::DEFAULT_PASTA),
            sleep_after: None,
            wake_timeout_secs: 30,
            max_wake_jobs: 4,
            ready_wait_secs: 10,
        }
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// An installed copy first; else the `demos/` folder of the checkout this was built from,
/// so that a person trying showroom from a clone needs no config.
fn default_scripts_dir() -> PathBuf {
    let installed = PathBuf::from("/usr/share/showroom/demos");
    if installed.is_dir() {
        return installed;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../demos")
}

impl Config {
    /// The limits a deploy that sets none gets.
    pub fn demo_limits(&self) -> protocol::DemoLimits {
        protocol::DemoLimits {
            memory: self.demo_memory,
            procs: self.demo_procs,
            tmp_size: self.demo_tmp_size,
            nofile: self.demo_nofile,
        }
    }

    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Checks what would otherwise fail later and less clearly.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.port_min == 0 || self.port_min > self.port_max {
            bail!(
                "port range {}..={} is empty or starts at 0",
                self.port_min,
                self.port_max
            );
        }
        // As root, Apache and the demos run as `sandbox_user`, which cannot bind below 1024.
        if self.port_min < 1024 && nix::unistd::geteuid().is_root() {
            bail!(
                "port_min {} is below 1024: demos and Apache run as the unprivileged `sandbox_user` {:?}, which cannot listen there",
                self.port_min,
                self.sandbox_user
            );
        }
        for range in self.index_allow.iter().chain(&self.default_allow) {
            crate::visitors::check_range(range)
                .with_context(|| "index_allow and default_allow take address ranges")?;
        }
        if self
            .contact
            .as_deref()
            .is_some_and(|c| c.chars().any(char::is_control))
        {
            bail!("contact is one line, without control characters");
        }
        if self.max_deploy_jobs == 0 {
            bail!("max_deploy_jobs must be at least 1");
        }
        // Below this, cutting the log would keep less than a few long lines.
        if self.deploy_log_max_bytes < 64 * 1024 {
            bail!("deploy_log_max_bytes must be at least 65536");
        }
        if self.max_connections == 0 || self.idle_timeout_secs == 0 {
            bail!("max_connections and idle_timeout_secs must be at least 1");
        }
        if let Err(e) = protocol::check_limits(self.demo_memory, self.demo_procs) {
            bail!("demo_memory or demo_procs: {e} (leave it out for no limit)");
        }
        if self
            .demo_nofile
            .is_some_and(|n| !(64..=1 << 20).contains(&n))
        {
            bail!("demo_nofile must be within 64..=1048576 (leave it out for no limit)");
        }
        if self.max_wake_jobs == 0 || self.wake_timeout_secs == 0 {
            bail!("max_wake_jobs and wake_timeout_secs must be at least 1");
        }
        if self.restore_jobs == 0 {
            bail!("restore_jobs must be at least 1");
        }
        // supervisord splits `[include] files` on white space and expands '%' in
        // its config; Apache's config has its own quoting: keep paths plain.
        let s = self.state_dir.to_string_lossy();
        if s.chars()
            .any(|c| c.is_whitespace() || c == '%' || c == '"' || c.is_control())
        {
            bail!("state_dir {s:?} must not contain white space, '%' or quotes");
        }
        if !self.state_dir.is_absolute() {
            bail!("state_dir {s:?} must be an absolute path");
        }
        for (key, name) in [("host", &self.host), ("domain", &self.domain)] {
            if !is_plain_host_name(name) {
                bail!("{key} {name:?} is not a plain host name");
            }
        }
        self.validate_front_door()
    }

    fn validate_front_door(&self) -> anyhow::Result<()> {
        if self.front_port == 0 {
            return Ok(());
        }
        let demo_ports = self.port_min..=self.port_max;
        let mut ports = vec![("front_port", self.front_port)];
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                ports.push(("tls_port", self.tls_port));
                if self.tls_port == 0 || self.tls_port == self.front_port {
                    bail!(
                        "tls_port {} must be set and differ from front_port",
                        self.tls_port
                    );
                }
                for (k, p) in [("tls_cert", cert), ("tls_key", key)] {
                    let s = p.to_string_lossy();
                    // Apache reads the path between quotes.
                    if !p.is_absolute() || s.chars().any(|c| c == '"' || c.is_control()) {
                        bail!("{k} {s:?} must be an absolute path without quotes");
                    }
                    if !p.is_file() {
                        bail!("{k} {s:?} is not a file");
                    }
                }
            }
            _ => bail!("tls_cert and tls_key go together: set both or neither"),
        }
        for (k, p) in ports {
            if demo_ports.contains(&p) {
                bail!(
                    "{k} {p} is inside the demos' port range {}..={}",
                    self.port_min,
                    self.port_max
                );
            }
        }
        Ok(())
    }
}

/// Letters, digits, '.' and '-': safe in Apache's config, a URL and a script's environment.
fn is_plain_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            state_dir: "/var/lib/showroom".into(),
            front_port: 8080,
            ..Config::default()
        }
    }

    #[test]
    fn the_front_door_is_checked() {
        cfg().validate().unwrap();
        Config {
            front_port: 0,
            ..cfg()
        }
        .validate()
        .unwrap();
        let refused = |c: Config, why: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        };
        refused(
            Config {
                domain: "a b".into(),
                ..cfg()
            },
            "domain",
        );
        refused(
            Config {
                front_port: 20005,
                ..cfg()
            },
            "inside the demos' port range",
        );
        refused(
            Config {
                tls_cert: Some("/etc/hostname".into()),
                ..cfg()
            },
            "set both or neither",
        );
        let with_tls = |cert: &str, tls_port| Config {
            tls_cert: Some(cert.into()),
            tls_key: Some("/etc/hostname".into()),
            tls_port,
            ..cfg()
        };
        refused(with_tls("/etc/hostname", 8080), "differ from front_port");
        refused(with_tls("/nonexistent.pem", 8443), "is not a file");
        refused(with_tls("relative.pem", 8443), "absolute path");
        with_tls("/etc/hostname", 8443).validate().unwrap();
    }
}

#[cfg(test)]
#[path = "config_packaged_tests.rs"]
mod packaged_tests;
