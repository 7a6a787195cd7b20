//! The reader's time zone, for times shown on a terminal: its offset from UTC read from the TZif file of `TZ` or `/etc/localtime` (unsafe code is forbidden here, so no `localtime_r`). Unknown: UTC.

use std::path::PathBuf;

/// Seconds east of UTC at `at` (seconds since the epoch) where the reader is.
pub fn offset_at(at: i64) -> Option<i64> {
    let path = match std::env::var("TZ") {
        Ok(tz) => {
            let tz = tz.trim_start_matches(':').to_owned();
            if tz.is_empty() || tz == "UTC" || tz == "UTC0" || tz == "Etc/UTC" {
                return Some(0);
            }
            if tz.starts_with('/') {
                PathBuf::from(tz)
            } else {
                PathBuf::from("/usr/share/zoneinfo").join(tz)
            }
        }
        Err(_) => PathBuf::from("/etc/localtime"),
    };
    tzif_offset(&std::fs::read(path).ok()?, at)
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as i64)
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The offset a TZif file gives at `at`: the type of the last transition
/// at or before it (the first type before any), from the 64-bit block when
/// there is one. Rules past the last transition (the footer) are not read.
fn tzif_offset(b: &[u8], at: i64) -> Option<i64> {
    if b.get(..4)? != b"TZif" {
        return None;
    }
    let counts = |base: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            *v = be32(b, base + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, time, typ, chars] = counts(0)?;
    let (base, width) = if b[4] >= b'2' {
        let v1 = 44 + time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
        (v1, 8)
    } else {
        (0, 4)
    };
    let [_, _, _, time, typ, _] = counts(base)?;
    let times = base + 44;
    let idx = times + time * width;
    let types = idx + time;
    let mut chosen = 0usize;
    for i in 0..time {
        let t = if width == 8 {
            be64(b, times + 8 * i)?
        } else {
            be32(b, times + 4 * i)?
        };
        if t > at {
            break;
        }
        chosen = *b.get(idx + i)? as usize;
    }
    if chosen >= typ {
        return None;
    }
    be32(b, types + 6 * chosen)
}

/// `HH:MM:SS` in the reader's zone, from seconds since the epoch.
pub fn short_time(at: i64) -> String {
    let local = at + offset_at(at).unwrap_or(0);
    let day = local.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_a_zone_file() {
        assert_eq!(tzif_offset(b"nope", 0), None);
        // A zone file shipped with the system, when there is one: Paris is
        // one hour east in January, two in July.
        if let Ok(b) = std::fs::read("/usr/share/zoneinfo/Europe/Paris") {
            assert_eq!(tzif_offset(&b, 1_767_225_600), Some(3600)); // 2026-01-01
            assert_eq!(tzif_offset(&b, 1_782_864_000), Some(7200)); // 2026-07-01
        }
    }
}
