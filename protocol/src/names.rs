//! Which demo names are acceptable: a plain folder name that no generated config already uses,
//! and for a new demo also a host label, so that the front door gives it a URL.

use crate::error::{ErrorKind, ProtocolError};

/// Longest name accepted, in bytes: it becomes a folder, a supervisord program and a file name.
pub const MAX_NAME_BYTES: usize = 64;

/// Names that the generated configs use for showroom's own parts.
pub const RESERVED_NAMES: &[&str] = &["apache2", "supervisor", "supervisord", "showroom"];

/// Programs showroom adds to supervisord besides Apache (its event listener)
/// are named with this prefix; no demo may begin with it.
pub const RESERVED_PREFIX: &str = "showroom";

/// Longest host label (RFC 1035): the most a new demo's name may have.
pub const MAX_LABEL_BYTES: usize = 63;

/// Whether `name` is a host label as a new demo's name must be: lower-case
/// letters, digits and '-', at most 63 bytes, no '-' at either end. Upper
/// case is refused rather than folded: `Hello` beside `hello` would share a host name.
pub fn is_host_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LABEL_BYTES
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The nearest host label to `name`: lower-cased, every run of other
/// characters made one '-', the ends trimmed, cut to 63 bytes
/// (`Feature_X` -> `feature-x`). None when nothing acceptable is left.
pub fn propose_name(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_LABEL_BYTES);
    let out = out.trim_end_matches('-').to_owned();
    (is_host_label(&out) && validate_name(&out).is_ok()).then_some(out)
}

/// Checks the name of a demo about to be made (deploy, clone): a host
/// label, and whatever [`validate_name`] asks. Demos made before this rule
/// keep their names: every other request checks with [`validate_name`] only.
pub fn validate_new_name(name: &str) -> Result<(), ProtocolError> {
    if !name.is_empty() && !is_host_label(name) {
        let hint = match propose_name(name) {
            Some(p) => format!(": try {p:?}"),
            None => String::new(),
        };
        return Err(ProtocolError::new(
            ErrorKind::InvalidRequest,
            format!(
                "invalid demo name {name:?}: a new demo's name must be a host label (lower-case letters, digits and '-', at most {MAX_LABEL_BYTES} characters, not starting or ending with '-'), so that it gets a URL{hint}"
            ),
        ));
    }
    validate_name(name)
}

/// Checks a demo name, with the seed's words for an empty one.
pub fn validate_name(name: &str) -> Result<(), ProtocolError> {
    let bad = |why: &str| {
        Err(ProtocolError::new(
            ErrorKind::InvalidRequest,
            format!("invalid demo name {name:?}: {why}"),
        ))
    };
    if name.is_empty() {
        return Err(ProtocolError::new(
            ErrorKind::InvalidRequest,
            "empty demo name",
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return bad(&format!("longer than {MAX_NAME_BYTES} bytes"));
    }
    if name == "." || name == ".." || name.contains("..") {
        return bad("'..' is not allowed");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("it must not start with '.' or '-'");
    }
    // supervisord program names and Apache file names both accept this set;
    // anything wider (':' is supervisord's group separator, spaces, '/')
    // would be read differently by one of them.
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return bad(&format!(
            "{c:?} is not allowed (letters, digits, '_', '-' and '.' only)"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return bad("this name is used by showroom itself");
    }
    if name.starts_with(RESERVED_PREFIX) {
        return bad(&format!(
            "names beginning with {RESERVED_PREFIX:?} are kept for showroom's own programs"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for n in ["test1", "test1bis", "my-demo", "a.b", "A_1"] {
            validate_name(n).unwrap();
        }
    }

    #[test]
    fn refuses_bad_names_with_reason() {
        assert_eq!(validate_name("").unwrap_err().message, "empty demo name");
        for n in [
            "a/b",
            "..",
            "../x",
            "a..b",
            ".hidden",
            "-x",
            "a b",
            "a:b",
            "a\nb",
            "a\u{7}",
            "apache2",
            "é",
            "showroom",
            "showroom-events",
            "showroomX",
        ] {
            let e = validate_name(n).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{n:?}");
            assert!(
                e.message.starts_with("invalid demo name"),
                "{n:?}: {}",
                e.message
            );
        }
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert!(validate_name(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn new_names_are_host_labels() {
        for n in ["test1", "my-demo", "a", "0day", &"x".repeat(63)] {
            validate_new_name(n).unwrap();
        }
        assert_eq!(
            validate_new_name("").unwrap_err().message,
            "empty demo name"
        );
        for (n, proposal) in [
            ("Feature_X", Some("feature-x")),
            ("My.Demo", Some("my-demo")),
            ("Hello", Some("hello")),
            ("-x-", Some("x")),
            ("a__b", Some("a-b")),
            ("a b/c", Some("a-b-c")),
            ("été", Some("t")),
            ("..", None),
            ("Showroom", None),
        ] {
            let e = validate_new_name(n).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{n:?}");
            assert!(e.message.contains("must be a host label"), "{}", e.message);
            assert_eq!(propose_name(n).as_deref(), proposal, "{n:?}");
            if let Some(p) = proposal {
                assert!(e.message.ends_with(&format!("try {p:?}")), "{}", e.message);
            }
        }
        let long = format!("{}-{}", "a".repeat(62), "b".repeat(9));
        assert!(validate_new_name(&long).is_err());
        assert_eq!(propose_name(&long).unwrap(), "a".repeat(62));
        // Reserved names are host labels, and still refused.
        assert!(validate_new_name("apache2").is_err());
    }
}
