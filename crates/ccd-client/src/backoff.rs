//! A daemon that cannot start (a damaged cache directory, a full disk)
//! must not cost every compile of a build a start attempt. A failed start
//! is recorded next to the socket, in `<socket>.down`: compiles then run
//! the compiler without trying to start a daemon until the back-off period
//! is over (10 s after the first failure, doubling up to 10 minutes). A
//! daemon that starts removes the record. `ccd doctor` shows it.
//!
//! The record is read only when no daemon answers, never on a compile that
//! reaches one.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccd_protocol::Location;

const FIRST: Duration = Duration::from_secs(10);
const LONGEST: Duration = Duration::from_secs(600);

/// What the record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// Failed start attempts in a row.
    pub attempts: u32,
    /// Milliseconds since the epoch before which no start is tried.
    pub until_ms: u64,
    /// What the last attempt said.
    pub reason: String,
}

pub fn path(loc: &Location) -> PathBuf {
    loc.beside_socket("down")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The record, if there is one.
pub fn read(loc: &Location) -> Option<Down> {
    let text = std::fs::read_to_string(path(loc)).ok()?;
    let mut lines = text.lines();
    let attempts = lines.next()?.strip_prefix("attempts ")?.parse().ok()?;
    let until_ms = lines.next()?.strip_prefix("until ")?.parse().ok()?;
    let reason = lines.collect::<Vec<_>>().join("\n");
    Some(Down {
        attempts,
        until_ms,
        reason,
    })
}

/// Whether starting a daemon is to be skipped now.
pub fn active(loc: &Location) -> bool {
    read(loc).is_some_and(|d| now_ms() < d.until_ms)
}

/// Records a failed start (or a daemon that had to be skipped).
pub fn failed(loc: &Location, reason: &str) {
    let attempts = read(loc).map_or(0, |d| d.attempts).saturating_add(1);
    let wait = FIRST
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(LONGEST);
    let text = format!(
        "attempts {attempts}\nuntil {}\n{}",
        now_ms() + wait.as_millis() as u64,
        reason.trim()
    );
    // Written whole or not at all: a reader never sees half a record.
    let p = path(loc);
    let mut tmp = p.clone().into_os_string();
    tmp.push(format!(".{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &p).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Forgets failed starts (a daemon is up).
pub fn clear(loc: &Location) {
    let _ = std::fs::remove_file(path(loc));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_longer_each_time_until_cleared() {
        let t = std::env::temp_dir().join(format!("ccd-backoff-{}", std::process::id()));
        std::fs::create_dir_all(&t).unwrap();
        let loc = Location {
            cache_dir: t.join("cache"),
            socket_dir: t.clone(),
            socket: t.join("x.sock"),
        };
        assert!(!active(&loc));
        failed(&loc, "cache directory: permission denied\n");
        let first = read(&loc).unwrap();
        assert_eq!(first.attempts, 1);
        assert_eq!(first.reason, "cache directory: permission denied");
        assert!(active(&loc));
        failed(&loc, "again");
        let second = read(&loc).unwrap();
        assert_eq!(second.attempts, 2);
        assert!(
            second.until_ms >= first.until_ms + 9_000,
            "{second:?} {first:?}"
        );
        clear(&loc);
        assert!(!active(&loc) && read(&loc).is_none());
        std::fs::remove_dir_all(&t).unwrap();
    }
}
