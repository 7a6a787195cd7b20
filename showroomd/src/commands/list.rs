//! `list`: the installed demos, from the actor's last snapshot (never waiting behind a deploy).

use protocol::Response;

use super::Ctx;

pub fn answer(ctx: &Ctx) -> Response {
    Response::List(ctx.handle.snapshot().list())
}
