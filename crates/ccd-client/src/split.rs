//! Several sources in one command (`gcc -c a.c b.c c.c`): the daemon splits
//! it into one compile per source; each goes through the cache on its own
//! (hits served, misses compiled, in parallel), and the outputs are put
//! together as one compiler run would print them: stdout and stderr in
//! source order, and the first failing status.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Mutex;

use ccd_protocol::{ByteBuf, CompileOutput, Request, Response};

use crate::{Compiler, compile_request, daemon_link, run};

pub fn run_jobs(cwd: &Path, compiler: &Compiler, jobs: Vec<Vec<OsString>>) -> CompileOutput {
    let n = jobs.len();
    let results: Vec<Mutex<Option<CompileOutput>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = Mutex::new(0usize);
    let workers = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .min(n);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut g = next.lock().unwrap_or_else(|p| p.into_inner());
                        let i = *g;
                        *g += 1;
                        i
                    };
                    let Some(job) = jobs.get(i) else { break };
                    let out = one(cwd, compiler, job);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
                }
            });
        }
    });
    let mut all = CompileOutput::default();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    for r in results {
        let out = r
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_default();
        stdout.extend_from_slice(&out.stdout);
        stderr.extend_from_slice(&out.stderr);
        if all.exit_code == 0 {
            all.exit_code = out.exit_code;
        }
    }
    all.stdout = ByteBuf::from(stdout);
    all.stderr = ByteBuf::from(stderr);
    all
}

/// One source: through the daemon when it answers, else the compiler alone.
fn one(cwd: &Path, compiler: &Compiler, args: &[OsString]) -> CompileOutput {
    let req = compile_request(cwd, &compiler.path, args);
    let Some((mut conn, answer)) = daemon_link::send(&req, true) else {
        return run::capture(compiler, args, &[], run::Echo::Later);
    };
    match answer {
        Response::Hit(out) | Response::Refused(out) => out,
        Response::Run { extra_args } => {
            // Several compiles at once: their output is combined at the end.
            let (out, _) = run::capture_for_cache(compiler, args, &extra_args, run::Echo::Later);
            let _ = conn.exchange(&Request::CompileFinished(out.clone()));
            out
        }
        _ => run::capture(compiler, args, &[], run::Echo::Later),
    }
}
