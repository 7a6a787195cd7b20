//! The operations, one file each: what the actor does for deploy, start, stop, destroy, cleanup and supervisor start/stop.

pub(super) mod cleanup;
mod deploy;
mod destroy;
mod start;
mod stop;
mod supervisor;
