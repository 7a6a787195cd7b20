//! What showroomd and showroomctl share: the messages, the error kinds, the frame codec, the protocol version and a small async client.

pub mod client;
pub mod codec;
pub mod error;
pub mod limits;
pub mod messages;
pub mod names;
pub mod trust;

#[cfg(test)]
mod golden;

pub use client::{Client, ClientError};
pub use codec::{CodecError, MAX_DECODE_BYTES, MAX_FRAME_BYTES};
pub use error::{ErrorKind, ProtocolError};
pub use messages::*;

/// Bumped whenever a message changes in a way an older peer cannot read.
/// New variants are only ever appended, so adding one does not bump it.
pub const PROTOCOL_VERSION: u32 = 3;

/// How long the daemon waits for a client's hello, and a client for the answer.
pub const HELLO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where both sides look for the socket when none is given.
///
/// `SHOWROOM_SOCKET` wins; root uses `/run/showroom/showroomd.sock` (systemd's
/// RuntimeDirectory); anyone else a folder of their own under
/// `$XDG_RUNTIME_DIR`, or under `/tmp` named with their uid.
pub fn default_socket_path() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(p) = socket_from_env() {
        return p;
    }
    let uid = current_uid();
    if uid == 0 {
        return PathBuf::from(SYSTEM_SOCKET);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("showroom/showroomd.sock"),
        _ => PathBuf::from(format!("/tmp/showroom-{uid}/showroomd.sock")),
    }
}

/// The system service's socket (systemd's `RuntimeDirectory=showroom`).
pub const SYSTEM_SOCKET: &str = "/run/showroom/showroomd.sock";

/// Where showroomctl looks: `SHOWROOM_SOCKET`; else the user's own daemon's
/// socket when there is one; else the system service's when there is one, so
/// that an operator on a demo host needs no setting; else the user's own (to
/// name it in the error). A default of the user's own that someone else
/// made (`/tmp/showroom-UID` is anyone's to create) is never preferred.
pub fn client_socket_path() -> std::path::PathBuf {
    let own = default_socket_path();
    let trusted = || trust::check_socket(&own, current_uid()).is_ok();
    if socket_from_env().is_some() || (own.exists() && trusted()) {
        return own;
    }
    let system = std::path::Path::new(SYSTEM_SOCKET);
    if system.exists() {
        return system.to_path_buf();
    }
    own
}

/// `SHOWROOM_SOCKET`, unless unset or empty.
fn socket_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os("SHOWROOM_SOCKET")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
}

/// The real uid of this process.
pub fn current_uid() -> u32 {
    // Without libc or nix here: the owner of /proc/self is the real uid.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}
