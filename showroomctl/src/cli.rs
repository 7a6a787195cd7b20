//! The command line: every command, its flags, and an example for each.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "showroomctl",
    version,
    about = "Drive showroomd: deploy, start, stop, destroy and report on demos",
    after_help = "Exit codes: 0 done, 1 refused or failed, 2 bad usage, 3 no daemon to talk to.\n\nExample:\n  showroomctl deploy static mysite --comment 'for ACME'\n  showroomctl start mysite && showroomctl list"
)]
pub struct Cli {
    /// showroomd's socket [default: $SHOWROOM_SOCKET, else /run/showroom/showroomd.sock as root,
    /// else $XDG_RUNTIME_DIR/showroom/showroomd.sock if it exists, else /run/showroom/showroomd.sock
    /// if it exists]
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Machine-readable output (see the README for its shape)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Cmd,
    /// Answer yes to the questions `destroy` (of a running demo), `cleanup --all` and
    /// `supervisor stop` ask on a terminal (without a terminal they never ask)
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Apps that can be deployed, with their params
    #[command(after_help = "Example:\n  showroomctl available --json")]
    Available,
    /// Installed demos: name, app, port, status, wanted state, expiry, deploy time, comment, front-door URL
    #[command(
        after_help = "On a terminal (or with COLUMNS set) the table fits the width: times are relative, the comment is cut with …,\nand columns that do not fit are left out in this order: DEPLOY, WANTED, URL, AGE, EXPIRES, PORT, APP, COMMENT, REASON.\nA last line counts the demos by status. Through a pipe without COLUMNS it prints every column, as `-o wide` does.\n\nExamples:\n  showroomctl list 'feat-*' --status RUNNING --status BACKOFF\n  showroomctl list --json | jq '.[] | select(.status == \"FATAL\") | .name'"
    )]
    List {
        /// Only demos whose name matches this glob (`*` any run of characters, `?` one)
        #[arg(value_name = "NAME-GLOB")]
        pattern: Option<String>,
        /// Only demos in this status (repeatable)
        #[arg(long = "status", value_name = "STATUS", value_parser = parse_status)]
        statuses: Vec<protocol::DemoStatus>,
        /// Only demos of this app (repeatable)
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        /// `wide`: every column, with full times, whatever the width
        #[arg(long, short = 'o', value_name = "FORMAT")]
        output: Option<ListFormat>,
    },
    /// Deploy APP as a new demo NAME (the script's output streams as it runs)
    #[command(
        after_help = "Examples:\n  showroomctl deploy static mysite --param title=Hello --comment 'for ACME'\n  showroomctl deploy pyvenv review-42 --ttl 3d"
    )]
    Deploy {
        app: String,
        name: String,
        /// A param of the app's deploy script, as KEY=VALUE (repeatable)
        #[arg(long = "param", value_name = "K=V", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// A free comment shown in `list`
        #[arg(long, default_value = "")]
        comment: String,
        /// Stop (or destroy: the daemon's `expire_action`) the demo this long
        /// after it is deployed: 90m, 12h, 7d [default: the daemon's `default_ttl`, else never]
        #[arg(long, value_name = "DURATION", value_parser = crate::output::parse_ttl)]
        ttl: Option<u64>,
        /// The memory its processes may use together, killed past it: 512M, 2G [default: the daemon's `demo_memory`]
        #[arg(long, value_name = "SIZE", value_parser = protocol::parse_size)]
        memory: Option<u64>,
        /// How many processes it may have at once [default: the daemon's `demo_procs`]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        procs: Option<u64>,
        /// Stop the demo into SLEEPING after this long without a request
        /// through the front door; its next request wakes it: 30m, 2h [default: the daemon's `sleep_after`, else never]
        #[arg(long, value_name = "DURATION", value_parser = crate::output::parse_duration)]
        sleep_after: Option<u64>,
    },
    /// Make a new demo NEW from a copy of SRC's folder, on a new port (the app's reconfigure step adapts it)
    #[command(
        after_help = "A running SRC's process is stopped for the copy and started again right after it.\nNEW is left stopped, like a deployed demo. An app without reconfigure_APP.sh cannot be cloned.\n\nExample:\n  showroomctl clone mysite mysite-2 --comment 'second copy for ACME' && showroomctl start mysite-2"
    )]
    Clone {
        src: String,
        new: String,
        /// A free comment shown in `list` [default: SRC's]
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Set when a demo expires, from now, or `never`
    #[command(
        after_help = "At expiry showroomd stops the demo, or destroys it (its `expire_action` setting).\n\nExamples:\n  showroomctl expire mysite 7d\n  showroomctl expire mysite never"
    )]
    Expire {
        name: String,
        /// 90m, 12h, 7d, 1d12h, or `never`
        #[arg(value_name = "DURATION|never", value_parser = parse_ttl)]
        ttl: Ttl,
    },
    /// Start a demo (its process, then its virtual host)
    #[command(after_help = "Example:\n  showroomctl start mysite")]
    Start { name: String },
    /// Stop a demo and everything its process left behind
    #[command(after_help = "Example:\n  showroomctl stop mysite")]
    Stop { name: String },
    /// Stop a demo and remove it for good
    #[command(
        after_help = "On a terminal, a running demo's destroy asks first (--yes does not).\n\nExample:\n  showroomctl destroy mysite"
    )]
    Destroy { name: String },
    /// Print a demo's status word (DESTROYED when there is none)
    #[command(after_help = "Example:\n  showroomctl status mysite")]
    Status { name: String },
    /// The supervisord that showroomd drives
    #[command(after_help = "Example:\n  showroomctl supervisor status --json")]
    Supervisor {
        #[command(subcommand)]
        action: SupervisorCmd,
    },
    /// A demo's deploy log, process output and its vhost's own Apache lines, each line with its time
    #[command(
        after_help = "Example:\n  showroomctl logs mysite --lines 50 --follow\n  showroomctl logs mysite --deploy 2"
    )]
    Logs {
        name: String,
        /// Keep printing what is written, until interrupted
        #[arg(long, short)]
        follow: bool,
        /// How many of the last lines of each log
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: u32,
        /// Only the Nth last deploy log (1: the last; showroom keeps 3)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        deploy: Option<u32>,
        /// What went through the front door to it instead: one request a line
        /// (time, client, method, status, bytes, microseconds, path)
        #[arg(long)]
        access: bool,
    },
    /// Print state changes as they happen, one a line, until interrupted
    #[command(after_help = "Example:\n  showroomctl watch --json")]
    Watch,
    /// Destroy the demos that match, and remove leftovers of earlier failures (for cron)
    #[command(
        after_help = "On a terminal, `--all` asks first (--yes does not).\n\nExample:\n  showroomctl cleanup --older-than 7d --status STOPPED --status FATAL --dry-run",
        // A bare `cleanup` would destroy every demo: make that a deliberate `--all`.
        group(clap::ArgGroup::new("selection").required(true).multiple(true).args(["older_than", "statuses", "all"]))
    )]
    Cleanup {
        /// Only demos created at least this long ago: 90s, 30m, 12h, 7d, 2w, or 1d12h
        #[arg(long, value_name = "DURATION", value_parser = crate::output::parse_duration)]
        older_than: Option<u64>,
        /// Only demos in this status (repeatable; any status when absent)
        #[arg(long = "status", value_name = "STATUS", value_parser = parse_status)]
        statuses: Vec<protocol::DemoStatus>,
        /// Every demo (required when neither --older-than nor --status is given)
        #[arg(long, conflicts_with_all = ["older_than", "statuses"])]
        all: bool,
        /// Say what would be done, do nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop then start a demo, as one action; answered once it runs again
    #[command(after_help = "Example:\n  showroomctl restart mysite")]
    Restart { name: String },
    /// Run the demo's app script again in a fresh folder while the demo serves on; on success it takes the old folder's place (same name, ports, comment, TTL, wanted state)
    #[command(
        after_help = "Params not given keep their values; the demo is started again if it ran.\nA script that fails leaves the demo untouched.\n\nExample:\n  showroomctl redeploy mysite --param title=Hello"
    )]
    Redeploy {
        name: String,
        /// A param of the app's deploy script, as KEY=VALUE (repeatable)
        #[arg(long = "param", value_name = "K=V", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// A new comment [default: the demo's]
        #[arg(long)]
        comment: Option<String>,
    },
    /// Mark a demo that no cleanup and no expiry touches (`--off` ends it)
    #[command(
        after_help = "Examples:\n  showroomctl keep mysite\n  showroomctl keep mysite --off"
    )]
    Keep {
        name: String,
        /// Let cleanups and its expiry apply again
        #[arg(long)]
        off: bool,
    },
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  showroomctl completions bash > /etc/bash_completion.d/showroomctl"
    )]
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (showroomctl.1 and one per command) into DIR: for packagers
    #[command(hide = true)]
    Man { dir: PathBuf },
    /// Write one demo (its folder and record) to an archive FILE, for import here or on another host
    #[command(
        after_help = "A running demo's process is stopped for the copy and started again right after it, as for clone.\n\nExample:\n  showroomctl export mysite /backup/mysite.tar"
    )]
    Export { name: String, file: PathBuf },
    /// Make a demo from an archive of `export`, on a free port of this host (the app's reconfigure step adapts it)
    #[command(
        after_help = "The demo is left stopped unless --start is given. A failed import leaves nothing.\n\nExample:\n  showroomctl import /backup/mysite.tar mysite-copy --start"
    )]
    Import {
        file: PathBuf,
        /// The new demo's name [default: the exported demo's]
        name: Option<String>,
        /// Start it once it is made
        #[arg(long)]
        start: bool,
    },
    /// Who may visit a demo through the front door: a password, address ranges, or anyone
    #[command(
        after_help = "The password is read from the terminal (not echoed) or from stdin, never from the command line.\nA protected demo is left off the front door's index.\n\nExamples:\n  showroomctl access mysite --password ann\n  echo \"$PW\" | showroomctl access mysite --password bob\n  showroomctl access mysite --allow 10.0.0.0/8,127.0.0.2\n  showroomctl access mysite --open"
    )]
    Access {
        name: String,
        #[command(flatten)]
        change: AccessArgs,
    },
    /// Set how long a demo may go without a request through the front door before it sleeps, or `never`
    #[command(
        after_help = "A sleeping demo (SLEEPING) has no process; its next request through the front door wakes it.\n\nExamples:\n  showroomctl sleep-after mysite 30m\n  showroomctl sleep-after mysite never"
    )]
    SleepAfter {
        name: String,
        /// 30m, 2h, 1d, or `never`
        #[arg(value_name = "DURATION|never", value_parser = parse_ttl)]
        idle: Ttl,
    },
}

/// One change of `access`.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct AccessArgs {
    /// Add USER (or set USER's password), asked for on the terminal or read from stdin
    #[arg(long, value_name = "USER")]
    pub password: Option<String>,
    /// Remove USER
    #[arg(long, value_name = "USER")]
    pub remove_user: Option<String>,
    /// Only visitors from these address ranges, comma-separated (CIDR or addresses); "" lifts the limit
    #[arg(long, value_name = "RANGES")]
    pub allow: Option<String>,
    /// Anyone may visit: every user and range removed
    #[arg(long)]
    pub open: bool,
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum SupervisorCmd {
    /// Is it running? (pid, version, config file)
    Status,
    /// Start it (demos stay stopped until started)
    Start,
    /// Stop every demo's process, then supervisord (on a terminal it asks first; --yes does not)
    Stop,
}

/// `list -o FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// Every column, full times, however wide the lines get
    Wide,
}

/// A time to live, or none.
#[derive(Debug, Clone, Copy)]
pub struct Ttl(pub Option<u64>);

fn parse_ttl(s: &str) -> Result<Ttl, String> {
    if s.trim().eq_ignore_ascii_case("never") {
        return Ok(Ttl(None));
    }
    crate::output::parse_ttl(s).map(|t| Ttl(Some(t)))
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

fn parse_status(s: &str) -> Result<protocol::DemoStatus, String> {
    protocol::DemoStatus::parse(s).ok_or_else(|| {
        let all: Vec<&str> = protocol::DemoStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        format!("unknown status {s:?} (one of {})", all.join(", "))
    })
}
