//! The sandbox every demo process, deploy script and the shared Apache run in: bubblewrap's argv, the unprivileged account, the start-up probe (its processes in /proc: `procs.rs`).
//!
//! Pure argv builders: the caller (the actor, supervisord's program sections)
//! decides when to run them. See docs/ARCHITECTURE.md, "The sandbox", for what is allowed and why.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

pub mod jail;
pub mod limits;
mod procs;
pub(crate) use procs::{cwd_of, pids, proc_stat_field};
pub use procs::{main_pid, sandbox_init, strays, tree_cpu_ticks, wait_gone};

/// Where Debian's `bubblewrap` puts it.
pub const DEFAULT_BWRAP: &str = "/usr/bin/bwrap";
/// util-linux's, on every Debian: drops root before bwrap starts.
pub const DEFAULT_SETPRIV: &str = "/usr/bin/setpriv";
/// The account sandboxed things run as when showroomd is root.
pub const DEFAULT_ACCOUNT: &str = "showroom-demo";
/// util-linux's: sets a demo's rlimits (open files; memory and processes without cgroups).
pub const DEFAULT_PRLIMIT: &str = "/usr/bin/prlimit";
/// Debian's `passt` package: forwards a demo's ports into its network namespace.
pub const DEFAULT_PASTA: &str = "/usr/bin/pasta";
/// The system service's runtime folder: hidden even when the socket is elsewhere.
const SYSTEM_RUNTIME_DIR: &str = "/run/showroom";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox needs bubblewrap at {0}, which is missing or not executable: install Debian's `bubblewrap` package, or set `sandbox = false`")]
    NoBwrap(PathBuf),
    #[error("showroomd runs as root and must drop to an unprivileged account with {0}, which is missing or not executable: install util-linux")]
    NoSetpriv(PathBuf),
    #[error("showroomd runs as root and sandboxed programs run as the account {0:?}, which does not exist: create it with `useradd --system --no-create-home --shell /usr/sbin/nologin {0}`, or name another with `sandbox_user`")]
    NoAccount(String),
    #[error("the sandbox account {0:?} is root (uid 0); it must be an unprivileged account")]
    RootAccount(String),
    #[error("user namespaces are disabled on this host ({0}), and bubblewrap needs them: set it to a non-zero value, or set `sandbox = false`")]
    NoUserNamespaces(String),
    #[error("cannot look up the account {name:?}: {source}")]
    Lookup { name: String, source: nix::Error },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bubblewrap failed to set up the sandbox ({how}): {stderr}")]
    ProbeFailed { how: String, stderr: String },
    /// A supervisord `command=` value cannot carry this argument.
    #[error(
        "argument {index} of the command cannot be written in a supervisord command line ({why})"
    )]
    Unquotable { index: usize, why: &'static str },
}

/// A uid/gid pair in the host's user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

impl Account {
    /// Looks an account up by name; it must not be root.
    pub fn by_name(name: &str) -> Result<Account, SandboxError> {
        let user = nix::unistd::User::from_name(name)
            .map_err(|source| SandboxError::Lookup {
                name: name.into(),
                source,
            })?
            .ok_or_else(|| SandboxError::NoAccount(name.into()))?;
        if user.uid.is_root() {
            return Err(SandboxError::RootAccount(name.into()));
        }
        Ok(Account {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }
}

/// How sandboxed programs are run: the daemon's `sandbox` setting, and what
/// they must not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// false (`sandbox = false`): no namespaces; `run_as` still applies.
    pub enabled: bool,
    pub bwrap: PathBuf,
    pub setpriv: PathBuf,
    /// Folders replaced by an empty read-only tmpfs inside the sandbox: the
    /// state folder (demos, records, supervisord's socket, logs), the control
    /// socket's folder, the daemon's runtime and home folders.
    pub hidden: Vec<PathBuf>,
    /// Set when showroomd is root: everything sandboxed (demos, deploy
    /// scripts, Apache, Apache's config test) runs as this account instead.
    pub run_as: Option<Account>,
    /// Demos and deploy scripts start in `showroomd --jail` (limits, and a
    /// network of their own); None: as before (the unit tests, Apache).
    pub jail: Option<Jail>,
}

/// What `showroomd --jail` is given for every demo (see `jail.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jail {
    /// showroomd's own binary.
    pub exe: PathBuf,
    pub enforcement: limits::Enforcement,
    pub prlimit: PathBuf,
    /// Some: each demo (process, deploy script, reconfigure step) in a
    /// network namespace of its own, its ports forwarded by this pasta.
    pub pasta: Option<PathBuf>,
    /// Where a demo killed by its memory limit is noted (`NAME.oom`).
    pub notes: PathBuf,
}

impl Jail {
    /// The daemon's jail: the limit mechanism the host offers, and whether
    /// demos get a network of their own; says both in the log.
    pub fn for_daemon(cfg: &crate::Config, sandbox: &Sandbox) -> anyhow::Result<Jail> {
        let (enforcement, why) = limits::Enforcement::detect(&state_key(&cfg.state_dir));
        tracing::info!("{enforcement}");
        if let Some(why) = why {
            tracing::warn!("no cgroup for demo limits: {why}");
        }
        let mut pasta = None;
        if cfg.demo_own_network && sandbox.enabled {
            if !nix::unistd::geteuid().is_root() {
                tracing::warn!("demo network: shared with the host: pasta can join bubblewrap's network namespace only when showroomd runs as root");
            } else if !is_executable(&cfg.pasta) {
                anyhow::bail!(
                    "demos get a network of their own through pasta at {}, which is missing or not executable: install Debian's `passt` package, or set `demo_own_network = false`",
                    cfg.pasta.display()
                );
            } else {
                pasta = Some(cfg.pasta.clone());
                tracing::info!("demo network: each demo in a network namespace of its own, its port forwarded from the host by {}", cfg.pasta.display());
            }
        } else {
            tracing::info!("demo network: shared with the host (`demo_own_network = false` or `sandbox = false`)");
        }
        let exe = std::env::current_exe().map_err(|e| {
            anyhow::anyhow!("finding showroomd's own binary for the demos' jail: {e}")
        })?;
        // A binary replaced since it started reads back as `PATH (deleted)`.
        let exe = match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
            Some(s) => PathBuf::from(s),
            None => exe,
        };
        let notes = cfg.state_dir.join("limits");
        // Where the demos' cgroups are, for a person (or a test) cleaning up
        // after a showroom whose demos are all gone.
        let parents: String = enforcement
            .dirs("")
            .iter()
            .map(|d| format!("{}\n", d.display()))
            .collect();
        std::fs::create_dir_all(&notes)
            .and_then(|()| std::fs::write(notes.join("cgroups"), parents))
            .map_err(|e| anyhow::anyhow!("{}: {e}", notes.display()))?;
        Ok(Jail {
            exe,
            enforcement,
            prlimit: PathBuf::from(DEFAULT_PRLIMIT),
            pasta,
            notes,
        })
    }

    /// The note of a demo killed by its memory limit, removed at its next start.
    pub fn oom_note(&self, name: &str) -> PathBuf {
        self.notes.join(format!("{name}.oom"))
    }
}

/// One demo's run in the jail: its limits (the config's defaults filled
/// in) and the ports forwarded to it from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRun<'a> {
    pub name: &'a str,
    pub limits: protocol::DemoLimits,
    pub forward: Vec<u16>,
}

/// The ports of a demo's own network reachable from the host: the ports it
/// owns (`DemoRecord::ports`: PORT, and PORT2 for `# PORTS: 2`). A demo with
/// a vhost is served on PORT by the shared Apache, so its process gets the
/// rest: PORT2, or for a demo deployed before `# PORTS: 2` with one port,
/// the inner port the shipped demos used then, PORT + 10000.
pub fn forwarded_ports(ports: &[u16], has_vhost: bool) -> Vec<u16> {
    match (has_vhost, ports) {
        (false, _) => ports.to_vec(),
        (true, [port]) => port.checked_add(10000).into_iter().collect(),
        (true, [_, rest @ ..]) => rest.to_vec(),
        (true, []) => vec![],
    }
}

/// What one sandboxed program may see beyond the read-only host.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The working folder, and `HOME`.
    pub chdir: &'a Path,
    /// Bound read-write at the same path (after the hidden folders are covered).
    pub rw: Vec<&'a Path>,
    /// Bound read-only at the same path (after the hidden folders, before `rw`).
    pub ro: Vec<&'a Path>,
    /// The command is PID 1 of its namespace: its death ends every process in
    /// it, and a signal to it needs no forwarding (Apache's graceful reload).
    pub as_pid_1: bool,
    /// A network namespace of its own, which the jail gives its uplink
    /// before the command runs (`--info-fd`, `--block-fd`).
    pub own_net: bool,
    /// The size of its private `/tmp`; None: the tmpfs default (half the RAM).
    pub tmp_size: Option<u64>,
}

impl Sandbox {
    /// No sandbox and no account change: programs run as showroomd does.
    /// For tests of the parts around it.
    pub fn off() -> Sandbox {
        Sandbox {
            enabled: false,
            bwrap: PathBuf::from(DEFAULT_BWRAP),
            setpriv: PathBuf::from(DEFAULT_SETPRIV),
            hidden: vec![],
            run_as: None,
            jail: None,
        }
    }

    /// The daemon's sandbox: hides `state_dir`, the socket's folder,
    /// /run/showroom, and (as another user than root) the runtime and home
    /// folders, whose user sockets (D-Bus, systemd --user) would let a demo
    /// out. As root, resolves `account` and runs everything as it.
    pub fn for_daemon(
        enabled: bool,
        state_dir: &Path,
        socket: &Path,
        account: &str,
    ) -> Result<Sandbox, SandboxError> {
        let root = nix::unistd::geteuid().is_root();
        let mut hidden = vec![state_dir.to_owned(), PathBuf::from(SYSTEM_RUNTIME_DIR)];
        if let Some(dir) = socket.parent() {
            hidden.push(dir.to_owned());
        }
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            hidden.push(PathBuf::from(dir));
        }
        hidden.push(PathBuf::from(format!(
            "/run/user/{}",
            nix::unistd::geteuid()
        )));
        if !root {
            if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
                hidden.push(PathBuf::from(home));
            }
        }
        // bwrap cannot make a mount point in the read-only host: an absent
        // folder has nothing to hide. The state folder and the socket's are
        // made before any sandbox starts.
        let must = [state_dir, socket.parent().unwrap_or(state_dir)];
        hidden.retain(|d| must.contains(&d.as_path()) || d.is_dir());
        let run_as = if root {
            Some(Account::by_name(account)?)
        } else {
            None
        };
        Ok(Sandbox {
            enabled,
            bwrap: PathBuf::from(DEFAULT_BWRAP),
            setpriv: PathBuf::from(DEFAULT_SETPRIV),
            hidden,
            run_as,
            jail: None,
        })
    }

    /// One line for showroomd's start-up log: which mode, and why.
    pub fn describe(&self) -> String {
        let who = match self.run_as {
            Some(a) => format!("as uid {} gid {} (showroomd is root)", a.uid, a.gid),
            None => "as showroomd's own user".into(),
        };
        if self.enabled {
            format!(
                "sandbox on: demos, deploy scripts and Apache run in bubblewrap ({}) {who}",
                self.bwrap.display()
            )
        } else {
            format!("sandbox off (`sandbox = false`): demos, deploy scripts and Apache run without namespaces {who}; they can see each other and showroom's state")
        }
    }

    /// `setpriv` to the account, when there is one: the prefix that keeps
    /// root out of every sandboxed program (and out of Apache's config test).
    pub fn drop_privileges(&self) -> Vec<String> {
        let Some(a) = self.run_as else {
            return vec![];
        };
        vec![
            self.setpriv.display().to_string(),
            format!("--reuid={}", a.uid),
            format!("--regid={}", a.gid),
            "--clear-groups".into(),
            "--inh-caps=-all".into(),
            "--bounding-set=-all".into(),
            "--".into(),
        ]
    }

    /// The whole argv: privilege drop, bwrap with `spec`, then `command`.
    pub fn argv(&self, spec: &Spec<'_>, command: &[String]) -> Vec<String> {
        let mut out = self.drop_privileges();
        if !self.enabled {
            out.extend(command.iter().cloned());
            return out;
        }
        let s = |p: &Path| p.display().to_string();
        out.push(s(&self.bwrap));
        out.extend(
            [
                // Unprivileged bwrap needs a user namespace; the demo may not make more.
                "--unshare-user",
                "--disable-userns",
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--die-with-parent",
                "--new-session",
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
            ]
            .map(String::from),
        );
        if spec.own_net {
            out.extend(
                [
                    "--unshare-net",
                    "--info-fd",
                    &jail::INFO_FD.to_string(),
                    "--block-fd",
                    &jail::BLOCK_FD.to_string(),
                ]
                .map(String::from),
            );
        }
        if let Some(bytes) = spec.tmp_size {
            out.extend(["--size".into(), bytes.to_string()]);
        }
        out.extend(["--tmpfs".into(), "/tmp".into()]);
        let hidden = outermost(&self.hidden);
        for h in &hidden {
            out.extend(["--tmpfs".into(), s(h)]);
        }
        for p in &spec.ro {
            out.extend(["--ro-bind".into(), s(p), s(p)]);
        }
        for p in &spec.rw {
            out.extend(["--bind".into(), s(p), s(p)]);
        }
        // Not recursive: the binds inside stay as they are; the rest of the
        // cover is read-only, so nothing can be planted where showroom looks.
        for h in &hidden {
            out.extend(["--remount-ro".into(), s(h)]);
        }
        out.extend([
            "--setenv".into(),
            "HOME".into(),
            s(spec.chdir),
            "--setenv".into(),
            "TMPDIR".into(),
            "/tmp".into(),
            "--chdir".into(),
            s(spec.chdir),
        ]);
        if spec.as_pid_1 {
            out.push("--as-pid-1".into());
        }
        out.push("--".into());
        out.extend(command.iter().cloned());
        out
    }

    /// A demo's process under supervisord: its folder read-write, nothing
    /// else of showroom's. `command` is what the program section ran before
    /// (the start script, or `/bin/sh` and it).
    pub fn demo_argv(&self, demo_dir: &Path, command: &[String]) -> Vec<String> {
        self.argv(&Self::demo_spec(demo_dir, None), command)
    }

    fn demo_spec<'a>(demo_dir: &'a Path, tmp_size: Option<u64>) -> Spec<'a> {
        Spec {
            chdir: demo_dir,
            rw: vec![demo_dir],
            ro: vec![],
            as_pid_1: false,
            own_net: false,
            tmp_size,
        }
    }

    /// Whether demos get a network of their own (the sandbox on, and pasta).
    pub fn own_net(&self) -> bool {
        self.enabled && self.jail.as_ref().is_some_and(|j| j.pasta.is_some())
    }

    /// A demo's process as supervisord runs it: in the jail (its cgroups,
    /// its rlimits, its network and forwarded ports), then the sandbox.
    pub fn demo_argv_for(
        &self,
        run: &DemoRun<'_>,
        demo_dir: &Path,
        command: &[String],
    ) -> Vec<String> {
        let mut spec = Self::demo_spec(demo_dir, run.limits.tmp_size);
        spec.own_net = self.own_net();
        self.jailed(run, &run.forward, self.argv(&spec, command))
    }

    /// `argv` inside `showroomd --jail`, with `prlimit` before it; as is without a jail.
    fn jailed(&self, run: &DemoRun<'_>, forward: &[u16], argv: Vec<String>) -> Vec<String> {
        let Some(j) = &self.jail else {
            return argv;
        };
        let s = |p: &Path| p.display().to_string();
        let mut out = vec![s(&j.exe), "--jail".into()];
        out.extend(j.enforcement.jail_args(run.name, &run.limits));
        out.extend([
            "--oom-note".into(),
            s(&j.oom_note(run.name)),
            "--oom-reason".into(),
            limits::oom_reason(run.limits.memory),
        ]);
        if let Some(pasta) = j.pasta.as_ref().filter(|_| self.own_net()) {
            out.extend([
                "--pasta".into(),
                s(pasta),
                "--setpriv".into(),
                s(&self.setpriv),
            ]);
            for p in forward {
                out.extend(["--forward".into(), p.to_string()]);
            }
        }
        out.push("--".into());
        let opts = j.enforcement.prlimit_opts(&run.limits);
        if !opts.is_empty() {
            out.push(s(&j.prlimit));
            out.extend(opts);
            out.push("--".into());
        }
        out.extend(argv);
        out
    }

    /// A deploy script run by showroomd (`bash SCRIPT` in the demo's folder);
    /// the script is bound read-only in case its folder is hidden.
    ///
    /// Spawn it from an async task, not `spawn_blocking`: `--die-with-parent`
    /// ties it to the thread that forked it, and blocking threads come and go.
    pub fn deploy_argv(&self, demo_dir: &Path, script: &Path) -> Vec<String> {
        self.deploy_argv_for(None, demo_dir, script)
    }

    /// `deploy_argv` in the demo's jail when `run` is given: its cgroups and
    /// limits, and its own network with nothing forwarded in.
    pub fn deploy_argv_for(
        &self,
        run: Option<&DemoRun<'_>>,
        demo_dir: &Path,
        script: &Path,
    ) -> Vec<String> {
        // The scripts folder, read-only: a deploy script may ship files
        // beside it (an app to copy, a shared configure step), and the
        // folder may stand where the sandbox hides things (under /tmp).
        // Never a folder that holds something hidden: its bind would
        // uncover it (then only the script itself).
        let scripts = script
            .parent()
            .filter(|dir| !self.hidden.iter().any(|h| h.starts_with(dir)))
            .unwrap_or(script);
        let spec = Spec {
            chdir: demo_dir,
            rw: vec![demo_dir],
            ro: vec![scripts],
            as_pid_1: false,
            own_net: run.is_some() && self.own_net(),
            tmp_size: run.and_then(|r| r.limits.tmp_size),
        };
        let argv = self.argv(&spec, &["bash".into(), script.display().to_string()]);
        match run {
            Some(run) => self.jailed(run, &[], argv),
            None => argv,
        }
    }

    /// A deploy script run in `folder` but seen at `seen_at` (a redeploy's
    /// fresh folder at the demo's own path, which scripts write into their
    /// configs). Only the sandbox can show a folder at another path.
    pub fn deploy_argv_at(
        &self,
        run: Option<&DemoRun<'_>>,
        folder: &Path,
        seen_at: &Path,
        script: &Path,
    ) -> Vec<String> {
        let mut argv = self.deploy_argv_for(run, seen_at, script);
        let at = seen_at.display().to_string();
        if let Some(i) = argv
            .windows(3)
            .position(|w| w[0] == "--bind" && w[1] == at && w[2] == at)
        {
            argv[i + 1] = folder.display().to_string();
        }
        argv
    }

    /// The shared Apache under supervisord: the demos and its own folder
    /// read-only, its run and log folders read-write, as PID 1 so that its
    /// death takes every worker along and supervisord's USR1 can reach it
    /// once forwarded (see `main_pid`).
    #[allow(clippy::too_many_arguments)]
    pub fn apache_argv(
        &self,
        demos: &Path,
        apache_dir: &Path,
        also_read: &[&Path],
        run_dir: &Path,
        log_dir: &Path,
        apache_bin: &Path,
        conf: &Path,
    ) -> Vec<String> {
        let mut ro = vec![demos, apache_dir];
        ro.extend_from_slice(also_read);
        let spec = Spec {
            chdir: apache_dir,
            ro,
            rw: vec![run_dir, log_dir],
            as_pid_1: true,
            // Apache serves every vhost demo on the host's network.
            own_net: false,
            tmp_size: None,
        };
        self.argv(
            &spec,
            &[
                apache_bin.display().to_string(),
                "-f".into(),
                conf.display().to_string(),
                "-DFOREGROUND".into(),
            ],
        )
    }

    /// Makes a fresh demo folder the sandboxed programs' own: theirs to
    /// write, no one else's to read (Apache runs as the same account).
    pub fn prepare_demo_dir(&self, dir: &Path) -> Result<(), SandboxError> {
        if let Some(a) = self.run_as {
            std::os::unix::fs::chown(dir, Some(a.uid), Some(a.gid)).map_err(io(dir))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
    }

    /// The modes of the state folder's parts: readable by showroom's user and
    /// group only. `group_traversable` are the folders an unprivileged bwrap
    /// must pass through to bind a demo's folder (the state folder, `demos/`,
    /// Apache's folder); as root they get the account's group. `shared` are
    /// the same and setgid: what showroomd writes there (Apache's config, the
    /// vhosts it includes) takes the account's group, so that Apache, running
    /// as the account, reads it under a 027 umask. `owned` (Apache's run and
    /// log folders) become the account's. `private` are 0700.
    pub fn secure_state(
        &self,
        group_traversable: &[&Path],
        shared: &[&Path],
        owned: &[&Path],
        private: &[&Path],
    ) -> Result<(), SandboxError> {
        let modes = group_traversable
            .iter()
            .map(|d| (d, 0o750))
            .chain(shared.iter().map(|d| (d, 0o2750)));
        for (d, mode) in modes {
            if let Some(a) = self.run_as {
                std::os::unix::fs::chown(d, None, Some(a.gid)).map_err(io(d))?;
            }
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).map_err(io(d))?;
        }
        for d in owned {
            if let Some(a) = self.run_as {
                std::os::unix::fs::chown(d, Some(a.uid), Some(a.gid)).map_err(io(d))?;
            }
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(io(d))?;
        }
        for d in private {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(io(d))?;
        }
        Ok(())
    }

    /// Checks at start that the sandbox can be built here, naming what is
    /// missing: runs `true` in a sandbox of a demo folder made in `scratch`
    /// (a folder under the state folder, removed afterwards).
    pub fn probe(&self, scratch: &Path) -> Result<(), SandboxError> {
        if self.run_as.is_some() && !is_executable(&self.setpriv) {
            return Err(SandboxError::NoSetpriv(self.setpriv.clone()));
        }
        if !self.enabled {
            return Ok(());
        }
        if !is_executable(&self.bwrap) {
            return Err(SandboxError::NoBwrap(self.bwrap.clone()));
        }
        for (file, what) in [
            ("/proc/sys/user/max_user_namespaces", "0"),
            ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ] {
            if std::fs::read_to_string(file).is_ok_and(|v| v.trim() == what) {
                return Err(SandboxError::NoUserNamespaces(format!("{file} is {what}")));
            }
        }
        let _ = std::fs::remove_dir_all(scratch);
        std::fs::create_dir_all(scratch).map_err(io(scratch))?;
        let result = self.probe_in(scratch);
        let _ = std::fs::remove_dir_all(scratch);
        result
    }

    fn probe_in(&self, scratch: &Path) -> Result<(), SandboxError> {
        self.prepare_demo_dir(scratch)?;
        // The same flags a demo gets, and a write to its folder.
        let argv = self.demo_argv(
            scratch,
            &["/bin/sh".into(), "-c".into(), "echo ok > probe".into()],
        );
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(io(Path::new(&argv[0])))?;
        let wrote = std::fs::read_to_string(scratch.join("probe")).is_ok_and(|t| t == "ok\n");
        if out.status.success() && wrote {
            return Ok(());
        }
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if stderr.is_empty() && !wrote {
            stderr = "the sandboxed program could not write to its own folder".into();
        }
        if std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
            .is_ok_and(|v| v.trim() == "1")
        {
            stderr += " (AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns is 1)";
        }
        Err(SandboxError::ProbeFailed {
            how: out.status.to_string(),
            stderr,
        })
    }
}

/// A short stable name for a state folder (FNV-1a of its path): the
/// showroomds of one host keep their demos' cgroups apart by it.
fn state_key(state_dir: &Path) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in state_dir.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The hidden folders without those inside another (whose cover already
/// hides them), normalised, shortest first so bwrap mounts parents first.
fn outermost(hidden: &[PathBuf]) -> Vec<PathBuf> {
    let all: BTreeSet<PathBuf> = hidden
        .iter()
        .filter(|p| p.is_absolute())
        .map(|p| normalise(p))
        .filter(|p| p != Path::new("/"))
        .collect();
    let mut out: Vec<PathBuf> = all
        .iter()
        .filter(|p| !all.iter().any(|q| q != *p && p.starts_with(q)))
        .cloned()
        .collect();
    out.sort_by_key(|p| p.components().count());
    out
}

/// Lexical: `.` and repeated separators go, `..` steps up.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
pub(crate) mod tests;
