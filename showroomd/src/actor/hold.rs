//! Requests that wait for a demo's action under way beside the actor (a start waiting for its process), served in the order they came once it ended.

use super::state::Op;
use super::{Actor, Command, Msg};
use crate::supervisor::Supervisord;

/// Which demos a message acts on, for holding it while one is in motion.
pub(super) enum Acts<'a> {
    /// Nothing a demo in motion could be changed by.
    Free,
    On(&'a str),
    /// Every demo, or showroom's shared parts.
    OnAll,
}

impl Msg {
    /// A work's end or a reading, never held: the ends are what let the held go.
    fn is_end(&self) -> bool {
        matches!(
            self,
            Msg::DeployDone { .. }
                | Msg::Observed(_)
                | Msg::CloneCopied { .. }
                | Msg::CleanupEnd(..)
                | Msg::Worked(_)
                | Msg::FrontDoor(_)
        )
    }

    pub(super) fn acts(&self) -> Acts<'_> {
        match self {
            Msg::Command(cmd, _) => match cmd {
                Command::Start(n) | Command::Stop(n) | Command::Destroy(n) => Acts::On(n),
                Command::Expire(n, _)
                | Command::Keep(n, _)
                | Command::Restart(n)
                | Command::Access(n, _) => Acts::On(n),
                Command::SleepAfter(n, _) | Command::Wake(n) | Command::Woken(n) => Acts::On(n),
                Command::SupervisorStart | Command::SupervisorStop | Command::Cleanup(_) => {
                    Acts::OnAll
                }
            },
            Msg::Clone(req, _, _) => Acts::On(&req.src),
            Msg::CloneCopyBegins { src, .. } => Acts::On(src),
            Msg::CleanupOne(n, _, _) => Acts::On(n),
            Msg::Export(n, _) => Acts::On(n),
            Msg::Redeploy(req, _, _) => Acts::On(&req.name),
            Msg::RestoreOne(n, _) => Acts::On(n),
            Msg::FinishChecks(..) => Acts::OnAll,
            // A new name, a demo still deploying, a reading, an end.
            Msg::Deploy(..)
            | Msg::Import(..)
            | Msg::DeployDone { .. }
            | Msg::Observed(_)
            | Msg::CloneCopied { .. }
            | Msg::CleanupEnd(..)
            | Msg::Worked(_)
            | Msg::FrontDoor(_) => Acts::Free,
        }
    }
}

impl<S: Supervisord> Actor<S> {
    /// Holds a message that acts on a demo in motion (or on every demo while
    /// one is): it is served once that demo's action ended, so that each
    /// demo's requests keep their order. A message on every demo held is a
    /// barrier: every request after it waits behind it, in order, so that
    /// it is neither overtaken nor starved by a stream of starts. Returns
    /// the message to serve now.
    pub(super) fn hold(&mut self, msg: Msg) -> Option<Msg> {
        if !self.state.any_holding() {
            return Some(msg);
        }
        if !self.held_for_all.is_empty() && !msg.is_end() {
            self.held_for_all.push_back(msg);
            return None;
        }
        let on = match msg.acts() {
            Acts::Free => None,
            Acts::On(n) => self.is_moving(n).then(|| n.to_owned()),
            Acts::OnAll => {
                self.held_for_all.push_back(msg);
                return None;
            }
        };
        match on {
            Some(name) => {
                self.moving.entry(name).or_default().push_back(msg);
                None
            }
            None => Some(msg),
        }
    }

    /// A demo's operation is under way beside the actor from now: the
    /// table says which, and its requests wait for it.
    pub(super) fn set_moving(&mut self, name: &str, op: Op) {
        self.state.begin(name, op);
    }

    /// A demo's operation beside the actor ended: what waited for it is served next, in order.
    pub(super) fn release(&mut self, name: &str) {
        self.state.end(name);
        if let Some(held) = self.moving.remove(name) {
            self.released.extend(held);
        }
        if !self.state.any_holding() {
            self.released.extend(self.held_for_all.drain(..));
        }
    }

    /// Whether a demo has an operation under way that holds its requests.
    pub(super) fn is_moving(&self, name: &str) -> bool {
        self.state.op(name).is_some_and(Op::holds)
    }
}
