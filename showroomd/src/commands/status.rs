//! `status NAME`: the status word, from the snapshot's record and one fresh look at supervisord.

use protocol::{DemoStatus, ProtocolError, Response};

use super::Ctx;
use crate::status::{demo_status, from_supervisor, Parts};
use crate::store::Phase;
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::codes;

pub async fn answer(ctx: &Ctx, name: &str) -> Result<Response, ProtocolError> {
    protocol::names::validate_name(name)?;
    let snap = ctx.handle.snapshot();
    let Some(demo) = snap.demos.get(name) else {
        return Ok(Response::Status(DemoStatus::Destroyed));
    };
    if demo.record.phase == Phase::Deploying {
        return Ok(Response::Status(DemoStatus::Deploying));
    }
    let linked = crate::apache::is_linked(&ctx.layout, name);
    let mut up = true;
    let mut look = |r: Result<crate::supervisor::ProcessInfo, crate::supervisor::RpcError>| match r
    {
        Ok(i) => Some(from_supervisor(&i.statename)),
        Err(e) if e.fault_code() == Some(codes::BAD_NAME) => None,
        Err(_) => {
            up = false;
            None
        }
    };
    let process = if demo.has_process {
        Some(look(ctx.sup.process_info(name).await))
    } else {
        None
    };
    let apache = if demo.has_vhost && linked {
        look(ctx.sup.process_info(APACHE_PROGRAM).await)
    } else {
        None
    };
    Ok(Response::Status(demo_status(Parts {
        deploying: false,
        has_port: demo.record.port.is_some(),
        process,
        vhost_linked: demo.has_vhost.then_some(linked),
        apache,
        supervisor_up: up,
    })))
}
