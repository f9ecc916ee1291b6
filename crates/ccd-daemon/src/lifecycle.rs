//! The daemon's hold on its cache directory: the single-instance lock and
//! the socket it bound, and giving them up.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use crate::daemon::Daemon;

/// The descriptor holding the single-instance lock.
static LOCK_FD: OnceLock<i32> = OnceLock::new();
/// The inode of the socket this daemon bound.
static SOCKET_INO: OnceLock<u64> = OnceLock::new();

/// Records what this daemon holds, to give it up on the way out.
pub fn hold(lock_fd: i32, socket_ino: u64) {
    let _ = LOCK_FD.set(lock_fd);
    let _ = SOCKET_INO.set(socket_ino);
}

/// Gives up the socket and the lock, so that a daemon started right after
/// this one can take over at once (a compile that comes in while an old
/// daemon is still exiting must not find the lock taken and no socket).
pub fn release(d: &Daemon) {
    // Only our own socket: a successor may already have bound the path.
    let ours = fs::metadata(&d.location.socket).is_ok_and(|m| Some(&m.ino()) == SOCKET_INO.get());
    if ours {
        let _ = fs::remove_file(&d.location.socket);
    }
    if let Some(fd) = LOCK_FD.get() {
        // SAFETY: unlocking a descriptor this process owns.
        unsafe { libc::flock(*fd, libc::LOCK_UN) };
    }
}

/// A client of another executable asked: this daemon gives up the socket
/// and the lock at once (a daemon of that executable takes over), finishes
/// the requests and stores in hand, and exits (see `server::idle_watch`).
pub fn retire(d: &Daemon) {
    if !d.retiring.swap(true, std::sync::atomic::Ordering::SeqCst) {
        tracing::info!("a client of another executable: making way for its daemon");
        release(d);
    }
}

/// Stops the process, releasing the socket and the lock first.
pub fn exit_now(d: &Daemon) -> ! {
    tracing::info!("daemon exiting");
    d.stats.flush();
    release(d);
    std::process::exit(0)
}
