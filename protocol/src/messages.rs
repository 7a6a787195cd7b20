//! The requests a client sends and the responses the daemon answers with.
//!
//! Both enums are encoded with bincode, which numbers variants by position:
//! new variants are only ever appended, never inserted or reordered.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, ProtocolError};

/// One request. The first frame of a connection is always `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Hello {
        version: u32,
    },
    /// Apps that can be deployed.
    Available,
    /// Installed demos, sorted by name.
    List,
    /// One demo's status word.
    Status {
        name: String,
    },
    /// Answered with `Progress` lines, then `Deployed` or `Error`.
    Deploy(DeployRequest),
    Start {
        name: String,
    },
    Stop {
        name: String,
    },
    Destroy {
        name: String,
    },
    Supervisor(SupervisorAction),
    /// Answered with `Log` chunks; with `follow`, until the client goes away.
    Logs {
        name: String,
        follow: bool,
        lines: u32,
        /// 0: the last deploy's log and the demo's output; N: only the Nth
        /// last deploy log kept (1 the last, up to 3).
        deploy: u32,
    },
    /// Answered with `Event`s until the client goes away.
    Watch,
    Cleanup(CleanupRequest),
    /// A new demo `name` made from a copy of `src`'s folder, on a new port;
    /// answered like `Deploy` (the reconfigure step's output, then `Deployed`).
    Clone(CloneRequest),
    /// When a demo expires, from now; None: never.
    Expire {
        name: String,
        ttl_secs: Option<u64>,
    },
    /// One demo's folder and record as a tar archive, answered with
    /// `Archive` pieces then `Done`; a running process is stopped for the
    /// copy and started again, as for a clone.
    Export {
        name: String,
    },
    /// A demo made from an `export` archive, which follows as `Archive`
    /// pieces ending with an empty one; answered like `Clone`.
    Import(ImportRequest),
    /// A piece of an archive; empty: the last.
    Archive(Vec<u8>),
    /// Stop then start, as one action: answered once it runs again.
    Restart {
        name: String,
    },
    /// The app's script run again in a fresh folder, which takes the old
    /// one's place on success; answered like `Deploy`.
    Redeploy(RedeployRequest),
    /// Whether no cleanup and no expiry may touch the demo.
    Keep {
        name: String,
        keep: bool,
    },
    /// Who may reach a demo through the front door; answered with `Done`.
    Access {
        name: String,
        change: AccessChange,
    },
    /// What went through the front door to a demo, answered like `Logs`
    /// (chunks of source `access`, one request a line).
    AccessLog {
        name: String,
        follow: bool,
        lines: u32,
    },
    /// How long the demo may go without a request through the front door
    /// before it sleeps; None: never. Answered with `Done`.
    SleepAfter {
        name: String,
        idle_secs: Option<u64>,
    },
}

/// A change of a demo's visitor access. Passwords travel in the request
/// (over the local socket) and are stored hashed by showroomd alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessChange {
    /// Adds a user, or sets a user's password.
    Password { user: String, password: String },
    /// Removes a user.
    RemoveUser { user: String },
    /// Only these address ranges (CIDR or single addresses); empty: any.
    Allow { ranges: Vec<String> },
    /// Lifts every rule: anyone may visit.
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeployRequest {
    pub name: String,
    /// Params changed; the others keep their values.
    pub params: Vec<(String, String)>,
    /// None: the comment kept.
    pub comment: Option<String>,
}

impl RedeployRequest {
    /// The rules of a deploy: a param given once, a one-line comment.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        // An existing demo: a name from before the host-label rule is redeployed too.
        crate::names::validate_name(&self.name)?;
        DeployRequest {
            app: String::new(),
            name: "x".to_owned(),
            params: self.params.clone(),
            comment: self.comment.clone().unwrap_or_default(),
            ttl_secs: None,
            memory: None,
            procs: None,
            sleep_after_secs: None,
        }
        .validate()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The new demo's name; None: the exported demo's.
    pub name: Option<String>,
}

impl ImportRequest {
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match &self.name {
            // A new name is a host label, as for a deploy or a clone.
            Some(n) => crate::names::validate_new_name(n),
            None => Ok(()),
        }
    }
}

/// The size of the `Archive` pieces an export or an import is cut into.
pub const ARCHIVE_PIECE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    pub app: String,
    pub name: String,
    /// Given to the script as environment variables, in this order.
    pub params: Vec<(String, String)>,
    pub comment: String,
    /// How long the demo lives once deployed; None: the daemon's `default_ttl`.
    pub ttl_secs: Option<u64>,
    /// The demo's memory limit in bytes (`--memory`); None: the daemon's `demo_memory`.
    pub memory: Option<u64>,
    /// How many processes the demo may have at once (`--procs`); None: the daemon's `demo_procs`.
    pub procs: Option<u64>,
    /// How long it may go without a request through the front door before
    /// it sleeps; None: the daemon's `sleep_after`.
    pub sleep_after_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneRequest {
    /// The demo copied.
    pub src: String,
    /// The new demo.
    pub name: String,
    /// Empty: the source's comment.
    pub comment: String,
}

impl DeployRequest {
    /// What both showroomctl and showroomd refuse before anything runs: a bad
    /// name, a param given twice (the script would get one value and the
    /// record keep another), a comment with control characters (a newline
    /// would add a row to `list`'s table).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        crate::names::validate_new_name(&self.name)?;
        if let Some(t) = self.ttl_secs {
            crate::limits::check_ttl(t)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (k, _) in &self.params {
            if !seen.insert(k.as_str()) {
                return Err(ProtocolError::new(
                    ErrorKind::InvalidRequest,
                    format!("param {k:?} is given twice: give each param once"),
                ));
            }
        }
        let comments = std::iter::once(self.comment.as_str()).chain(
            self.params
                .iter()
                .filter(|(k, _)| k == "comment")
                .map(|(_, v)| v.as_str()),
        );
        comments.into_iter().try_for_each(check_comment)?;
        check_limits(self.memory, self.procs)
            .map_err(|e| ProtocolError::new(ErrorKind::InvalidRequest, e))
    }
}

/// The least memory a demo can start in (its jail, bwrap and pasta need
/// about 40 MB between them), and the most any host has.
pub const MEMORY_RANGE: std::ops::RangeInclusive<u64> = (64 << 20)..=(1 << 44);
/// The fewest processes a demo can start with (its jail, two bwrap, pasta,
/// its own), and the kernel's largest pid_max.
pub const PROCS_RANGE: std::ops::RangeInclusive<u64> = 8..=4_194_304;

/// Memory and process limits both sides accept (and a record can hold).
pub fn check_limits(memory: Option<u64>, procs: Option<u64>) -> Result<(), String> {
    if let Some(m) = memory.filter(|m| !MEMORY_RANGE.contains(m)) {
        return Err(format!(
            "a memory limit of {} is outside {}..={}",
            human_size(m),
            human_size(*MEMORY_RANGE.start()),
            human_size(*MEMORY_RANGE.end())
        ));
    }
    if let Some(p) = procs.filter(|p| !PROCS_RANGE.contains(p)) {
        return Err(format!(
            "a limit of {p} processes is outside {}..={}",
            PROCS_RANGE.start(),
            PROCS_RANGE.end()
        ));
    }
    Ok(())
}

impl CloneRequest {
    /// The same rules as a deploy's: the new name, a one-line comment.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        crate::names::validate_new_name(&self.name)?;
        check_comment(&self.comment)
    }
}

/// A comment is one plain line: a control character would add a row to
/// `list`'s table or reach a terminal.
fn check_comment(comment: &str) -> Result<(), ProtocolError> {
    match comment.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(ProtocolError::new(
            ErrorKind::InvalidRequest,
            format!(
                "a comment may not hold a control character ({c:?} in {comment:?}): keep it to one plain line"
            ),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupervisorAction {
    Status,
    Start,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupRequest {
    /// Only demos created at least this long ago.
    pub older_than_secs: Option<u64>,
    /// Only demos in one of these states (any state when empty).
    pub statuses: Vec<DemoStatus>,
    pub dry_run: bool,
}

/// One response frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Hello {
        version: u32,
    },
    /// The action asked for has happened.
    Done,
    Available(BTreeMap<String, AppInfo>),
    List(Vec<DemoInfo>),
    Status(DemoStatus),
    /// A line of a deploy script's output, as it comes.
    Progress(String),
    /// The deploy finished; the demo as it now is.
    Deployed(DemoInfo),
    Supervisor(SupervisorInfo),
    Log(LogChunk),
    Event(Event),
    Cleanup(CleanupReport),
    Error(ProtocolError),
    /// A piece of an exported archive.
    Archive(Vec<u8>),
    /// `status` of a demo whose word needs its reason beside it (killed by
    /// its memory limit, a shared part failing); `Status` otherwise.
    StatusReason {
        status: DemoStatus,
        reason: String,
    },
}

/// What `available` says of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub params: Vec<String>,
}

/// One installed demo as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoInfo {
    pub name: String,
    pub app: String,
    /// None only for a demo kept without a readable record whose port could not be recovered.
    pub port: Option<u16>,
    pub status: DemoStatus,
    pub comment: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub params: Vec<(String, String)>,
    /// Beside the status when the word alone would mislead (a shared part
    /// failing, a record lost): empty otherwise.
    pub reason: String,
    /// What the operator last asked: brought back after a fresh supervisord when `Running`.
    pub wanted: Wanted,
    /// When showroomd stops or destroys it (`expire_action`), seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// How long its deploy (or clone) took, in milliseconds: milliseconds
    /// rather than fractional seconds keep the message `Eq`.
    pub deploy_ms: Option<u64>,
    /// The front door's address of it, `http(s)://NAME.DOMAIN[:PORT]/`;
    /// None with the front door off or a name that is no host name.
    pub url: Option<String>,
    /// No cleanup and no expiry touches it (`keep NAME`).
    pub keep: bool,
    /// Its second port (`PORT2`), for an app whose script says `# PORTS: 2`.
    pub port2: Option<u16>,
    /// Who may reach it through the front door: `open`, `password`, `allow`
    /// or `password+allow` (never a user's password or hash).
    pub access: String,
    /// Why `url` is None though the front door is on (its port held by
    /// another program, …); empty otherwise.
    pub not_served: String,
    /// What the kernel holds it to (`--memory`, `--procs`, the config's defaults).
    pub limits: DemoLimits,
}

/// A demo's limits as set at its deploy; None: unlimited. How they are
/// enforced (cgroup v2, v1, rlimits) is the host's, said in showroomd's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLimits {
    /// Bytes of memory its processes may use together.
    pub memory: Option<u64>,
    /// Processes (threads included) it may have at once.
    pub procs: Option<u64>,
    /// Bytes its private `/tmp` may hold.
    pub tmp_size: Option<u64>,
    /// Open files each of its processes may hold.
    pub nofile: Option<u64>,
}

/// A size as a person reads it: `512M`, `2G`, `1536K`, or bytes when none fits.
pub fn human_size(bytes: u64) -> String {
    for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Reads `512M`, `2G`, `64k`, `1048576` (bytes): the form `human_size` writes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, shift) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = num.parse().map_err(|_| {
        format!("{text:?} is not a size: give bytes, or a number with K, M, G or T")
    })?;
    n.checked_mul(1 << shift)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{text:?} is not a size between 1 byte and 16 EiB"))
}

/// Whether the operator last asked a demo to run or to stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wanted {
    Running,
    /// Also what a demo is before its first start.
    #[default]
    Stopped,
}

impl Wanted {
    pub fn as_str(self) -> &'static str {
        match self {
            Wanted::Running => "running",
            Wanted::Stopped => "stopped",
        }
    }
}

/// The status words of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DemoStatus {
    Deploying,
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Partial,
    Unknown,
    Destroyed,
    /// Wanted running, stopped after its idle time: its next request
    /// through the front door wakes it.
    Sleeping,
}

impl DemoStatus {
    pub const ALL: [DemoStatus; 12] = [
        DemoStatus::Deploying,
        DemoStatus::Stopped,
        DemoStatus::Starting,
        DemoStatus::Running,
        DemoStatus::Backoff,
        DemoStatus::Stopping,
        DemoStatus::Exited,
        DemoStatus::Fatal,
        DemoStatus::Partial,
        DemoStatus::Unknown,
        DemoStatus::Destroyed,
        DemoStatus::Sleeping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DemoStatus::Deploying => "DEPLOYING",
            DemoStatus::Stopped => "STOPPED",
            DemoStatus::Starting => "STARTING",
            DemoStatus::Running => "RUNNING",
            DemoStatus::Backoff => "BACKOFF",
            DemoStatus::Stopping => "STOPPING",
            DemoStatus::Exited => "EXITED",
            DemoStatus::Fatal => "FATAL",
            DemoStatus::Partial => "PARTIAL",
            DemoStatus::Unknown => "UNKNOWN",
            DemoStatus::Destroyed => "DESTROYED",
            DemoStatus::Sleeping => "SLEEPING",
        }
    }

    /// Reads a status word, in any case.
    pub fn parse(word: &str) -> Option<DemoStatus> {
        DemoStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for DemoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `supervisor status` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorInfo {
    pub running: bool,
    pub pid: Option<u32>,
    /// supervisord's own state word (`RUNNING`, `SHUTDOWN`…), empty when not running.
    pub state: String,
    pub version: String,
    /// Its config file, for `supervisorctl -c`.
    pub config: String,
    /// The front door's own Apache; None with the front door off.
    pub front_door: Option<FrontDoorInfo>,
}

/// What `supervisor status` says of the front door.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontDoorInfo {
    /// It answers on `ports`.
    pub serving: bool,
    /// The ports it serves on (HTTP, then HTTPS), or means to.
    pub ports: Vec<u16>,
    /// Why it does not serve (a port held by another program, with its pid
    /// and name where showroomd can see them); empty while it serves.
    pub reason: String,
    /// The names the served certificate covers; empty without TLS.
    pub cert_names: Vec<String>,
    /// When that certificate expires, seconds since the Unix epoch.
    pub cert_expires: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// `deploy`, `stdout` or `stderr`.
    pub source: String,
    pub text: String,
}

/// A change of state, as `watch` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The demo concerned; None for supervisord itself.
    pub demo: Option<String>,
    pub kind: EventKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    DeployStarted,
    Deployed,
    DeployFailed,
    Started,
    StartFailed,
    Stopped,
    Destroyed,
    StateChanged {
        from: DemoStatus,
        to: DemoStatus,
    },
    SupervisorDown,
    SupervisorUp,
    /// This watcher fell behind and events were dropped (how many in the detail): `list` has the present state.
    Missed,
    /// Its time was up: stopped or destroyed (which, in the detail).
    Expired,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::DeployStarted => f.write_str("deploy-started"),
            EventKind::Deployed => f.write_str("deployed"),
            EventKind::DeployFailed => f.write_str("deploy-failed"),
            EventKind::Started => f.write_str("started"),
            EventKind::StartFailed => f.write_str("start-failed"),
            EventKind::Stopped => f.write_str("stopped"),
            EventKind::Destroyed => f.write_str("destroyed"),
            EventKind::StateChanged { from, to } => write!(f, "{from}->{to}"),
            EventKind::SupervisorDown => f.write_str("supervisord-down"),
            EventKind::SupervisorUp => f.write_str("supervisord-up"),
            EventKind::Missed => f.write_str("missed"),
            EventKind::Expired => f.write_str("expired"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupReport {
    pub dry_run: bool,
    /// Demos destroyed (or that would be).
    pub destroyed: Vec<String>,
    /// Demos whose destroy failed, with why.
    pub failed: Vec<(String, String)>,
    /// Leftovers of earlier failures removed (or that would be).
    pub leftovers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(params: &[(&str, &str)], comment: &str) -> DeployRequest {
        DeployRequest {
            app: "test1".into(),
            name: "x".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            comment: comment.into(),
            ttl_secs: None,
            memory: None,
            procs: None,
            sleep_after_secs: None,
        }
    }

    #[test]
    fn limits_are_bounded_and_sizes_read_as_written() {
        let with = |memory, procs| DeployRequest {
            memory,
            procs,
            ..req(&[], "")
        };
        with(Some(512 << 20), Some(200)).validate().unwrap();
        let e = with(Some(1 << 20), None).validate().unwrap_err();
        assert!(
            e.message.contains("1M is outside 64M..=16384G"),
            "{}",
            e.message
        );
        assert!(with(None, Some(2)).validate().is_err());
        assert!(with(Some(u64::MAX), None).validate().is_err());
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(human_size(512 << 20), "512M");
        assert_eq!(human_size(1536 << 10), "1536K");
        assert_eq!(human_size(1000), "1000");
    }

    #[test]
    fn deploy_requests_are_checked() {
        req(&[("comment", "hi"), ("size", "2")], "a plain comment")
            .validate()
            .unwrap();
        let e = req(&[("size", "1"), ("size", "2")], "")
            .validate()
            .unwrap_err();
        assert!(
            e.message.contains("\"size\" is given twice"),
            "{}",
            e.message
        );
        for (params, comment) in [(&[][..], "one\ntwo"), (&[("comment", "a\rb")][..], "")] {
            let e = req(params, comment).validate().unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert!(e.message.contains("control character"), "{}", e.message);
        }
        let mut bad_name = req(&[], "");
        bad_name.name = "../x".into();
        assert!(bad_name.validate().is_err());
    }

    #[test]
    fn clone_requests_are_held_to_the_same_rules() {
        let clone = |name: &str, comment: &str| CloneRequest {
            src: "a".into(),
            name: name.into(),
            comment: comment.into(),
        };
        clone("b", "a copy").validate().unwrap();
        let e = clone("b", "one\ntwo").validate().unwrap_err();
        assert!(e.message.contains("control character"), "{}", e.message);
        assert!(clone("../b", "").validate().is_err());
    }
}
