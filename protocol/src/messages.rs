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
pub struct DeployRequest {
    pub app: String,
    pub name: String,
    /// Given to the script as environment variables, in this order.
    pub params: Vec<(String, String)>,
    pub comment: String,
    /// How long the demo lives once deployed; None: the daemon's `default_ttl`.
    pub ttl_secs: Option<u64>,
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
        crate::names::validate_name(&self.name)?;
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
        comments.into_iter().try_for_each(check_comment)
    }
}

impl CloneRequest {
    /// The same rules as a deploy's: the new name, a one-line comment.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        crate::names::validate_name(&self.name)?;
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
    /// Who may reach it through the front door: `open`, `password`, `allow`
    /// or `password+allow` (never a user's password or hash).
    pub access: String,
    /// Why `url` is None though the front door is on (its port held by
    /// another program, …); empty otherwise.
    pub not_served: String,
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
            sleep_after_secs: None,
        }
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
