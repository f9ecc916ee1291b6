//! The connection to the daemon of this cache directory: a daemon of this
//! very executable, started when none runs, replaced when it does not
//! answer. Whatever goes wrong, the caller gets `None` and runs the
//! compiler itself, and the next compile of the build does not pay for the
//! same trouble again:
//!
//! - no daemon: one is started, and the request waits for its socket (at
//!   most [`START_TIMEOUT`]);
//! - a daemon that fails to start: [`crate::backoff`] records it, and
//!   compiles skip starting one until the back-off period is over;
//! - a daemon that does not acknowledge within [`ACK_TIMEOUT`] (stopped,
//!   wedged), or that speaks no protocol of this executable: ended (after
//!   checking it is the daemon of this cache directory) and a fresh one
//!   started in its place, not waited for;
//! - a daemon of another executable (ccd was upgraded or rebuilt): it lets
//!   go of the socket and exits once its work is done; a daemon of this
//!   executable is started and asked instead.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use ccd_protocol::{
    ACK, ExeId, Hello, Location, REPLACED, Request, Response, SAME, decode, read_frame, write_frame,
};

use crate::{backoff, daemon_process};

/// How long a daemon may take to acknowledge a connection. It does so
/// before any work, from whichever of its threads accepted it, so only a
/// stopped or wedged daemon misses this (a loaded 2-core machine schedules
/// a waiting thread within milliseconds).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request may take before the wrapper gives up on the daemon
/// and compiles by itself. Storing a miss can include a dependency pass of
/// the preprocessor, so the reply to `CompileFinished` gets longer.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);
const STORE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for a freshly started daemon to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Conn {
    stream: UnixStream,
}

impl Conn {
    /// Sends a further request on this connection and reads one response;
    /// `None` on any failure.
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

/// What became of a request sent to a daemon.
enum Talk {
    Answer(Response),
    /// The daemon runs another executable and has let go of the socket.
    Replaced,
    /// No acknowledgement in time, or no answer to an acknowledged request
    /// in time: stopped or wedged.
    Stuck,
    /// It answered something that is not this protocol (a daemon of an
    /// older ccd), or hung up.
    Incompatible,
    /// The request could not be sent, or the peer is not ours.
    Failed,
}

/// Sends `req` to the daemon of this cache directory, starting one if none
/// runs and `start` is set; returns the connection (for further requests)
/// and the answer, or `None` when the caller must do without the daemon.
///
/// Only a daemon of this user is ever used: the socket directory must be
/// ours and private, and the process at the other end must run as us
/// (another user could otherwise answer with arguments that run code).
pub fn send(req: &Request, start: bool) -> Option<(Conn, Response)> {
    let loc = Location::from_env().ok()?;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if !private_dir(&loc.socket_dir, uid) && (!start || loc.socket_dir.exists()) {
        return None;
    }
    let mut message = Hello {
        exe: ExeId::of_self()?,
    }
    .encode()
    .to_vec();
    write_frame(&mut message, req).ok()?;
    let first_timeout = match req {
        Request::CompileFinished(_) => STORE_TIMEOUT,
        _ => LOOKUP_TIMEOUT,
    };
    // A daemon of another executable lets go, or one dies while it
    // answers: ours is then started and asked once more (two executables
    // taking turns stay correct: each request is answered by a daemon of
    // its own executable, or by none).
    for _ in 0..2 {
        let stream = match UnixStream::connect(&loc.socket) {
            Ok(s) => s,
            Err(_) if !start => return None,
            Err(_) => start_daemon(&loc, uid)?,
        };
        // Never a word to a process of another user.
        let (peer, pid) = ccd_protocol::peer_cred(&stream)?;
        if peer != uid {
            return None;
        }
        match talk(&stream, &message, first_timeout) {
            Talk::Answer(r) => return Some((Conn { stream }, r)),
            Talk::Replaced => continue,
            // It died while it answered (killed, or on its way out): ask a
            // new one.
            Talk::Stuck | Talk::Incompatible if !ccd_protocol::process::alive(pid) => continue,
            Talk::Stuck | Talk::Incompatible => {
                daemon_process::replace(&loc, pid);
                return None;
            }
            Talk::Failed => return None,
        }
    }
    None
}

/// Sends the hello and the request, and reads the acknowledgement, the
/// daemon's word on the executable, and the answer. A quick answer comes
/// in one piece with the acknowledgement and is read at once.
fn talk(stream: &UnixStream, message: &[u8], timeout: Duration) -> Talk {
    let mut s = stream;
    if s.write_all(message).is_err() {
        return Talk::Failed;
    }
    // The head (acknowledgement, word, length) and the start of the body,
    // on the stack: a fresh heap page would cost this short-lived process
    // a page fault.
    let mut head = [0u8; 512];
    let mut r = Reader {
        timeout: None,
        have: 0,
    };
    // The acknowledgement has the short deadline; the rest the long one.
    if let Err(e) = r.fill(s, &mut head, 4, ACK_TIMEOUT) {
        return e;
    }
    if head[..4] != ACK {
        return Talk::Incompatible;
    }
    if let Err(e) = r.fill(s, &mut head, 8, timeout) {
        return e;
    }
    match <[u8; 4]>::try_from(&head[4..8]) {
        Ok(SAME) => {}
        // Nothing follows.
        Ok(REPLACED) => return Talk::Replaced,
        _ => return Talk::Incompatible,
    }
    if let Err(e) = r.fill(s, &mut head, 12, timeout) {
        return e;
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&head[8..12]);
    let len = u32::from_le_bytes(len) as usize;
    if len > ccd_protocol::MAX_FRAME_LEN as usize {
        return Talk::Incompatible;
    }
    let decoded = if 12 + len <= head.len() {
        if let Err(e) = r.fill(s, &mut head, 12 + len, timeout) {
            return e;
        }
        decode::<Response>(&head[12..12 + len])
    } else {
        let mut body = vec![0u8; len];
        let early = r.have - 12;
        body[..early].copy_from_slice(&head[12..r.have]);
        let mut r = Reader {
            timeout: r.timeout,
            have: early,
        };
        if let Err(e) = r.fill(s, &mut body, len, timeout) {
            return e;
        }
        decode::<Response>(&body)
    };
    match decoded {
        Ok(answer) => Talk::Answer(answer),
        Err(_) => Talk::Incompatible,
    }
}

/// How much of a buffer is read from the daemon.
struct Reader {
    /// The read timeout set on the socket.
    timeout: Option<Duration>,
    have: usize,
}

impl Reader {
    /// Reads into `buf` until `want` bytes are in hand, taking whatever
    /// more has arrived in the same reads (up to the buffer's end).
    fn fill(
        &mut self,
        mut s: &UnixStream,
        buf: &mut [u8],
        want: usize,
        timeout: Duration,
    ) -> Result<(), Talk> {
        while self.have < want {
            if self.timeout != Some(timeout) {
                s.set_read_timeout(Some(timeout))
                    .map_err(|_| Talk::Failed)?;
                self.timeout = Some(timeout);
            }
            match s.read(&mut buf[self.have..]) {
                Ok(0) => return Err(Talk::Incompatible),
                Ok(n) => self.have += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(Talk::Stuck),
                Err(_) => return Err(Talk::Incompatible),
            }
        }
        Ok(())
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Starts a daemon (unless starting one has failed recently) and waits
/// for its socket.
fn start_daemon(loc: &Location, uid: u32) -> Option<UnixStream> {
    if backoff::active(loc) {
        return None;
    }
    let mut child = daemon_process::spawn(loc)?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    while started.elapsed() < START_TIMEOUT {
        if let Ok(stream) = UnixStream::connect(&loc.socket) {
            return private_dir(&loc.socket_dir, uid).then_some(stream);
        }
        match child.try_wait() {
            Ok(None) => {}
            // It found another daemon holding the cache directory (and
            // waited for it to let go): that one's socket is coming. Or
            // it was killed (the user stopping ccd): no failure of its own.
            Ok(Some(status)) if status.success() || status.signal() == Some(libc::SIGKILL) => {}
            // It could not start (a damaged cache, a full disk, a foreign
            // owner): compile without it, and do not try again at once.
            Ok(Some(_)) | Err(_) => {
                backoff::failed(loc, &daemon_process::start_error(loc));
                return None;
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    backoff::failed(loc, "no socket within the start timeout");
    None
}

/// `dir` is a real directory owned by `uid` that nobody else can enter.
fn private_dir(dir: &std::path::Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
}
