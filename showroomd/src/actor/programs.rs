//! The one place demos' supervisord programs are written and applied: sections generated, groups added, re-added and removed, supervisord's groups brought in line with the folders.

use protocol::ProtocolError;
use tracing::{info, warn};

use super::{internal, Actor};
use crate::store;
use crate::supervisor::config::{is_own_program, render_program, render_programs};
use crate::supervisor::rpc::codes;
use crate::supervisor::{ok_if, RpcError, Supervisord};

impl<S: Supervisord> Actor<S> {
    /// Writes every installed demo's `[program:NAME]` into the one file
    /// supervisord includes (out of the demos' reach), and a copy into its
    /// demo's folder for people. `only`: the one demo whose section changed
    /// (a deploy, a rollback, a destroy) is rendered again, the others come
    /// from `Actor::sections`, so the cost does not grow with the number of
    /// demos but for one file write; None renders every demo (at start).
    /// Only the one file's failure fails; supervisord's reread says which
    /// sections changed.
    pub(super) fn write_programs(&mut self, only: Option<&str>) -> Result<(), ProtocolError> {
        let names: Vec<String> = match only {
            Some(name) => vec![name.to_owned()],
            None => {
                self.sections.clear();
                self.state.demos.keys().cloned().collect()
            }
        };
        for name in names {
            let ports = self
                .state
                .demos
                .get(&name)
                .filter(|d| d.has_process && d.record.port.is_some())
                .map(|d| d.record.ports());
            let Some(ports) = ports else {
                self.sections.remove(&name);
                continue;
            };
            let text = self.render_section(&name, &ports)?;
            let copy = crate::demofs::DemoDir::open(&self.layout.demo_dir(&name))
                .and_then(|d| d.write_if_changed(crate::layout::PROGRAM_SECTION_COPY, &text));
            if let Err(e) = copy {
                warn!(demo = %name, error = %e, "cannot write the copy of its program section");
            }
            self.sections.insert(name, text);
        }
        store::write_if_changed(
            &self.layout.programs_conf(),
            &render_programs(&self.sections),
        )
        .map_err(|e| internal("writing supervisord's program sections", e))?;
        Ok(())
    }

    /// A demo's `[program:NAME]`: in its jail, with its limits and its forwarded ports.
    fn render_section(&self, name: &str, ports: &[u16]) -> Result<String, ProtocolError> {
        let has_vhost = self.state.demos.get(name).is_some_and(|d| d.has_vhost);
        let run = crate::sandbox::DemoRun {
            name,
            limits: self.limits_of(name),
            forward: crate::sandbox::forwarded_ports(ports, has_vhost),
        };
        render_program(&self.layout, &self.cfg, &self.sandbox, name, ports, &run)
            .map_err(|e| internal("writing the supervisord program section", e))
    }

    /// Removes a demo's cgroups and its out-of-memory note, beside the
    /// actor (the kernel lets a cgroup go only once its last process has).
    pub(super) fn forget_limits(&self, name: &str) {
        let Some(jail) = self.sandbox.jail.clone() else {
            return;
        };
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_file(jail.oom_note(&name));
            jail.enforcement
                .remove(&name, std::time::Duration::from_secs(10));
        });
    }

    /// A demo's limits, the config's defaults filled in where its record has none.
    pub(super) fn limits_of(&self, name: &str) -> protocol::DemoLimits {
        let own = self
            .state
            .demos
            .get(name)
            .map(|d| d.record.limits)
            .unwrap_or_default();
        crate::sandbox::limits::effective(&own, &self.cfg.demo_limits())
    }

    /// Makes supervisord take a new demo's program (`Work::add_program`),
    /// from the very text `write_programs` put in programs.conf: a later
    /// reread must find nothing changed.
    pub(super) fn section_of(&self, name: &str, port: u16) -> Result<String, ProtocolError> {
        match self.sections.get(name) {
            Some(text) => Ok(text.clone()),
            None => {
                let ports = self
                    .state
                    .demos
                    .get(name)
                    .map_or_else(|| vec![port], |d| d.record.ports());
                self.render_section(name, &ports)
            }
        }
    }

    /// `Work::add_program`, awaited in the actor (a redeploy's swap).
    pub(super) async fn add_program(&mut self, name: &str, port: u16) -> Result<(), ProtocolError> {
        let section = self.section_of(name, port)?;
        self.work().add_program(name, &section).await
    }

    /// Stops a program and waits for it; one that does not run is stopped already.
    pub(super) async fn stop_program(&self, name: &str) -> Result<(), RpcError> {
        self.work().stop_program(name).await
    }

    /// Stops a group's process and removes the group; absent is fine.
    pub(super) async fn remove_group(&self, name: &str) -> Result<(), RpcError> {
        self.work().remove_group(name).await
    }

    /// Removes a group and adds it again, so that its rewritten section applies.
    async fn readd_group(&self, name: &str) -> Result<(), RpcError> {
        self.work().readd_group(name).await
    }

    /// Makes supervisord's groups match the demo folders: rereads its config,
    /// adds every demo program it lacks and removes the ones without a folder.
    pub(super) async fn sync_groups(&mut self) -> Result<(), RpcError> {
        let [added, changed, removed] = self.sup.reload_config().await?;
        // A rewritten section applies only once its group is added again,
        // which would stop a running process: that waits for its next stop.
        for g in changed {
            if is_own_program(&g) || !self.state.demos.contains_key(&g) {
                continue;
            }
            let running = self
                .sup
                .process_info(&g)
                .await
                .is_ok_and(|i| !matches!(i.statename.as_str(), "STOPPED" | "EXITED" | "FATAL"));
            if running {
                info!(group = %g, "its program section changed; it applies at the demo's next stop");
                self.state.mark_stale(&g);
            } else {
                info!(group = %g, "its program section changed; applying it");
                self.readd_group(&g).await?;
            }
        }
        for g in removed {
            if self.state.is_leftover_group(&g) {
                info!(group = %g, "removing a supervisord group whose demo is gone");
                self.remove_group(&g).await?;
            }
        }
        for g in added {
            ok_if(
                self.sup.add_process_group(&g).await,
                &[codes::ALREADY_ADDED],
            )?;
        }
        let known: Vec<String> = self
            .sup
            .all_process_info()
            .await?
            .into_iter()
            .map(|i| i.group)
            .collect();
        for g in &known {
            if self.state.is_leftover_group(g) {
                info!(group = %g, "removing a supervisord group whose demo is gone");
                self.remove_group(g).await?;
            }
        }
        let wanted: Vec<String> = self
            .state
            .demos
            .iter()
            // Without a port a demo has no section to add (a demo kept without its record).
            .filter(|(n, d)| d.has_process && d.record.port.is_some() && !known.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        for g in wanted {
            ok_if(
                self.sup.add_process_group(&g).await,
                &[codes::ALREADY_ADDED],
            )?;
        }
        Ok(())
    }
}
