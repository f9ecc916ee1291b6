//! The connection to the daemon of this cache directory, starting the daemon
//! when none is running.

use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ccd_protocol::{Location, Request, Response, peer_uid, read_frame, write_frame};

/// How long a request may take before the wrapper gives up on the daemon
/// and compiles by itself. Storing a miss can include a dependency pass of
/// the preprocessor, so the reply to `CompileFinished` gets longer.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);
const STORE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for a freshly started daemon to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Conn {
    stream: UnixStream,
}

impl Conn {
    /// Sends `req` and reads one response; `None` on any failure.
    pub fn exchange(&mut self, req: &Request) -> Option<Response> {
        let timeout = match req {
            Request::CompileFinished(_) => STORE_TIMEOUT,
            _ => LOOKUP_TIMEOUT,
        };
        self.stream.set_read_timeout(Some(timeout)).ok()?;
        write_frame(&mut self.stream, req).ok()?;
        read_frame(&mut self.stream).ok()
    }
}

/// Connects to the daemon, starting it if needed and `start` is set.
/// Only a daemon of this user is ever used: the socket directory must be
/// ours and private, and the process at the other end must run as us
/// (another user could otherwise answer with arguments that run code).
pub fn connect(start: bool) -> Option<Conn> {
    let loc = Location::from_env().ok()?;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if !private_dir(&loc.socket_dir, uid) && (!start || loc.socket_dir.exists()) {
        return None;
    }
    let ours = |stream: UnixStream| (peer_uid(&stream) == Some(uid)).then_some(Conn { stream });
    if let Ok(stream) = UnixStream::connect(&loc.socket) {
        return ours(stream);
    }
    if !start {
        return None;
    }
    let mut child = spawn_daemon()?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut lost_race_at: Option<Instant> = None;
    let mut spawns = 1;
    while start.elapsed() < START_TIMEOUT {
        if let Ok(stream) = UnixStream::connect(&loc.socket) {
            return if private_dir(&loc.socket_dir, uid) {
                ours(stream)
            } else {
                None
            };
        }
        match lost_race_at {
            None => match child.try_wait() {
                // Another daemon holds the lock: wait for its socket.
                Ok(Some(status)) if status.success() => lost_race_at = Some(Instant::now()),
                // The daemon could not start (unwritable directory, foreign
                // owner, ...): compile without it, right away.
                Ok(Some(_)) | Err(_) => return None,
                Ok(None) => {}
            },
            // The lock holder never opened a socket: it was an old daemon
            // on its way out. Start another one.
            Some(t) if t.elapsed() > Duration::from_millis(200) && spawns < 3 => {
                child = spawn_daemon()?;
                spawns += 1;
                lost_race_at = None;
            }
            Some(_) => {}
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    None
}

/// `dir` is a real directory owned by `uid` that nobody else can enter.
fn private_dir(dir: &std::path::Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
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

fn spawn_daemon() -> Option<std::process::Child> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
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
