//! The compiler wrapper, run once per compile.
//!
//! It must be cheap (no async runtime, no configuration files, no argument
//! parser: one connect, one write, one read on a hit) and it must never make
//! a build fail: whenever the daemon cannot be reached, misbehaves or is too
//! slow, the wrapper runs the real compiler itself. It never writes anything
//! of its own to stdout or stderr, which belong to the compiler.

pub mod backoff;
mod compiler_path;
pub mod daemon_link;
mod daemon_process;
mod env_filter;
mod run;
mod split;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use ccd_protocol::{ByteBuf, CompileRequest, PROTOCOL_VERSION, Request, Response, TtyInfo};

pub use compiler_path::{find_in_path, is_self};

/// The real compiler: where it is, and the name the build called it by
/// (passed on as `argv[0]`, which gcc prints in some of its errors).
pub struct Compiler {
    pub path: PathBuf,
    pub arg0: OsString,
}

/// How the wrapper was invoked.
pub enum Invocation {
    /// `ccd <compiler> args...`
    Explicit {
        compiler: OsString,
        args: Vec<OsString>,
    },
    /// A symlink named like a compiler (`gcc -> ccd`): `argv[0]` names it.
    Masquerade { name: OsString, args: Vec<OsString> },
}

/// Runs one compile through the daemon and exits with the compiler's status.
pub fn run_wrapper(inv: Invocation) -> ! {
    let (compiler, args) = match resolve(inv) {
        Ok(v) => v,
        Err(msg) => {
            // Nothing to run: report like a shell would and fail.
            eprintln!("ccd: {msg}");
            std::process::exit(127);
        }
    };
    if std::env::var_os("CCD_DISABLE").is_some_and(|v| !v.is_empty() && v != "0") {
        run::exec(&compiler, &args);
    }
    let Ok(cwd) = std::env::current_dir() else {
        run::exec(&compiler, &args);
    };
    let req = compile_request(&cwd, &compiler.path, &args);
    let Some((mut conn, answer)) = daemon_link::send(&req, true) else {
        run::exec(&compiler, &args);
    };
    match answer {
        Response::Hit(out) | Response::Refused(out) => run::finish(&out),
        Response::Run { extra_args } => {
            let (out, echo) =
                run::capture_for_cache(&compiler, &args, &extra_args, run::Echo::Live);
            // The daemon stores the result; whatever it says, the build gets
            // the compiler's own output.
            let _ = conn.exchange(&Request::CompileFinished(out.clone()));
            match echo {
                run::Echo::Live => run::exit_as(out.exit_code),
                run::Echo::Later => run::finish(&out),
            }
        }
        Response::Split { jobs } => {
            let jobs: Vec<Vec<OsString>> = jobs
                .into_iter()
                .map(|j| {
                    j.into_iter()
                        .map(|a| OsString::from_vec(a.into_vec()))
                        .collect()
                })
                .collect();
            run::finish(&split::run_jobs(&cwd, &compiler, jobs))
        }
        _ => run::exec(&compiler, &args),
    }
}

/// The request for compiling `args` with `compiler` in `cwd`.
fn compile_request(
    cwd: &std::path::Path,
    compiler: &std::path::Path,
    args: &[OsString],
) -> Request {
    Request::Compile(CompileRequest {
        protocol: PROTOCOL_VERSION,
        cwd: ByteBuf::from(cwd.as_os_str().as_bytes().to_vec()),
        compiler: ByteBuf::from(compiler.as_os_str().as_bytes().to_vec()),
        args: args
            .iter()
            .map(|a| ByteBuf::from(a.as_bytes().to_vec()))
            .collect(),
        env: env_filter::env_for(compiler),
        stderr_tty: run::stderr_terminal().map(|columns| TtyInfo { columns }),
        umask: run::current_umask(),
    })
}

/// Runs the compiler without the daemon (used when ccd itself failed).
pub fn run_compiler_directly(inv: Invocation) -> ! {
    match resolve(inv) {
        Ok((compiler, args)) => run::exec(&compiler, &args),
        Err(msg) => {
            eprintln!("ccd: {msg}");
            std::process::exit(127);
        }
    }
}

fn resolve(inv: Invocation) -> Result<(Compiler, Vec<OsString>), String> {
    match inv {
        Invocation::Explicit { compiler, args } => {
            if compiler.as_bytes().contains(&b'/') {
                let path = PathBuf::from(&compiler);
                let path = std::path::absolute(&path).unwrap_or(path);
                return Ok((
                    Compiler {
                        path,
                        arg0: compiler,
                    },
                    args,
                ));
            }
            let path = find_in_path(&compiler).ok_or_else(|| {
                format!("{}: compiler not found in PATH", compiler.to_string_lossy())
            })?;
            // The name as typed when it finds this very compiler (gcc then
            // prints the same name in its errors); else the full path, as a
            // bare name would lead gcc to look for its own files next to
            // something else (a masquerade link earlier in PATH).
            let arg0 = if compiler_path::first_in_path(&compiler).as_ref() == Some(&path) {
                compiler
            } else {
                path.clone().into_os_string()
            };
            Ok((Compiler { path, arg0 }, args))
        }
        Invocation::Masquerade { name, args } => {
            let path = find_in_path(&name).ok_or_else(|| {
                format!(
                    "{}: no real compiler of this name later in PATH",
                    name.to_string_lossy()
                )
            })?;
            let arg0 = path.clone().into_os_string();
            Ok((Compiler { path, arg0 }, args))
        }
    }
}
