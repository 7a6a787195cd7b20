//! `stop NAME`: stop the process and all it left behind, disable the vhost, reload or stop Apache.

use std::time::Duration;

use protocol::{EventKind, ProtocolError, Response};
use tracing::{info, warn};

use crate::actor::{sup_error, Actor};
use crate::apache;
use crate::sandbox;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn stop_demo(
        &mut self,
        name: &str,
    ) -> Result<Response, ProtocolError> {
        self.state.installed(name)?;
        self.require_supervisor().await?;
        let result = self.stop_parts(name).await;
        self.refresh(name).await;
        self.publish();
        if result.is_ok() {
            self.set_wanted(name, protocol::Wanted::Stopped);
            self.mark_logs(name, "stopped");
            info!(demo = name, "stopped");
            self.emit(Some(name), EventKind::Stopped, "");
        }
        result.map(|()| Response::Done)
    }

    /// Shared by stop and destroy.
    pub(super) async fn stop_parts(&mut self, name: &str) -> Result<(), ProtocolError> {
        let demo = self.state.installed(name)?;
        if demo.has_process {
            let init = match self.sup.process_info(name).await {
                Ok(i) if i.pid > 0 => sandbox::sandbox_init(&self.sandbox, i.pid),
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
            self.apply_stale_section(name).await?;
        }
        // The ports Apache serves are the enabled copy's, gone once unlinked.
        let ports = apache::listen_ports(&self.layout.apache_copy(name));
        if self.disable_vhost(name)? {
            self.apache_apply().await?;
            if !apache::wait_ports(&ports, false, Duration::from_secs(5)).await {
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
