//! Everything about the supervisord that showroom drives: its XML-RPC client, its config, starting and stopping it.

pub mod config;
pub mod control;
pub mod event_listener;
pub mod events;
pub mod rpc;

pub use rpc::{Fault, ProcessInfo, RpcError, Supervisor};
