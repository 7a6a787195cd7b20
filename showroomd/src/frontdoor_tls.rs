//! The front door's certificate: whether the files changed on disk, and whether a pair may be served (the key matches, the names cover DOMAIN and *.DOMAIN, not expired), read with the `openssl` command.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot run openssl (apt-get install openssl): {0}")]
    Spawn(std::io::Error),
    #[error("{what}: {words}")]
    Openssl { what: String, words: String },
    #[error("the key {key} does not match the certificate {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error("the certificate names {names:?}, not {domain} and *.{domain}")]
    Names { names: Vec<String>, domain: String },
    #[error("the certificate expired at {0}")]
    Expired(String),
    #[error("cannot read the certificate's expiry {0:?}")]
    Expiry(String),
}

/// What is known of a certificate that may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub names: Vec<String>,
    /// Seconds since the Unix epoch.
    pub expires: u64,
}

/// The files' identity: modification time, inode and size of each. A
/// renewal that writes in place or renames over them changes it.
pub type Stamp = Vec<(i64, i64, u64, u64)>;

pub fn stamp(files: &[&Path]) -> Stamp {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f).map_or((0, 0, 0, 0), |m| {
                (m.mtime(), m.mtime_nsec(), m.ino(), m.len())
            })
        })
        .collect()
}

async fn openssl(args: &[&str], what: &str) -> Result<String, TlsError> {
    let out = crate::apache::captured("openssl", args)
        .await
        .map_err(TlsError::Spawn)?;
    if !out.status.success() {
        return Err(TlsError::Openssl {
            what: what.to_owned(),
            words: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks that `cert` and `key` may be served for `domain`.
pub async fn check(cert: &Path, key: &Path, domain: &str) -> Result<CertFacts, TlsError> {
    let c = cert.to_string_lossy();
    let k = key.to_string_lossy();
    let cert_pub = openssl(
        &["x509", "-in", &c, "-noout", "-pubkey"],
        &format!("reading the certificate {c}"),
    )
    .await?;
    let key_pub = openssl(
        &["pkey", "-in", &k, "-pubout"],
        &format!("reading the key {k}"),
    )
    .await?;
    if cert_pub.trim() != key_pub.trim() {
        return Err(TlsError::KeyMismatch {
            cert: c.into_owned(),
            key: k.into_owned(),
        });
    }
    let text = openssl(
        &[
            "x509",
            "-in",
            &c,
            "-noout",
            "-enddate",
            "-dateopt",
            "iso_8601",
            "-ext",
            "subjectAltName",
        ],
        &format!("reading the certificate {c}"),
    )
    .await?;
    let facts = parse(&text)?;
    let covers = |want: &str| facts.names.iter().any(|n| n.eq_ignore_ascii_case(want));
    if !covers(domain) || !covers(&format!("*.{domain}")) {
        return Err(TlsError::Names {
            names: facts.names,
            domain: domain.to_owned(),
        });
    }
    if facts.expires <= crate::store::now_secs() {
        return Err(TlsError::Expired(iso(facts.expires)));
    }
    Ok(facts)
}

/// `notAfter=2027-01-01 04:41:32Z` and the `DNS:` names of openssl's output.
fn parse(text: &str) -> Result<CertFacts, TlsError> {
    let mut expires = None;
    let mut names = Vec::new();
    for line in text.lines() {
        if let Some(date) = line.strip_prefix("notAfter=") {
            let rfc = date.trim().replacen(' ', "T", 1);
            let t = humantime::parse_rfc3339(&rfc).map_err(|_| TlsError::Expiry(date.into()))?;
            expires = t
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs());
        }
        for part in line.split(',') {
            if let Some(n) = part.trim().strip_prefix("DNS:") {
                names.push(n.to_owned());
            }
        }
    }
    Ok(CertFacts {
        names,
        expires: expires.ok_or_else(|| TlsError::Expiry(text.trim().into()))?,
    })
}

/// Seconds since the epoch in RFC 3339, for the log.
pub fn iso(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssls_words_are_read() {
        let f = parse(
            "notAfter=2027-01-01 04:41:32Z\nX509v3 Subject Alternative Name: \n    DNS:x.example, DNS:*.x.example\n",
        )
        .unwrap();
        assert_eq!(f.names, vec!["x.example", "*.x.example"]);
        assert_eq!(iso(f.expires), "2027-01-01T04:41:32Z");
    }
}
