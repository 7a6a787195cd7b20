//! Bounds on values a client sends, checked alike by showroomctl (before sending) and showroomd (before acting).

use crate::{ErrorKind, ProtocolError};

/// The longest time to live: 100 years. Anything longer is a mistake
/// (`8000y` for `8000d`), and times past year 9999 have no RFC 3339 form.
pub const MAX_TTL_SECS: u64 = 100 * 31_557_600;

/// A TTL within `MAX_TTL_SECS`, or why not.
pub fn check_ttl(secs: u64) -> Result<(), ProtocolError> {
    if secs > MAX_TTL_SECS {
        return Err(ProtocolError::new(
            ErrorKind::InvalidRequest,
            format!(
                "a time to live of {secs} s is longer than 100 years: give a shorter one, or `never` (showroomctl expire NAME never)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hundred_years_is_the_most() {
        assert!(super::check_ttl(super::MAX_TTL_SECS).is_ok());
        assert!(super::check_ttl(super::MAX_TTL_SECS + 1).is_err());
        assert!(super::check_ttl(8000 * 31_557_600).is_err());
    }
}
