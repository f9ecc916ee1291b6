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
pub fn capture_for_cache(
    compiler: &Compiler,
    args: &[OsString],
    extra: &[ByteBuf],
) -> CompileOutput {
    let out = capture(compiler, args, extra);
    if out.exit_code == 0 || extra.is_empty() {
        return out;
    }
    let has =
        |needle: &[u8]| !needle.is_empty() && out.stderr.windows(needle.len()).any(|w| w == needle);
    let ours = has(b"No space left on device")
        || has(b"IO failure on output stream")
        || extra.iter().any(|e| e.len() > 3 && has(e));
    if ours {
        capture(compiler, args, &[])
    } else {
        out
    }
}

/// Runs the compiler with `extra` arguments appended and captures its
/// stdout, stderr and exit status.
pub fn capture(compiler: &Compiler, args: &[OsString], extra: &[ByteBuf]) -> CompileOutput {
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
    let mut err_src: Box<dyn Read + Send> = match (err_reader, child.stderr.take()) {
        (Some(m), _) => Box::new(m),
        (None, Some(p)) => Box::new(p),
        (None, None) => Box::new(std::io::empty()),
    };
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        // A pty master reports EIO once the slave side is closed: that is
        // the end of the stream, not an error.
        let _ = err_src.read_to_end(&mut buf);
        buf
    });
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut stdout);
    }
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

/// Writes the compiler's streams and exits with its status.
pub fn finish(out: &CompileOutput) -> ! {
    let _ = std::io::stdout().write_all(&out.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&out.stderr);
    let code = out.exit_code;
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
