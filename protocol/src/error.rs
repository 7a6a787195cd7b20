//! The typed errors the daemon sends: a kind to match on and a message for a person.

use serde::{Deserialize, Serialize};

/// What went wrong, for a program to match on. New kinds are only appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request or a name in it is not acceptable (`empty demo name`, `/`, reserved names).
    InvalidRequest,
    /// The demo or app named does not exist (`this demo does not exist`).
    NotFound,
    /// The name is taken (`this demo already exists`).
    AlreadyExists,
    /// The deploy script failed or ran past its time (`installation ended with an error`).
    DeployFailed,
    /// The demo's process died while starting (`ABNORMAL_TERMINATION: NAME`).
    AbnormalTermination,
    /// Apache refused the demo's virtual host.
    ApacheConfig,
    /// supervisord could not be reached or refused a call.
    Supervisor,
    /// The peer speaks another protocol version.
    VersionMismatch,
    /// A frame could not be read or decoded.
    BadFrame,
    /// The caller may not do this.
    PermissionDenied,
    /// The daemon is shutting down or its queue is full; try again.
    Busy,
    /// Anything else: the message says what.
    Internal,
    /// A part every demo shares (supervisord, Apache) is failing: what
    /// would judge the demos by their status waits until it is healthy.
    SharedFailure,
    /// Every port of `port_min..=port_max` is held: the message says by
    /// what, the detail what to do.
    NoFreePort,
    /// The operator answered no to a confirmation: nothing was done.
    Declined,
}

/// An error as it travels to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub kind: ErrorKind,
    /// The words a person reads; the seed's messages are kept as they are.
    pub message: String,
    /// The cause beside it: a script's last output, supervisord's fault, Apache's complaint.
    pub detail: Option<String>,
}

impl ProtocolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProtocolError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let d = detail.into();
        self.detail = if d.trim().is_empty() { None } else { Some(d) };
        self
    }

    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "this demo does not exist")
    }

    /// The seed's words, then which demo: `this demo does not exist: no demo named "x"`.
    pub fn no_demo(name: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("this demo does not exist: no demo named {name:?}"),
        )
        .with_detail("showroomctl list shows the installed demos")
    }

    pub fn already_exists() -> Self {
        Self::new(ErrorKind::AlreadyExists, "this demo already exists")
    }

    /// The seed's words, then which name is taken.
    pub fn demo_exists(name: &str) -> Self {
        Self::new(
            ErrorKind::AlreadyExists,
            format!("this demo already exists: a demo named {name:?} is installed"),
        )
    }
}
