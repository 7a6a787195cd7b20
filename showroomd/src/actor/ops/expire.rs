//! `expire NAME DURATION|never`: when the demo's time is up, kept in its record so that it holds across restarts.

use protocol::{ProtocolError, Response};
use tracing::info;

use crate::actor::Actor;
use crate::supervisor::Supervisord;

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn expire_in(
        &mut self,
        name: &str,
        ttl_secs: Option<u64>,
    ) -> Result<Response, ProtocolError> {
        self.state.installed(name)?;
        if let Some(t) = ttl_secs {
            protocol::limits::check_ttl(t)?;
        }
        let at = ttl_secs.map(|t| (self.clock)().saturating_add(t));
        self.update_record(name, |r| r.expires_at = at)?;
        self.expiry_retry.remove(name);
        match at {
            Some(at) => info!(demo = name, expires_at = at, "expiry set"),
            None => info!(demo = name, "expiry removed: it never expires"),
        }
        self.publish();
        Ok(Response::Done)
    }
}
