//! The connection side, one file per command: each turns a request into a read of the snapshot or a `Handle` call and writes the frames. What the actor does is in `actor/ops/`.

pub mod access;
pub mod available;
pub mod deploy;
pub mod keep;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod redeploy;
pub mod restart;
pub mod status;
pub mod supervisor;
pub mod transfer;
pub mod watch;

use std::sync::Arc;

use protocol::codec::{self, CodecError, Connection};
use protocol::{ErrorKind, ProtocolError, Request, Response};
use tokio_util::sync::CancellationToken;

use crate::actor::Handle;
use crate::config::Config;
use crate::layout::Layout;
use crate::supervisor::Supervisor;

pub type Conn = Connection<crate::client_stream::ClientStream>;

/// What every connection shares.
pub struct Ctx {
    pub cfg: Arc<Config>,
    pub layout: Layout,
    pub handle: Handle,
    pub sup: Supervisor,
    /// Cancelled at shutdown: ends the answers that stream forever (`watch`, `logs --follow`).
    pub streams_stop: CancellationToken,
    /// The account an import is unpacked as.
    pub sandbox: Arc<crate::sandbox::Sandbox>,
}

/// True for requests that change something (deploy, start, stop…).
pub fn is_mutating(req: &Request) -> bool {
    use protocol::SupervisorAction;
    match req {
        // A dry run changes nothing: whoever may read may ask what it would do.
        Request::Cleanup(c) => !c.dry_run,
        _ => matches!(
            req,
            Request::Deploy(_)
                | Request::Start { .. }
                | Request::Stop { .. }
                | Request::Destroy { .. }
                | Request::Supervisor(SupervisorAction::Start | SupervisorAction::Stop)
                | Request::Clone(_)
                | Request::Expire { .. }
                | Request::Export { .. }
                | Request::Import(_)
                | Request::Archive(_)
                | Request::Restart { .. }
                | Request::Redeploy(_)
                | Request::Keep { .. }
                | Request::Access { .. }
                | Request::SleepAfter { .. }
        ),
    }
}

pub async fn reply(conn: &mut Conn, r: Result<Response, ProtocolError>) -> Result<(), CodecError> {
    codec::write_frame(conn, &r.unwrap_or_else(Response::Error)).await
}

/// Answers one request, with one frame or several.
pub async fn dispatch(ctx: &Ctx, conn: &mut Conn, req: Request) -> Result<(), CodecError> {
    match req {
        Request::Hello { .. } => {
            let e = ProtocolError::new(ErrorKind::InvalidRequest, "hello was already said");
            reply(conn, Err(e)).await
        }
        Request::Available => reply(conn, available::answer(ctx)).await,
        Request::List => reply(conn, Ok(list::answer(ctx))).await,
        Request::Status { name } => reply(conn, status::answer(ctx, &name).await).await,
        Request::Deploy(req) => deploy::handle(ctx, conn, req).await,
        Request::Start { name } => reply(conn, lifecycle::start(ctx, name).await).await,
        Request::Stop { name } => reply(conn, lifecycle::stop(ctx, name).await).await,
        Request::Destroy { name } => reply(conn, lifecycle::destroy(ctx, name).await).await,
        Request::Supervisor(action) => reply(conn, supervisor::answer(ctx, action).await).await,
        Request::Logs {
            name,
            follow,
            lines,
            deploy,
        } => logs::handle(ctx, conn, &name, follow, lines, deploy).await,
        Request::Watch => watch::handle(ctx, conn).await,
        Request::Cleanup(req) => reply(conn, lifecycle::cleanup(ctx, req).await).await,
        Request::Clone(req) => deploy::handle_clone(ctx, conn, req).await,
        Request::Expire { name, ttl_secs } => {
            reply(conn, lifecycle::expire(ctx, name, ttl_secs).await).await
        }
        Request::Export { name } => transfer::export(ctx, conn, name).await,
        Request::Import(req) => transfer::import(ctx, conn, req).await,
        Request::Archive(_) => {
            let e = ProtocolError::new(
                ErrorKind::InvalidRequest,
                "an archive piece comes only after an import request",
            );
            reply(conn, Err(e)).await
        }
        Request::Restart { name } => reply(conn, restart::restart(ctx, name).await).await,
        Request::Redeploy(req) => redeploy::handle(ctx, conn, req).await,
        Request::Keep { name, keep } => reply(conn, keep::keep(ctx, name, keep).await).await,
        Request::Access { name, change } => {
            reply(conn, access::answer(ctx, name, change).await).await
        }
        Request::AccessLog {
            name,
            follow,
            lines,
        } => logs::handle_access(ctx, conn, &name, follow, lines).await,
        Request::SleepAfter { name, idle_secs } => {
            let cmd = crate::actor::Command::SleepAfter(name, idle_secs);
            reply(conn, ctx.handle.command(cmd).await).await
        }
    }
}
