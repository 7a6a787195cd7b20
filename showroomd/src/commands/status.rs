//! `status NAME`: the status word, from the snapshot's record and one fresh look at supervisord.

use protocol::{DemoStatus, ProtocolError, Response};

use super::Ctx;
use crate::status::from_supervisor;
use crate::store::Phase;
use crate::supervisor::config::APACHE_PROGRAM;
use crate::supervisor::rpc::codes;
use crate::supervisor::{ProcessInfo, RpcError};

pub async fn answer(ctx: &Ctx, name: &str) -> Result<Response, ProtocolError> {
    protocol::names::validate_name(name)?;
    let snap = ctx.handle.snapshot();
    let Some(demo) = snap.demos.get(name) else {
        return Ok(Response::Status(DemoStatus::Destroyed));
    };
    if demo.record.phase == Phase::Deploying {
        return Ok(Response::Status(DemoStatus::Deploying));
    }
    let mut demo = demo.clone();
    demo.enabled = crate::apache::is_enabled(&ctx.layout, name);
    let mut up = true;
    let mut look = |r: Result<ProcessInfo, RpcError>| match r {
        Ok(i) => Some(from_supervisor(&i.statename)),
        Err(e) if e.fault_code() == Some(codes::BAD_NAME) => None,
        Err(_) => {
            up = false;
            None
        }
    };
    let process = match demo.has_process {
        true => look(ctx.sup.process_info(name).await),
        false => None,
    };
    // Still STARTING for supervisord (its `startsecs`), but its start saw
    // it answer on its port: showroom's table says it runs, and so does this.
    let process = match process {
        Some(DemoStatus::Starting) if demo.status == DemoStatus::Running => {
            Some(DemoStatus::Running)
        }
        other => other,
    };
    let apache = if demo.has_vhost && demo.enabled {
        look(ctx.sup.process_info(APACHE_PROGRAM).await)
    } else {
        None
    };
    let (status, reason) = demo.verdict_given(process, apache, up);
    if reason.is_empty() {
        return Ok(Response::Status(status));
    }
    Ok(Response::StatusReason { status, reason })
}
