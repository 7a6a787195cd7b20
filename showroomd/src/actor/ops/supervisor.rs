//! `supervisor start|stop`: the supervisord that showroomd drives, started (its demos' vhosts disabled with them, then the demos wanted running brought back) or stopped.

use protocol::{ErrorKind, ProtocolError, Response};
use tracing::error;

use crate::actor::{sup_error, Actor};
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn supervisor_start(&mut self) -> Result<Response, ProtocolError> {
        // A supervisord killed outright may have left its programs behind.
        self.end_strays().await;
        let started = self
            .sup
            .start_daemon(&self.layout, &self.cfg)
            .await
            .map_err(|e| ProtocolError::new(ErrorKind::Supervisor, e.to_string()))?;
        if started {
            self.disable_all_vhosts().await;
            if let Err(e) = self.sync_groups().await {
                error!(error = %e, "cannot bring supervisord's groups in line with the demos");
                return Err(sup_error(e));
            }
            self.restore_wanted();
        }
        self.refresh_all().await;
        self.publish();
        Ok(Response::Done)
    }

    pub(in crate::actor) async fn supervisor_stop(&mut self) -> Result<Response, ProtocolError> {
        self.sup
            .stop_daemon()
            .await
            .map_err(|e| ProtocolError::new(ErrorKind::Supervisor, e.to_string()))?;
        self.refresh_all().await;
        self.publish();
        Ok(Response::Done)
    }
}
