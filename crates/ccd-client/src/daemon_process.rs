//! The daemon as a process: starting one, and ending one that is stuck.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ccd_protocol::Location;

use crate::backoff;

/// Where a starting daemon's stderr goes: what it said when it failed to
/// start is recorded for `ccd doctor`.
fn start_log(loc: &Location) -> PathBuf {
    loc.beside_socket("start.log")
}

/// Starts a daemon of this executable for `loc`'s cache directory.
pub fn spawn(loc: &Location) -> Option<std::process::Child> {
    let exe = std::env::current_exe().ok()?;
    let log = std::fs::File::create(start_log(loc))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: setsid, close_range and fcntl are async-signal-safe. A new
    // session detaches the daemon from the build's terminal, so Ctrl-C on
    // make does not kill it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            keep_no_inherited_descriptors();
            Ok(())
        });
    }
    cmd.spawn().ok()
}

/// What the last daemon that failed to start said.
pub fn start_error(loc: &Location) -> String {
    let said = std::fs::read(start_log(loc)).unwrap_or_default();
    let said = String::from_utf8_lossy(&said[..said.len().min(1024)]).into_owned();
    if said.trim().is_empty() {
        "the daemon exited at start".into()
    } else {
        said
    }
}

/// Ends the daemon `pid`, which did not acknowledge in time or speaks no
/// protocol of this executable, once it is known to be the daemon of this
/// cache directory, and starts a fresh one in its place (not waited for:
/// this compile runs the compiler itself). A process that cannot be shown
/// to be that daemon is left alone, and compiles skip the daemon for a
/// while.
pub fn replace(loc: &Location, pid: i32) {
    if !is_daemon_of(loc, pid) {
        backoff::failed(
            loc,
            &format!("process {pid} holds the socket but is not this cache's daemon"),
        );
        return;
    }
    // SIGKILL: a stopped process ignores everything else until continued.
    // SAFETY: a signal to a process of ours, checked above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = spawn(loc);
}

/// Whether `pid` runs `ccd daemon` for this cache directory: it holds the
/// directory's lock (`/proc/locks` names the holder of `daemon.lock`).
fn is_daemon_of(loc: &Location, pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(lock) = std::fs::metadata(loc.cache_dir.join("daemon.lock")) else {
        return false;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let daemon = cmdline.split(|b| *b == 0).nth(1) == Some(&b"daemon"[..]);
    daemon && holds_lock(Path::new("/proc/locks"), pid, lock.ino())
}

/// Whether `/proc/locks` lists a lock of `pid` on inode `ino`. A line:
/// `1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`.
fn holds_lock(locks: &Path, pid: i32, ino: u64) -> bool {
    let text = std::fs::read_to_string(locks).unwrap_or_default();
    let pid = pid.to_string();
    let ino = ino.to_string();
    text.lines().any(|l| {
        // A blocked waiter's line (`2: -> FLOCK ...`) holds nothing.
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1) != Some(&"->")
            && f.get(4) == Some(&pid.as_str())
            && f.get(5).and_then(|d| d.rsplit(':').next()) == Some(&ino)
    })
}

/// Marks every descriptor above stderr close-on-exec. The daemon outlives
/// the compile that starts it: one that inherited configure's copy of its
/// stdout (descriptor 6) held `./configure | tee log` open for the hour
/// until it idled out.
///
/// SAFETY: to be called between fork and exec (no allocation).
unsafe fn keep_no_inherited_descriptors() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers; on kernels before 5.11 it
    // fails and each descriptor is marked instead.
    let done =
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) } == 0;
    if !done {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one struct; fcntl on a closed descriptor
        // fails harmlessly.
        let max = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } {
            0 => lim.rlim_cur.min(65_536) as libc::c_int,
            _ => 1024,
        };
        for fd in 3..max {
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_holder_is_found_by_pid_and_inode() {
        let t = std::env::temp_dir().join(format!("ccd-locks-{}", std::process::id()));
        std::fs::write(
            &t,
            "1: FLOCK  ADVISORY  WRITE 4242 fd:01:5678 0 EOF\n\
             2: POSIX  ADVISORY  READ 17 08:02:99 0 EOF\n\
             2: -> FLOCK  ADVISORY  WRITE 4243 fd:01:5678 0 EOF\n",
        )
        .unwrap();
        assert!(holds_lock(&t, 4242, 5678));
        assert!(!holds_lock(&t, 4243, 5678), "a waiter holds nothing");
        assert!(!holds_lock(&t, 4242, 99));
        assert!(!holds_lock(&t, 17, 5678));
        std::fs::remove_file(&t).unwrap();
    }
}
