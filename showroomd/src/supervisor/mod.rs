//! Everything about the supervisord that showroom drives: its XML-RPC client, its config, starting and stopping it, and the `Supervisord` seam the actor drives it through.

pub mod config;
pub mod control;
pub mod event_listener;
pub mod events;
pub mod rpc;

use std::future::Future;
use std::pin::Pin;

pub use rpc::{Fault, ProcessInfo, RpcError, Supervisor};

use crate::config::Config;
use crate::layout::Layout;
use control::ControlError;

/// A call to supervisord. Boxed, so that `Send` is stated on the future
/// itself: the actor's future is spawned, whatever drives it.
pub type Call<'a, T, E = RpcError> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;

/// What the actor asks of supervisord. The real one is [`Supervisor`]
/// (XML-RPC over its Unix socket); the actor's unit tests drive a stub, so
/// that its decisions are tested without a supervisord.
pub trait Supervisord: Clone + Send + Sync + 'static {
    fn state(&self) -> Call<'_, String>;
    fn process_info<'a>(&'a self, name: &'a str) -> Call<'a, ProcessInfo>;
    fn all_process_info(&self) -> Call<'_, Vec<ProcessInfo>>;
    /// Starts a program and waits until it runs (`startsecs`).
    fn start_process<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    /// Starts a program without waiting for `startsecs`, so that several
    /// start at once; the caller reads their states after.
    fn start_process_nowait<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    /// Stops a program and waits until it stopped.
    fn stop_process<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    fn signal_process<'a>(&'a self, name: &'a str, signal: &'a str) -> Call<'a, ()>;
    /// Rereads the config files; returns the (added, changed, removed) group names.
    fn reload_config(&self) -> Call<'_, [Vec<String>; 3]>;
    fn add_process_group<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    /// Adds one program group from its section text, parsing nothing else
    /// (fault `UNKNOWN_METHOD` from a supervisord without showroom's plugin).
    fn add_program<'a>(&'a self, name: &'a str, section: &'a str) -> Call<'a, ()>;
    fn remove_process_group<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
    /// Starts supervisord when it does not answer; true when it was started afresh.
    fn start_daemon<'a>(
        &'a self,
        layout: &'a Layout,
        cfg: &'a Config,
    ) -> Call<'a, bool, ControlError>;
    /// Stops every process, then supervisord; true when it was running.
    fn stop_daemon(&self) -> Call<'_, bool, ControlError>;
}

/// Start and stop wait for the process: the actor replies only once the
/// action happened.
impl Supervisord for Supervisor {
    fn state(&self) -> Call<'_, String> {
        Box::pin(Supervisor::state(self))
    }
    fn process_info<'a>(&'a self, name: &'a str) -> Call<'a, ProcessInfo> {
        Box::pin(Supervisor::process_info(self, name))
    }
    fn all_process_info(&self) -> Call<'_, Vec<ProcessInfo>> {
        Box::pin(Supervisor::all_process_info(self))
    }
    fn start_process<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::start_process(self, name, true))
    }
    fn start_process_nowait<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::start_process(self, name, false))
    }
    fn stop_process<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::stop_process(self, name, true))
    }
    fn signal_process<'a>(&'a self, name: &'a str, signal: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::signal_process(self, name, signal))
    }
    fn reload_config(&self) -> Call<'_, [Vec<String>; 3]> {
        Box::pin(Supervisor::reload_config(self))
    }
    fn add_process_group<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::add_process_group(self, name))
    }
    fn add_program<'a>(&'a self, name: &'a str, section: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::add_program(self, name, section))
    }
    fn remove_process_group<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(Supervisor::remove_process_group(self, name))
    }
    fn start_daemon<'a>(
        &'a self,
        layout: &'a Layout,
        cfg: &'a Config,
    ) -> Call<'a, bool, ControlError> {
        Box::pin(control::start(layout, cfg, self))
    }
    fn stop_daemon(&self) -> Call<'_, bool, ControlError> {
        Box::pin(control::stop(self))
    }
}

/// Treats the listed fault codes as success (e.g. "already added", "not running").
pub fn ok_if(r: Result<(), RpcError>, codes: &[i32]) -> Result<(), RpcError> {
    match r {
        Err(e) if e.fault_code().is_some_and(|c| codes.contains(&c)) => Ok(()),
        other => other,
    }
}
