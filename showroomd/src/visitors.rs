//! Who may visit a demo through the front door: users with a password (HTTP basic auth, hashed by `openssl passwd -6` into a file only showroom and the front door's Apache read) and address ranges; checks of what an operator gives.

use std::path::Path;
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use crate::layout::Layout;

/// A demo's visitor rules, kept in its record. The passwords' hashes are
/// in `frontdoor/auth/NAME.htpasswd`, never here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Users who may visit with their password; empty: no password asked.
    #[serde(default)]
    pub users: Vec<String>,
    /// Address ranges (CIDR or single addresses) visitors must come from; empty: any.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl Access {
    /// `open`, `password`, `allow` or `password+allow`.
    pub fn mode(&self) -> &'static str {
        match (self.users.is_empty(), self.allow.is_empty()) {
            (true, true) => "open",
            (false, true) => "password",
            (true, false) => "allow",
            (false, false) => "password+allow",
        }
    }

    pub fn is_open(&self) -> bool {
        self.users.is_empty() && self.allow.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VisitorsError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot run openssl to hash the password (apt-get install openssl): {0}")]
    Openssl(std::io::Error),
    #[error("openssl could not hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// A user name Apache's password file can hold: no `:` (its separator), no
/// space or control character.
pub fn check_user(user: &str) -> Result<(), VisitorsError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(VisitorsError::Invalid(format!(
            "user {user:?}: 1 to 64 letters, digits, '.', '_', '@' or '-'"
        )))
    }
}

pub fn check_password(password: &str) -> Result<(), VisitorsError> {
    if password.is_empty() || password.len() > 1024 || password.chars().any(|c| c.is_control()) {
        return Err(VisitorsError::Invalid(
            "a password is 1 to 1024 bytes on one line, without control characters".into(),
        ));
    }
    Ok(())
}

/// An address range as Apache's `Require ip` takes it: an IPv4 or IPv6
/// address, with `/LEN` at most its bits.
pub fn check_range(range: &str) -> Result<(), VisitorsError> {
    let (addr, len) = match range.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (range, None),
    };
    let bad = || {
        VisitorsError::Invalid(format!(
            "{range:?} is not an address range: write 10.0.0.0/8, 127.0.0.2 or 2001:db8::/32"
        ))
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    if let Some(len) = len {
        let len: u8 = len.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad());
        }
    }
    Ok(())
}

/// The password's SHA-512 crypt hash (`$6$…`), which Apache checks with the
/// system's crypt(3). openssl reads it from stdin: never from argv, where
/// any user could see it.
pub async fn hash(password: &str) -> Result<String, VisitorsError> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(VisitorsError::Openssl)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(format!("{password}\n").as_bytes())
        .await
        .map_err(VisitorsError::Openssl)?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .map_err(VisitorsError::Openssl)?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !hash.starts_with("$6$") {
        return Err(VisitorsError::Hash(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(hash)
}

/// The `user:hash` lines of a demo's password file.
fn read_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(u, h)| (u.to_owned(), h.to_owned()))
        .collect()
}

/// Sets `user`'s hash (None: removes the user) in the demo's password file,
/// written atomically; returns the users it now holds, in order.
pub fn set_user(
    layout: &Layout,
    name: &str,
    user: &str,
    hash: Option<&str>,
) -> Result<Vec<String>, VisitorsError> {
    let path = password_file(layout, name);
    let mut lines = read_file(&path);
    lines.retain(|(u, _)| u != user);
    if let Some(h) = hash {
        lines.push((user.to_owned(), h.to_owned()));
    }
    lines.sort();
    if lines.is_empty() {
        remove(layout, name)?;
        return Ok(Vec::new());
    }
    let text: String = lines.iter().map(|(u, h)| format!("{u}:{h}\n")).collect();
    crate::store::write_atomic(&path, text.as_bytes())?;
    Ok(lines.into_iter().map(|(u, _)| u).collect())
}

/// Removes the demo's password file (a destroy, `--open`).
pub fn remove(layout: &Layout, name: &str) -> Result<(), VisitorsError> {
    let path = password_file(layout, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(VisitorsError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

pub fn password_file(layout: &Layout, name: &str) -> std::path::PathBuf {
    layout.frontdoor_auth().join(format!("{name}.htpasswd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        for ok in ["10.0.0.0/8", "127.0.0.2", "2001:db8::/32", "::1"] {
            check_range(ok).unwrap();
        }
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "1.2.3.4/x", ""] {
            assert!(check_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_cannot_break_the_file() {
        check_user("ann@example.org").unwrap();
        for bad in ["a:b", "", "a b", "a\nb"] {
            assert!(check_user(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("two\nlines").is_err());
    }

    #[tokio::test]
    async fn a_password_is_stored_hashed() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(d.path());
        std::fs::create_dir_all(layout.frontdoor_auth()).unwrap();
        let h = hash("s3cret").await.unwrap();
        assert!(h.starts_with("$6$"), "{h}");
        assert_eq!(
            set_user(&layout, "app", "ann", Some(&h)).unwrap(),
            vec!["ann"]
        );
        let text = std::fs::read_to_string(password_file(&layout, "app")).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(set_user(&layout, "app", "ann", None).unwrap().is_empty());
        assert!(!password_file(&layout, "app").exists());
    }
}
