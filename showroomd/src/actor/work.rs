//! The slow half of each operation: supervisord's calls, Apache (through its keeper), port and process waits. It runs in a task beside the actor, touches no state, and its end comes back to the inbox as a typed message (`Worked`) that the actor applies.
//!
//! The actor decides (checks, reservations, records on disk) and hands a
//! `Work` (clones of what the I/O needs) to a task; meanwhile the demo is in
//! flight (`hold`), so that its own later requests wait for it in order while
//! every other demo's are served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{DemoStatus, ErrorKind, ProtocolError, Response};
use tracing::{info, warn};

use super::apache_keeper::{Applied, Change, Keeper};
use super::ops::start::{start_process, Telling};
use super::{sup_error, Reply};
use crate::apache;
use crate::layout::Layout;
use crate::sandbox::{self, Sandbox};
use crate::supervisor::rpc::codes;
use crate::supervisor::{ok_if, ProcessInfo, RpcError, Supervisord};

/// A stop of a program that is not running, or that supervisord does not know, is done.
const STOPPED_ALREADY: &[i32] = &[codes::NOT_RUNNING, codes::BAD_NAME];

/// What the I/O of an operation needs; cloned into each task.
#[derive(Clone)]
pub(super) struct Work<S> {
    pub sup: S,
    pub layout: Layout,
    pub sandbox: Arc<Sandbox>,
    pub apache: Keeper,
    /// supervisord lacks showroom's plugin and the log has said so once.
    pub plugin_missing_told: Arc<AtomicBool>,
    /// Deploys' installs take turns: supervisord serves calls in turn, and
    /// twenty scripts that end together would put twenty installs ahead of
    /// an operator's stop; a deploy's seconds hardly feel one more turn.
    pub installs: Arc<tokio::sync::Semaphore>,
}

/// One program's state as read, for the table.
#[derive(Debug)]
pub(crate) struct Reading {
    pub program: String,
    pub info: Read,
    pub taken: Instant,
}

/// What supervisord said of a program.
#[derive(Debug)]
pub(crate) enum Read {
    Info(ProcessInfo),
    /// It knows no such program.
    Unknown,
    /// It does not answer.
    Down(String),
    /// Another failure, logged: nothing learnt.
    Failed,
}

/// What a stop (or a destroy's stop) did, besides its result.
#[derive(Debug, Default)]
pub(crate) struct StopDone {
    /// The program section rewritten while it ran now applies.
    pub stale_applied: bool,
    /// What the Apache round that took its vhost out did.
    pub applied: Option<Applied>,
    /// Its group is gone from supervisord (a destroy).
    pub group_removed: bool,
    pub readings: Vec<Reading>,
}

/// What a start was decided with, in the actor.
#[derive(Debug)]
pub(crate) struct StartPlan {
    pub process: bool,
    pub vhost: bool,
    /// Its vhost's copy is in Apache's config already.
    pub already_enabled: bool,
    /// The vhost's text, read and held to the policy, when not enabled yet.
    pub text: Option<String>,
    /// Its program section changed while it ran, and it does not run now.
    pub stale: bool,
    pub told: Telling,
    /// How its process is seen ready before supervisord's `startsecs`:
    /// its port answering. None: a demo with no port, whose start waits.
    pub probe: Option<crate::readiness::Readiness>,
}

/// What a start did, besides its result.
#[derive(Debug, Default)]
pub(crate) struct StartDone {
    pub stale_applied: bool,
    /// Its process answered on its port before supervisord's `startsecs`.
    pub answered: bool,
    /// Enabled vhosts of other demos disabled so that Apache takes this one.
    pub pruned: Vec<(String, String)>,
    pub applied: Option<Applied>,
    pub readings: Vec<Reading>,
}

/// Where a stop's end goes once applied.
pub(crate) enum AfterStop {
    Stop(Reply<Response>),
    /// A restart: its start follows.
    Restart(Reply<Response>),
    Destroy(Reply<Response>),
    /// One demo of a cleanup: answers whether it was destroyed.
    CleanupOne(Reply<bool>),
    /// Put to sleep after `idle` seconds without a request.
    Sleep {
        idle: u64,
    },
    /// An expiry; `was`: the expiry it had, put back when it fails.
    Expire {
        destroy: bool,
        now: u64,
        was: Option<u64>,
    },
}

/// Where a start's end goes once applied.
pub(crate) enum AfterStart {
    /// A start's answer (or a restart's, which answers as a start does).
    Reply(Reply<Response>),
    /// One demo of a restore: whether it came back.
    Restore(Reply<bool>),
    /// A clone's source, running again after the copy of its folder; the
    /// clone's job is told when it is (its answer comes after).
    Source {
        clone: String,
        started: tokio::sync::oneshot::Sender<()>,
    },
}

/// The end of an operation's work, back in the inbox.
pub(crate) enum Worked {
    Stopped {
        name: String,
        result: Result<(), ProtocolError>,
        done: StopDone,
        then: AfterStop,
    },
    Started {
        name: String,
        result: Result<(), ProtocolError>,
        done: StartDone,
        then: AfterStart,
    },
    /// A clone's source stopped for the copy of its folder: whether it ran.
    SourceStopped {
        src: String,
        clone: String,
        result: Result<bool, ProtocolError>,
        reading: Reading,
        reply: Reply<bool>,
    },
    /// A deployed demo's program was added to supervisord.
    Installed {
        name: String,
        result: Result<(), ProtocolError>,
        readings: Vec<Reading>,
        reply: Reply<protocol::DemoInfo>,
    },
}

impl<S: Supervisord> Work<S> {
    /// Fails with a clear error when supervisord does not answer.
    pub async fn require_supervisor(&self) -> Result<(), ProtocolError> {
        self.sup.state().await.map(drop).map_err(sup_error)
    }

    /// One program's state, as supervisord says it now.
    pub async fn read(&self, program: &str) -> Reading {
        let taken = Instant::now();
        let info = match self.sup.process_info(program).await {
            Ok(i) => Read::Info(i),
            Err(e) if e.fault_code() == Some(codes::BAD_NAME) => Read::Unknown,
            Err(e) if e.is_unreachable() => Read::Down(e.to_string()),
            Err(e) => {
                warn!(program, error = %e, "cannot read process state");
                Read::Failed
            }
        };
        Reading {
            program: program.to_owned(),
            info,
            taken,
        }
    }

    /// Stops a program and waits for it; one that does not run is stopped already.
    pub async fn stop_program(&self, name: &str) -> Result<(), RpcError> {
        ok_if(self.sup.stop_process(name).await, STOPPED_ALREADY)
    }

    /// Stops a group's process and removes the group; absent is fine.
    pub async fn remove_group(&self, name: &str) -> Result<(), RpcError> {
        self.stop_program(name).await?;
        ok_if(
            self.sup.remove_process_group(name).await,
            &[codes::BAD_NAME],
        )
    }

    /// Removes a group and adds it again, so that its rewritten section applies.
    pub async fn readd_group(&self, name: &str) -> Result<(), RpcError> {
        self.remove_group(name).await?;
        ok_if(
            self.sup.add_process_group(name).await,
            &[codes::ALREADY_ADDED],
        )
    }

    /// Makes supervisord take one program section: through showroom's
    /// plugin, so the cost does not grow with the number of demos; a
    /// supervisord started without it rereads every section instead.
    pub async fn add_section(&self, name: &str, section: &str) -> Result<(), RpcError> {
        match self.sup.add_program(name, section).await {
            Err(e) if e.fault_code() == Some(codes::UNKNOWN_METHOD) => {
                if !self.plugin_missing_told.swap(true, Ordering::Relaxed) {
                    warn!(error = %e, "supervisord has no showroom.addProgram (started before showroom's plugin): each deploy rereads every program section until it is restarted");
                }
                self.sup.reload_config().await?;
                self.sup.add_process_group(name).await
            }
            other => other,
        }
    }

    /// A new demo's program into supervisord. A group of that name it has
    /// already is a leftover this deploy did not add: removed first, never
    /// adopted, so the demo runs its own section.
    pub async fn add_program(&self, name: &str, section: &str) -> Result<(), ProtocolError> {
        match self.add_section(name, section).await {
            Err(e) if e.fault_code() == Some(codes::ALREADY_ADDED) => {
                warn!(demo = name, "supervisord has a leftover group of this name, which this deploy did not add: removing it first");
                self.remove_group(name).await.map_err(sup_error)?;
                self.add_section(name, section).await.map_err(sup_error)
            }
            other => other.map_err(sup_error),
        }
    }

    /// A stop's I/O: the process and all it left behind, a section
    /// rewritten meanwhile applied, the vhost taken out (Apache reloaded
    /// with whatever else came meanwhile); with `destroy`, the group too.
    pub async fn stop(
        &self,
        name: &str,
        has_process: bool,
        stale: bool,
        destroy: bool,
    ) -> (Result<(), ProtocolError>, StopDone) {
        let mut done = StopDone::default();
        let result = self
            .stop_steps(name, has_process, stale, destroy, &mut done)
            .await;
        done.readings.push(self.read(name).await);
        (result, done)
    }

    async fn stop_steps(
        &self,
        name: &str,
        has_process: bool,
        stale: bool,
        destroy: bool,
        done: &mut StopDone,
    ) -> Result<(), ProtocolError> {
        // One call says both that supervisord answers and where the
        // demo's sandbox is: a busy supervisord is asked as little as can be.
        let info = match self.sup.process_info(name).await {
            Err(e) if e.is_unreachable() => return Err(sup_error(e)),
            info => info.ok(),
        };
        if has_process {
            let init = match info {
                Some(i) if i.pid > 0 => sandbox::sandbox_init(&self.sandbox, i.pid),
                _ => None,
            };
            // stopasgroup/killasgroup in its section take its children along;
            // in the sandbox, its PID namespace does, just after bwrap dies.
            self.stop_program(name).await.map_err(sup_error)?;
            if !sandbox::wait_gone(init, Duration::from_secs(5)).await {
                warn!(
                    demo = name,
                    "processes of its sandbox still run 5 s after its stop"
                );
            }
            if stale && !destroy {
                self.readd_group(name).await.map_err(sup_error)?;
                done.stale_applied = true;
                info!(demo = name, "its rewritten program section now applies");
            }
        }
        // The ports Apache serves are the enabled copy's, gone once removed.
        let ports = apache::listen_ports(&self.layout.apache_copy(name));
        let applied = self
            .apache
            .apply(vec![Change::Disable(name.to_owned())])
            .await;
        let applied = applied?;
        let removed = applied.removed.iter().any(|n| n == name);
        done.applied = Some(applied);
        if removed && !apache::wait_ports(&ports, false, Duration::from_secs(5)).await {
            warn!(
                demo = name,
                ?ports,
                "Apache still answers on the stopped demo's port(s) after 5 s"
            );
        }
        if destroy {
            self.remove_group(name).await.map_err(sup_error)?;
            done.group_removed = true;
        }
        Ok(())
    }

    /// A start's I/O: the vhost tested, the stale section applied, the
    /// process started and waited for (`startsecs`), then the vhost made
    /// live and its ports waited for; a failure undoes what came before.
    pub async fn start(
        &self,
        name: &str,
        plan: StartPlan,
    ) -> (Result<(), ProtocolError>, StartDone) {
        let mut done = StartDone::default();
        let result = self.start_steps(name, plan, &mut done).await;
        done.readings.push(self.read(name).await);
        (result, done)
    }

    async fn start_steps(
        &self,
        name: &str,
        plan: StartPlan,
        done: &mut StartDone,
    ) -> Result<(), ProtocolError> {
        self.require_supervisor().await?;
        // A copy with no running Apache behind it (Apache died, or a crash
        // came between the copy and the reload) is enabled again like a new one.
        let apache_up = plan.vhost && self.apache.settle().await == Some(DemoStatus::Running);
        let enable = plan.vhost && !(plan.already_enabled && apache_up);
        let ports = match &plan.text {
            Some(text) => apache::listen_ports_in(text),
            None if plan.vhost => apache::listen_ports(&self.layout.apache_copy(name)),
            None => vec![],
        };
        if enable {
            // Already enabled, it is in the live tree: the apply tests it there.
            if let Some(text) = &plan.text {
                done.pruned = self.apache.test_new(name, text).await?;
            }
            // Apache's config test passes a port someone else holds, and a
            // graceful reload onto it would take every vhost down with it.
            if let Some((p, e)) = apache::taken_port(&ports) {
                // Enabled, it would keep Apache from starting for the others.
                if plan.already_enabled {
                    let out = self
                        .apache
                        .apply(vec![Change::Disable(name.to_owned())])
                        .await;
                    super::warn_failed(
                        out.map(|a| done.applied = Some(a)).map_err(|e| e.message),
                        name,
                        "disabling the vhost whose port is taken",
                    );
                }
                return Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    format!("port {p} of this demo's virtual host is taken by another program"),
                )
                .with_detail(e.to_string()));
            }
        }
        if plan.process {
            if plan.stale {
                self.readd_group(name).await.map_err(sup_error)?;
                done.stale_applied = true;
                info!(demo = name, "its rewritten program section now applies");
            }
            done.answered = start_process(&self.sup, name, &plan.told, plan.probe).await?;
        }
        if !enable {
            return Ok(());
        }
        let changes = match plan.text {
            Some(text) => vec![Change::Enable {
                name: name.to_owned(),
                text,
            }],
            None => vec![],
        };
        let applied = self.apache.apply(changes).await.and_then(|a| {
            let refused = a.disabled.iter().find(|(n, _)| n == name).cloned();
            done.applied = Some(a);
            match refused {
                Some((_, why)) => Err(ProtocolError::new(
                    ErrorKind::ApacheConfig,
                    "Apache refused the virtual host",
                )
                .with_detail(why)),
                None => Ok(()),
            }
        });
        let serving =
            applied.is_ok() && apache::wait_ports(&ports, true, Duration::from_secs(5)).await;
        if serving {
            return Ok(());
        }
        // Undo: the demo goes back to stopped, Apache back to the others.
        let out = self
            .apache
            .apply(vec![Change::Disable(name.to_owned())])
            .await;
        super::warn_failed(
            out.map(|a| done.applied = Some(a)).map_err(|e| e.message),
            name,
            "disabling the vhost of a failed start",
        );
        if plan.process {
            let stopped = self.stop_program(name).await;
            super::warn_failed(stopped, name, "stopping the process of a failed start");
        }
        Err(applied.err().unwrap_or_else(|| {
            ProtocolError::new(
                ErrorKind::ApacheConfig,
                format!("Apache did not start serving port(s) {ports:?} of this demo"),
            )
        }))
    }
}
