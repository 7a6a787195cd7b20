//! Whether showroomctl may send a request to a socket: the folder and the socket must be its user's or root's, and the folder writable by no one else, or another local user could have put their own listener there (OpenSSH and Docker check their sockets' folders the same way).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Why a socket is not to be trusted, for a person: the path, what is
/// wrong, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing the socket {socket}: {problem}; nothing was sent. {fix}")]
pub struct Untrusted {
    pub socket: String,
    pub problem: String,
    pub fix: String,
}

/// Checks `socket` and its folder for the user `me` (a real uid): each must
/// belong to `me` or root, the folder be writable by neither group nor
/// others, and the socket be a socket. A socket or folder that is not there
/// passes: connecting to it then fails as "no daemon".
pub fn check_socket(socket: &Path, me: u32) -> Result<(), Untrusted> {
    let untrusted = |problem: String, fix: &str| Untrusted {
        socket: socket.display().to_string(),
        problem,
        fix: fix.to_owned(),
    };
    let trusted_owner = |uid: u32| uid == me || uid == 0;
    let fix_dir = "Remove that folder (or have its owner or root remove it) and start showroomd again, or give a socket in a folder of your own with --socket or SHOWROOM_SOCKET";
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(link) = dir.symlink_metadata() {
            if link.file_type().is_symlink() && !trusted_owner(link.uid()) {
                return Err(untrusted(
                    format!(
                        "its folder {} is a symbolic link of uid {}, not yours (uid {me}) or root's",
                        dir.display(),
                        link.uid()
                    ),
                    fix_dir,
                ));
            }
        }
        if let Ok(meta) = dir.metadata() {
            if !trusted_owner(meta.uid()) {
                return Err(untrusted(
                    format!(
                        "its folder {} belongs to uid {}, not to you (uid {me}) or root: that user may be listening there",
                        dir.display(),
                        meta.uid()
                    ),
                    fix_dir,
                ));
            }
            let mode = meta.mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(untrusted(
                    format!(
                        "its folder {} is writable by {} (mode {mode:04o}): anyone there can replace the socket",
                        dir.display(),
                        if mode & 0o002 != 0 { "everyone" } else { "its group" }
                    ),
                    "Make it writable by its owner alone (chmod go-w), or give a socket in a folder of your own with --socket or SHOWROOM_SOCKET",
                ));
            }
        }
    }
    if let Ok(meta) = socket.symlink_metadata() {
        if !meta.file_type().is_socket() {
            return Err(untrusted(
                "it is not a socket".into(),
                "Give the socket showroomd listens on with --socket or SHOWROOM_SOCKET",
            ));
        }
        if !trusted_owner(meta.uid()) {
            return Err(untrusted(
                format!(
                    "it belongs to uid {}, not to you (uid {me}) or root, who run showroomd",
                    meta.uid()
                ),
                fix_dir,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_folder_writable_by_others_or_not_ours_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("showroom-1000");
        std::fs::create_dir(&dir).unwrap();
        let sock = dir.join("showroomd.sock");
        let me = std::fs::metadata(&dir).unwrap().uid();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_socket(&sock, me), Ok(()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_socket(&sock, me).unwrap_err();
        assert!(e.to_string().contains("writable by everyone"), "{e}");
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        if me == 0 {
            // Owned by root: trusted by anyone.
            assert_eq!(check_socket(&sock, 4242), Ok(()));
        } else {
            let e = check_socket(&sock, me + 1).unwrap_err();
            assert!(e.to_string().contains("not to you"), "{e}");
        }
        std::fs::write(&sock, "").unwrap();
        assert!(check_socket(&sock, me)
            .unwrap_err()
            .to_string()
            .contains("not a socket"));
    }
}
