//! Which demo names are acceptable: a plain folder name that no generated config already uses.

use crate::error::{ErrorKind, ProtocolError};

/// Longest name accepted, in bytes: it becomes a folder, a supervisord program and a file name.
pub const MAX_NAME_BYTES: usize = 64;

/// Names that the generated configs use for showroom's own parts.
pub const RESERVED_NAMES: &[&str] = &["apache2", "supervisor", "supervisord", "showroom"];

/// Programs showroom adds to supervisord besides Apache (its event listener)
/// are named with this prefix; no demo may begin with it.
pub const RESERVED_PREFIX: &str = "showroom";

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
}
