use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What `stat` says about a file; any change of content changes the stamp
/// (ctime cannot be set back by user space, so a rewrite that restores the
/// mtime is still seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub mode: u32,
}

impl Stamp {
    pub fn from_metadata(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            mode: m.mode(),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }

    /// The newer of mtime and ctime.
    pub fn changed_ns(&self) -> i64 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

/// `stat` (following symlinks).
pub fn stat(path: &Path) -> io::Result<Stamp> {
    std::fs::metadata(path).map(|m| Stamp::from_metadata(&m))
}

/// `lstat` (not following symlinks).
pub fn stat_nofollow(path: &Path) -> io::Result<Stamp> {
    std::fs::symlink_metadata(path).map(|m| Stamp::from_metadata(&m))
}

/// Wall-clock time in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// How far before a write its timestamp can lie: file timestamps come from
/// the kernel's coarse clock, which lags the precise one by up to a tick.
/// A file stamped earlier than `start - slack` was written before `start`.
pub fn write_time_slack_ns() -> i64 {
    static SLACK: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *SLACK.get_or_init(|| {
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_getres writes one timespec.
        let ok = unsafe { libc::clock_getres(libc::CLOCK_REALTIME_COARSE, &mut res) } == 0;
        let tick = if ok {
            res.tv_sec * 1_000_000_000 + res.tv_nsec
        } else {
            10_000_000
        };
        // One tick plus a margin, within sane bounds.
        (tick + 1_000_000).clamp(2_000_000, 20_000_000)
    })
}
