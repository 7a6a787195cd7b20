//! One file per command: send the request, print the answer.

pub mod access;
pub mod available;
pub mod cleanup;
pub mod deploy;
pub mod expire;
pub mod keep;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod redeploy;
pub mod sleep_after;
pub mod status;
pub mod supervisor;
pub mod transfer;
pub mod watch;

use protocol::{ClientError, Response};

/// An answer of another kind than the request calls for.
pub fn unexpected(r: Response) -> ClientError {
    ClientError::Unexpected(format!("{r:?}"))
}
