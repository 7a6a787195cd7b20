//! `destroy NAME`: a stop that removes its supervisord group too (`ops/stop.rs`), then its folder into the trash, removed beside the actor.

use std::time::Instant;

use protocol::{EventKind, ProtocolError, Response};
use tracing::info;

use crate::actor::{internal, Actor};
use crate::store;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    /// Takes a demo's folder away at once (into the trash) and removes it
    /// beside the actor: a big folder's removal holds no other request.
    /// A removal cut short is finished by the next start.
    pub(super) fn discard_demo_dir(&self, name: &str) -> Result<(), store::StoreError> {
        let Some(trash) = store::trash_demo_dir(&self.layout, name)? else {
            return Ok(());
        };
        let demo = name.to_owned();
        let sandbox = self.sandbox.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            match store::remove_trashed(&sandbox, trash).await {
                Ok(()) => {
                    let ms = t0.elapsed().as_millis() as u64;
                    tracing::debug!(demo, ms, "its folder is removed")
                }
                Err(e) => {
                    tracing::warn!(demo, error = %e, "removing its folder from the trash failed: the next start empties the trash")
                }
            }
        });
        Ok(())
    }

    /// A destroy's end, once its stop's work removed the process, the vhost
    /// and the group: the folder into the trash, the record, the rest.
    pub(in crate::actor) fn destroy_finish(
        &mut self,
        name: &str,
    ) -> Result<Response, ProtocolError> {
        self.discard_demo_dir(name)
            .map_err(|e| internal("removing the demo's folder", e))?;
        self.state.remove_demo(name, Instant::now());
        self.forget_limits(name);
        // The record goes after the folder: a crash between leaves a record
        // without a folder, which the next start drops, never a folder
        // without a record.
        store::remove_record(&self.layout, name)
            .map_err(|e| internal("removing the demo's record", e))?;
        // Its visitors' passwords and its requests go with it: a new demo
        // of the same name starts open and with an empty access log.
        if let Err(e) = crate::visitors::remove(&self.layout, name) {
            tracing::warn!(demo = name, error = %e, "removing the password file of a destroyed demo");
        }
        crate::access_log::remove(&self.layout, name);
        if let Err(e) = self.write_programs(Some(name)) {
            tracing::warn!(demo = name, error = %e.message, "removing the program section of a destroyed demo");
        }
        self.publish();
        info!(demo = name, "destroyed");
        self.emit(Some(name), EventKind::Destroyed, "");
        Ok(Response::Done)
    }
}
