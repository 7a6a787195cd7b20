//! Where each file lives under the state folder (docs/ARCHITECTURE.md, "On disk").

use std::path::{Path, PathBuf};

/// The names showroom reads or writes inside a demo's folder, always
/// through `demofs::DemoDir` (relative to the folder's descriptor).
pub const START_SCRIPT: &str = "start.sh";
pub const VHOST: &str = "apache2.conf";
pub const RECORD_COPY: &str = "demo.conf";
pub const PROGRAM_SECTION_COPY: &str = "supervisor.cfg";

/// The ending of the files `deploy_pgid` names.
pub const DEPLOY_PGID_EXT: &str = "pgid";

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Held (flock) by the one showroomd that owns this folder.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("showroomd.lock")
    }
    /// The state folder's format, a number (`upgrade.rs`).
    pub fn format_file(&self) -> PathBuf {
        self.root.join("FORMAT")
    }
    /// Archives on their way in (`import`) or out (`export`): emptied at start.
    pub fn archives(&self) -> PathBuf {
        self.root.join("archives")
    }
    /// A fresh name there, `STEM-PID-N.tar`.
    pub fn archive(&self, stem: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.archives()
            .join(format!("{stem}-{}-{n}.tar", std::process::id()))
    }
    pub fn demos(&self) -> PathBuf {
        self.root.join("demos")
    }
    pub fn demo_dir(&self, name: &str) -> PathBuf {
        self.demos().join(name)
    }
    /// Where showroom's own records live: outside every demo folder, so
    /// that nothing a demo writes (or deletes) changes what showroom knows.
    pub fn records(&self) -> PathBuf {
        self.root.join("records")
    }
    /// A demo's record, the truth: app, port, params, comment, created, phase.
    pub fn record(&self, name: &str) -> PathBuf {
        self.records().join(format!("{name}.toml"))
    }
    /// A copy of the record in the demo's folder, for people; never read
    /// back except once, to adopt a state folder from before `records/`.
    pub fn record_copy(&self, name: &str) -> PathBuf {
        self.demo_dir(name).join(RECORD_COPY)
    }
    /// Deploys under way: a marker is written before the demo's folder is
    /// made and removed once its record says installed, so that at start
    /// showroom rolls back only a folder it can prove it made and did not finish.
    pub fn deploying(&self) -> PathBuf {
        self.root.join("deploying")
    }
    /// A redeploy under way: hidden, so no listing takes it for a deploy's.
    pub fn redeploy_marker(&self, name: &str) -> PathBuf {
        self.deploying()
            .join(format!(".{name}{}", crate::store::REDEPLOY_EXT))
    }
    /// The fresh folder a redeploy's script runs in, beside the demo's own
    /// (the same filesystem, for the swap); hidden, so never a demo.
    pub fn redeploy_dir(&self, name: &str) -> PathBuf {
        self.demos()
            .join(format!(".{name}{}", crate::store::REDEPLOY_EXT))
    }
    pub fn deploy_marker(&self, name: &str) -> PathBuf {
        self.deploying().join(name)
    }
    pub fn start_script(&self, name: &str) -> PathBuf {
        self.demo_dir(name).join(START_SCRIPT)
    }
    /// A copy of the demo's `[program:NAME]`, for people: supervisord reads
    /// `programs_conf`, never this.
    pub fn program_section_copy(&self, name: &str) -> PathBuf {
        self.demo_dir(name).join(PROGRAM_SECTION_COPY)
    }
    pub fn vhost(&self, name: &str) -> PathBuf {
        self.demo_dir(name).join(VHOST)
    }
    /// Folders being removed are renamed here first, so that a crash mid-removal
    /// never leaves a half-deleted demo under `demos/`.
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }
    pub fn supervisor_dir(&self) -> PathBuf {
        self.root.join("supervisor")
    }
    pub fn supervisord_conf(&self) -> PathBuf {
        self.supervisor_dir().join("supervisord.conf")
    }
    pub fn supervisor_socket(&self) -> PathBuf {
        self.supervisor_dir().join("supervisor.sock")
    }
    /// Every demo's `[program:NAME]` in one file: one reload parses each
    /// section once (one include file a demo made a reload O(N²)), and no
    /// demo can write here.
    pub fn programs_conf(&self) -> PathBuf {
        self.supervisor_dir().join("programs.conf")
    }
    /// Where the event listener forwards supervisord's process events; the
    /// folder is private to showroom's user.
    pub fn events_socket(&self) -> PathBuf {
        self.supervisor_dir().join("events.sock")
    }
    /// supervisord's `showroom` XML-RPC namespace; this folder is its PYTHONPATH.
    pub fn rpc_plugin(&self) -> PathBuf {
        self.supervisor_dir()
            .join(format!("{}.py", crate::supervisor::config::RPC_PLUGIN))
    }
    pub fn supervisord_pid(&self) -> PathBuf {
        self.supervisor_dir().join("supervisord.pid")
    }
    pub fn supervisor_logs(&self) -> PathBuf {
        self.supervisor_dir().join("logs")
    }
    /// supervisord's own log: says how each process exited.
    pub fn supervisord_log(&self) -> PathBuf {
        self.supervisor_dir().join("supervisord.log")
    }
    /// What supervisord keeps of a demo process's `stream` (`stdout`, `stderr`).
    pub fn process_log(&self, name: &str, stream: &str) -> PathBuf {
        self.supervisor_logs().join(format!("{name}.{stream}.log"))
    }
    pub fn apache_dir(&self) -> PathBuf {
        self.root.join("apache")
    }
    pub fn apache_conf(&self) -> PathBuf {
        self.apache_dir().join("apache2.conf")
    }
    pub fn apache_copies(&self) -> PathBuf {
        self.apache_dir().join("demos")
    }
    /// The copy of a demo's `apache2.conf` Apache loads, taken at its
    /// start once checked: the demo's later edits wait for its next start.
    pub fn apache_copy(&self, name: &str) -> PathBuf {
        self.apache_copies().join(format!("{name}.conf"))
    }
    /// Where a vhost is put to be tested before it is enabled: outside
    /// Apache's include, and the very text that will be enabled.
    pub fn apache_staged(&self, name: &str) -> PathBuf {
        self.apache_staged_dir().join(format!("{name}.conf"))
    }
    /// Vhosts about to be enabled, for Apache's config test.
    pub fn apache_staged_dir(&self) -> PathBuf {
        self.apache_dir().join("staged")
    }
    pub fn apache_run(&self) -> PathBuf {
        self.apache_dir().join("run")
    }
    pub fn apache_logs(&self) -> PathBuf {
        self.apache_dir().join("logs")
    }
    /// The front door's generated Apache config and pages.
    pub fn frontdoor_dir(&self) -> PathBuf {
        self.root.join("frontdoor")
    }
    pub fn frontdoor_conf(&self) -> PathBuf {
        self.frontdoor_dir().join("frontdoor.conf")
    }
    /// A config not yet tested: Apache includes it only in its config test.
    pub fn frontdoor_candidate(&self) -> PathBuf {
        self.frontdoor_dir().join("frontdoor.conf.new")
    }
    /// What Apache serves from the front door itself: the index, the 404 and stopped pages.
    pub fn frontdoor_pages(&self) -> PathBuf {
        self.frontdoor_dir().join("www")
    }
    /// The front door's own Apache: its main config, run and log folders.
    pub fn frontdoor_main_conf(&self) -> PathBuf {
        self.frontdoor_dir().join("apache2.conf")
    }
    pub fn frontdoor_run(&self) -> PathBuf {
        self.frontdoor_dir().join("run")
    }
    pub fn frontdoor_logs(&self) -> PathBuf {
        self.frontdoor_dir().join("logs")
    }
    /// Visitors' password files, `NAME.htpasswd`: hashes only, readable by
    /// showroom and the front door's Apache alone.
    pub fn frontdoor_auth(&self) -> PathBuf {
        self.frontdoor_dir().join("auth")
    }
    /// What went through the front door to each demo, `NAME.log`, capped.
    pub fn access_log(&self, name: &str) -> PathBuf {
        self.logs().join("access").join(format!("{name}.log"))
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn deploy_log(&self, name: &str) -> PathBuf {
        self.logs().join("deploy").join(format!("{name}.log"))
    }
    /// The `n`th last deploy log kept (1: the last, `deploy_log`; 2 and 3 the ones before).
    pub fn deploy_log_nth(&self, name: &str, n: u32) -> PathBuf {
        match n {
            0 | 1 => self.deploy_log(name),
            n => self
                .logs()
                .join("deploy")
                .join(format!("{name}.log.{}", n - 1)),
        }
    }
    /// What Apache writes of a demo's vhost (`kind`: `access`, `error`):
    /// showroom adds these to its checked copy, the demo cannot.
    pub fn vhost_log(&self, name: &str, kind: &str) -> PathBuf {
        self.apache_logs().join(format!("{name}.{kind}.log"))
    }
    /// The process group of the demo's deploy script, while it runs: out of
    /// the script's reach, beside its log.
    pub fn deploy_pgid(&self, name: &str) -> PathBuf {
        self.logs()
            .join("deploy")
            .join(format!("{name}.{DEPLOY_PGID_EXT}"))
    }

    /// Creates the folders showroom writes into.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        for d in [
            self.demos(),
            self.records(),
            self.deploying(),
            self.apache_staged_dir(),
            self.frontdoor_pages(),
            self.frontdoor_run(),
            self.frontdoor_logs(),
            self.frontdoor_auth(),
            self.logs().join("access"),
            self.trash(),
            self.archives(),
            self.supervisor_logs(),
            self.apache_copies(),
            self.apache_run(),
            self.apache_logs(),
            self.logs().join("deploy"),
        ] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }
}
