//! `access NAME …`: who may visit a demo through the front door; the password file and the record changed here, the front door's config at the sync that follows.

use protocol::{ErrorKind, ProtocolError, Response};
use tracing::info;

use crate::actor::{internal, Actor};
use crate::supervisor::Supervisord;
use crate::visitors;

/// A change, its password already hashed (on the connection side: the
/// actor does not wait for openssl).
#[derive(Debug)]
pub enum AccessOp {
    SetUser { user: String, hash: String },
    RemoveUser(String),
    Allow(Vec<String>),
    Open,
}

impl<S: Supervisord> Actor<S> {
    pub(in crate::actor) async fn access_change(
        &mut self,
        name: &str,
        op: AccessOp,
    ) -> Result<Response, ProtocolError> {
        let view = self.state.installed(name)?;
        let mut access = view.record.access.clone();
        let file = |e: visitors::VisitorsError| internal("changing the demo's password file", e);
        match op {
            AccessOp::SetUser { user, hash } => {
                access.users =
                    visitors::set_user(&self.layout, name, &user, Some(&hash)).map_err(file)?;
            }
            AccessOp::RemoveUser(user) => {
                if !access.users.contains(&user) {
                    return Err(ProtocolError::new(
                        ErrorKind::InvalidRequest,
                        format!(
                            "{name} has no user {user:?}: its users are {:?}",
                            access.users
                        ),
                    ));
                }
                access.users = visitors::set_user(&self.layout, name, &user, None).map_err(file)?;
            }
            AccessOp::Allow(ranges) => access.allow = ranges,
            AccessOp::Open => {
                visitors::remove(&self.layout, name).map_err(file)?;
                access = Default::default();
            }
        }
        info!(demo = name, access = access.mode(), users = access.users.len(), ranges = ?access.allow, "visitor access changed");
        self.update_record(name, |r| r.access = access)?;
        self.publish();
        Ok(Response::Done)
    }
}
