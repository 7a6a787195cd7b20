//! `stop NAME`: stop the process and all it left behind, disable the vhost, reload or stop Apache.

use std::time::Duration;

use protocol::{EventKind, ProtocolError, Response};
use tracing::{info, warn};

use crate::actor::{sup_error, Actor};
use crate::apache;
use crate::supervisor::rpc::codes;
use crate::vhosts::{apache_error, wait_ports};

impl Actor {
    /// Applies a program section rewritten while the demo ran, now that it
    /// does not: its group is added again. Kept pending if that fails.
    pub(crate) async fn apply_stale_section(&mut self, name: &str) -> Result<(), ProtocolError> {
        if !self.stale_sections.contains(name) {
            return Ok(());
        }
        self.readd_group(name).await.map_err(sup_error)?;
        self.stale_sections.remove(name);
        info!(demo = name, "its rewritten program section now applies");
        Ok(())
    }

    pub(crate) async fn stop_demo(&mut self, name: &str) -> Result<Response, ProtocolError> {
        self.installed(name)?;
        self.require_supervisor().await?;
        let result = self.stop_parts(name).await;
        self.refresh(name).await;
        self.publish();
        if result.is_ok() {
            info!(demo = name, "stopped");
            self.emit(Some(name), EventKind::Stopped, "");
        }
        result.map(|()| Response::Done)
    }

    /// Shared by stop and destroy.
    pub(crate) async fn stop_parts(&mut self, name: &str) -> Result<(), ProtocolError> {
        let demo = self.demos[name].clone();
        if demo.has_process {
            // stopasgroup/killasgroup in its section take its children along.
            match self.sup.stop_process(name, true).await {
                Ok(()) => {}
                Err(e) if matches!(e.fault_code(), Some(codes::NOT_RUNNING | codes::BAD_NAME)) => {}
                Err(e) => return Err(sup_error(e)),
            }
            self.apply_stale_section(name).await?;
        }
        if apache::unlink(&self.layout, name).map_err(apache_error)? {
            if let Some(d) = self.demos.get_mut(name) {
                d.linked = false;
            }
            self.apache_apply().await?;
            let ports = apache::listen_ports(&self.layout.vhost(name));
            if !wait_ports(&ports, false, Duration::from_secs(5)).await {
                warn!(
                    demo = name,
                    ?ports,
                    "Apache still answers on the stopped demo's port(s) after 5 s"
                );
            }
        }
        Ok(())
    }
}
