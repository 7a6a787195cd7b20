//! `destroy NAME`: stop it, remove its supervisord group, remove its folder.

use protocol::{EventKind, ProtocolError, Response};
use tracing::info;

use crate::actor::{internal, sup_error, Actor};
use crate::store;

impl Actor {
    pub(crate) async fn destroy_demo(&mut self, name: &str) -> Result<Response, ProtocolError> {
        self.installed(name)?;
        self.require_supervisor().await?;
        self.stop_parts(name).await?;
        self.remove_group(name).await.map_err(sup_error)?;
        store::remove_demo_dir(&self.layout, name)
            .await
            .map_err(|e| internal("removing the demo's folder", e))?;
        self.demos.remove(name);
        self.forget_proc(name);
        self.publish();
        info!(demo = name, "destroyed");
        self.emit(Some(name), EventKind::Destroyed, "");
        Ok(Response::Done)
    }
}
