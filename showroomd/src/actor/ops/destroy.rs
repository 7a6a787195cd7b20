//! `destroy NAME`: stop it, remove its supervisord group, remove its folder.

use std::time::Instant;

use protocol::{EventKind, ProtocolError, Response};
use tracing::info;

use crate::actor::{internal, sup_error, Actor};
use crate::store;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn destroy_demo(
        &mut self,
        name: &str,
    ) -> Result<Response, ProtocolError> {
        self.state.installed(name)?;
        self.require_supervisor().await?;
        self.stop_parts(name).await?;
        self.remove_group(name).await.map_err(sup_error)?;
        store::remove_demo_dir(&self.layout, name)
            .await
            .map_err(|e| internal("removing the demo's folder", e))?;
        self.state.remove_demo(name, Instant::now());
        self.forget_limits(name);
        // The record goes after the folder: a crash between leaves a record
        // without a folder, which the next start drops, never a folder
        // without a record.
        store::remove_record(&self.layout, name)
            .map_err(|e| internal("removing the demo's record", e))?;
        if let Err(e) = self.write_programs(Some(name)) {
            tracing::warn!(demo = name, error = %e.message, "removing the program section of a destroyed demo");
        }
        self.publish();
        info!(demo = name, "destroyed");
        self.emit(Some(name), EventKind::Destroyed, "");
        Ok(Response::Done)
    }
}
