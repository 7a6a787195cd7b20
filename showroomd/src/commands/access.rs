//! `access NAME --password USER | --remove-user USER | --allow RANGES | --open`: checked and hashed here, then one command to the actor.

use protocol::{AccessChange, ErrorKind, ProtocolError, Response};

use super::Ctx;
use crate::actor::ops::access::AccessOp;
use crate::actor::Command;
use crate::visitors::{self, VisitorsError};

fn refused(e: VisitorsError) -> ProtocolError {
    match e {
        VisitorsError::Invalid(m) => ProtocolError::new(ErrorKind::InvalidRequest, m),
        other => ProtocolError::new(ErrorKind::Internal, other.to_string()),
    }
}

pub async fn answer(
    ctx: &Ctx,
    name: String,
    change: AccessChange,
) -> Result<Response, ProtocolError> {
    protocol::names::validate_name(&name)?;
    let op = match change {
        AccessChange::Password { user, password } => {
            visitors::check_user(&user).map_err(refused)?;
            visitors::check_password(&password).map_err(refused)?;
            let hash = visitors::hash(&password).await.map_err(refused)?;
            AccessOp::SetUser { user, hash }
        }
        AccessChange::RemoveUser { user } => {
            visitors::check_user(&user).map_err(refused)?;
            AccessOp::RemoveUser(user)
        }
        AccessChange::Allow { ranges } => {
            for r in &ranges {
                visitors::check_range(r).map_err(refused)?;
            }
            AccessOp::Allow(ranges)
        }
        AccessChange::Open => AccessOp::Open,
    };
    ctx.handle.command(Command::Access(name, op)).await
}
