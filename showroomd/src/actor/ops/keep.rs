//! `keep NAME` / `keep NAME --off`: a demo no cleanup and no expiry touches, noted in its record.

use protocol::{ProtocolError, Response};
use tracing::info;

use crate::actor::Actor;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn keep_demo(
        &mut self,
        name: &str,
        keep: bool,
    ) -> Result<Response, ProtocolError> {
        self.state.installed(name)?;
        self.update_record(name, |r| r.keep = keep)?;
        if keep {
            info!(demo = name, "kept: no cleanup and no expiry touches it");
        } else {
            info!(
                demo = name,
                "no longer kept: cleanups and its expiry apply again"
            );
        }
        self.publish();
        Ok(Response::Done)
    }
}
