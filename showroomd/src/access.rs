//! Who may change things: root, the daemon's own user, and members of the operator group (by the peer's SO_PEERCRED).

use nix::unistd::{Gid, Group, Uid, User};
use protocol::{ErrorKind, ProtocolError};
use tokio::net::unix::UCred;
use tracing::warn;

pub struct Access {
    daemon_uid: Uid,
    operators: Option<Gid>,
}

impl Access {
    pub fn new(operator_group: Option<&str>) -> anyhow::Result<Access> {
        let operators = match operator_group {
            None => None,
            Some(name) => Some(
                Group::from_name(name)?
                    .ok_or_else(|| anyhow::anyhow!("operator_group {name:?} does not exist"))?
                    .gid,
            ),
        };
        Ok(Access {
            daemon_uid: Uid::effective(),
            operators,
        })
    }

    fn in_operators(&self, cred: &UCred) -> bool {
        let Some(gid) = self.operators else {
            return false;
        };
        if cred.gid() == gid.as_raw() {
            return true;
        }
        // Supplementary groups are not in SO_PEERCRED: look the user up.
        let uid = Uid::from_raw(cred.uid());
        let Ok(Some(user)) = User::from_uid(uid) else {
            return false;
        };
        let Ok(cname) = std::ffi::CString::new(user.name.clone()) else {
            return false;
        };
        nix::unistd::getgrouplist(&cname, Gid::from_raw(cred.gid()))
            .map(|groups| groups.contains(&gid))
            .unwrap_or(false)
    }

    /// Allows a mutating request, or says why not (and logs the uid).
    pub fn check(&self, cred: Option<&UCred>) -> Result<(), ProtocolError> {
        let Some(cred) = cred else {
            return Err(ProtocolError::new(
                ErrorKind::PermissionDenied,
                "permission denied: peer credentials unavailable",
            ));
        };
        let uid = cred.uid();
        if uid == 0 || uid == self.daemon_uid.as_raw() || self.in_operators(cred) {
            return Ok(());
        }
        warn!(
            uid,
            "refused a mutating request: not root, not showroomd's user, not an operator"
        );
        Err(ProtocolError::new(
            ErrorKind::PermissionDenied,
            format!("permission denied: uid {uid} may read but not change demos"),
        ))
    }
}
