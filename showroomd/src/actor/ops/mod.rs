//! The operations, one file each: what the actor does for deploy, clone, start, stop, destroy, expire, cleanup and supervisor start/stop.

pub mod access;
pub(super) mod cleanup;
mod clone;
pub(super) mod deploy;
mod destroy;
mod expire;
mod sleep;
pub(super) mod start;
mod stop;
mod supervisor;
