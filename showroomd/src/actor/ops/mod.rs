//! The operations, one file each: what the actor does for deploy, clone, redeploy, start, stop, restart, destroy, expire, keep, cleanup and supervisor start/stop.

pub mod access;
pub(super) mod cleanup;
mod clone;
pub(super) mod deploy;
mod destroy;
mod expire;
mod keep;
pub(super) mod redeploy;
mod restart;
mod sleep;
pub(super) mod start;
mod stop;
mod supervisor;
pub mod transfer;
