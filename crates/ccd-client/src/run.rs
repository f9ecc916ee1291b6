//! Running the real compiler: replacing this process with it, or capturing
//! its output for the cache (through a pseudo-terminal when our stderr is a
//! terminal, so the compiler colours and wraps diagnostics exactly as it
//! would without ccd).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use ccd_protocol::{ByteBuf, CompileOutput};

use crate::Compiler;

/// Replaces this process with the compiler.
pub fn exec(compiler: &Compiler, args: &[OsString]) -> ! {
    let err = Command::new(&compiler.path)
        .arg0(&compiler.arg0)
        .args(args)
        .exec();
    let _ = writeln!(
        std::io::stderr(),
        "ccd: cannot run {}: {err}",
        compiler.path.display()
    );
    std::process::exit(127);
}

/// The width of our stderr when it is a terminal.
pub fn stderr_terminal() -> Option<u16> {
    // SAFETY: isatty and ioctl(TIOCGWINSZ) only read fd 2's state.
    unsafe {
        if libc::isatty(2) != 1 {
            return None;
        }
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) == 0 {
            Some(ws.ws_col)
        } else {
            Some(0)
        }
    }
}

pub fn current_umask() -> u32 {
    // SAFETY: umask cannot fail; the old mask is restored at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

/// Runs the compiler with the daemon's `extra` arguments (a private
/// dependency file) and captures its output. If the compile fails in a way
/// the extra arguments may have caused (no space for the private file), it
/// runs again without them: the build gets the compiler's own result.
///
/// With `want` [`Echo::Live`] and no extra arguments (nothing can then call
/// for a second run), the output is passed on as it arrives: cargo reads
/// rustc's messages while it runs and starts the dependent crates as soon
/// as the metadata is written (pipelining), not when the whole compile
/// ends. Returns how the output was echoed.
pub fn capture_for_cache(
    compiler: &Compiler,
    args: &[OsString],
    extra: &[ByteBuf],
    want: Echo,
) -> (CompileOutput, Echo) {
    if extra.is_empty() && want == Echo::Live {
        return (capture(compiler, args, extra, Echo::Live), Echo::Live);
    }
    let out = capture(compiler, args, extra, Echo::Later);
    if out.exit_code == 0 {
        return (out, Echo::Later);
    }
    let has =
        |needle: &[u8]| !needle.is_empty() && out.stderr.windows(needle.len()).any(|w| w == needle);
    let ours = has(b"No space left on device")
        || has(b"IO failure on output stream")
        || extra.iter().any(|e| e.len() > 3 && has(e));
    if ours {
        (capture(compiler, args, &[], Echo::Later), Echo::Later)
    } else {
        (out, Echo::Later)
    }
}

/// When the compiler's stdout and stderr reach ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Each chunk as soon as the compiler writes it (and also captured).
    Live,
    /// Only captured; [`finish`] writes them.
    Later,
}

/// Runs the compiler with `extra` arguments appended and captures its
/// stdout, stderr and exit status.
pub fn capture(
    compiler: &Compiler,
    args: &[OsString],
    extra: &[ByteBuf],
    echo: Echo,
) -> CompileOutput {
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = Command::new(&compiler.path);
    cmd.arg0(&compiler.arg0)
        .args(args)
        .args(extra.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
        .stdout(Stdio::piped());
    let pty = stderr_terminal().and_then(open_pty);
    let mut err_reader: Option<File> = None;
    match pty {
        Some((master, slave)) => {
            cmd.stderr(Stdio::from(slave));
            err_reader = Some(File::from(master));
        }
        None => {
            cmd.stderr(Stdio::piped());
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CompileOutput {
                exit_code: 127,
                stdout: ByteBuf::new(),
                stderr: ByteBuf::from(format!(
                    "ccd: cannot run {}: {e}\n",
                    compiler.path.display()
                )),
            };
        }
    };
    // The Command still holds the slave end; drop it so that reading the
    // master ends when the compiler exits.
    drop(cmd);
    let err_src: Box<dyn Read + Send> = match (err_reader, child.stderr.take()) {
        (Some(m), _) => Box::new(m),
        (None, Some(p)) => Box::new(p),
        (None, None) => Box::new(std::io::empty()),
    };
    let err_thread = std::thread::spawn(move || {
        let mut stderr_echo = std::io::stderr();
        let to: Option<&mut dyn Write> = match echo {
            Echo::Live => Some(&mut stderr_echo),
            Echo::Later => None,
        };
        collect(err_src, to)
    });
    let stdout = match child.stdout.take() {
        Some(out) => {
            let mut stdout_echo = std::io::stdout();
            let to: Option<&mut dyn Write> = match echo {
                Echo::Live => Some(&mut stdout_echo),
                Echo::Later => None,
            };
            collect(out, to)
        }
        None => Vec::new(),
    };
    let status = child.wait();
    let stderr = err_thread.join().unwrap_or_default();
    let exit_code = match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 127,
    };
    CompileOutput {
        exit_code,
        stdout: ByteBuf::from(stdout),
        stderr: ByteBuf::from(stderr),
    }
}

/// Reads `src` to its end, passing each chunk on to `echo` as it comes.
/// A pty master reports EIO once the slave side is closed: that is the end
/// of the stream, not an error. A failing `echo` (a closed pipe) stops the
/// echo, never the capture.
fn collect(mut src: impl Read, mut echo: Option<&mut dyn Write>) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match src.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(w) = echo.as_deref_mut()
            && w.write_all(&chunk[..n]).and_then(|()| w.flush()).is_err()
        {
            echo = None;
        }
    }
    buf
}

/// Writes the compiler's streams and exits with its status.
pub fn finish(out: &CompileOutput) -> ! {
    let _ = std::io::stdout().write_all(&out.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&out.stderr);
    exit_as(out.exit_code)
}

/// Exits with the compiler's status (its streams were passed on already).
pub fn exit_as(code: i32) -> ! {
    if code > 128 && code < 128 + 65 {
        // The compiler died of a signal: die of the same one, so make and
        // ninja report it the same way.
        // SAFETY: resetting a handler and raising a signal on ourselves.
        unsafe {
            libc::signal(code - 128, libc::SIG_DFL);
            libc::raise(code - 128);
        }
    }
    std::process::exit(code)
}

/// A raw-mode pseudo-terminal with our terminal's size: (master, slave).
fn open_pty(columns: u16) -> Option<(OwnedFd, OwnedFd)> {
    // SAFETY: plain libc calls on fds we own; failures return None.
    unsafe {
        let mut master = -1;
        let mut slave = -1;
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) != 0 {
            ws.ws_col = columns;
        }
        if libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        ) != 0
        {
            return None;
        }
        let master = OwnedFd::from_raw_fd(master);
        let slave = OwnedFd::from_raw_fd(slave);
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
            // No "\n" -> "\r\n" translation: bytes arrive as written.
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
        }
        libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        Some((master, slave))
    }
}
