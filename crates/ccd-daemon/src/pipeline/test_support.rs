//! What unit tests of the phases build on: requests, a compiler that needs
//! no probing, and contexts, over a daemon from `daemon::for_tests`.

use std::path::Path;
use std::sync::Arc;

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ccd_depgraph::{Input, ManifestEntry};
use ccd_filestate::{Digest, stat};
use ccd_protocol::{ByteBuf, CompileOutput, CompileRequest, PROTOCOL_VERSION};

use super::context::Context;
use super::miss::{DepSource, Plan};
use super::request::Req;
use super::store::{Learned, store, take_outputs};
use super::worktree::{self, Dialect};
use crate::compiler::{Compiler, CompilerKind};
use crate::daemon::Daemon;
use crate::outcome::NotStored;

/// `compiler args...` in `cwd`, with `env`.
pub fn req(cwd: &Path, compiler: &str, args: &[&str], env: &[(&str, &str)]) -> Req {
    let b = |s: &str| ByteBuf::from(s.as_bytes().to_vec());
    Req::from_wire(CompileRequest {
        protocol: PROTOCOL_VERSION,
        cwd: ByteBuf::from(cwd.as_os_str().as_encoded_bytes().to_vec()),
        compiler: b(compiler),
        args: args.iter().map(|a| b(a)).collect(),
        env: env.iter().map(|(k, v)| (b(k), b(v))).collect(),
        stderr_tty: None,
        umask: 0o022,
    })
}

/// A gcc that is known without probing: its identity is this test
/// binary's stamp (so the seal has a compiler file to watch).
pub fn gcc(d: &Daemon) -> Arc<Compiler> {
    let path = std::path::PathBuf::from("/usr/bin/gcc");
    let compiler = Arc::new(Compiler {
        path: path.clone(),
        kind: CompilerKind::Gnu(ccd_cc::Family::Gcc),
        digest: Digest([7; 32]),
        honors_source_date_epoch: true,
    });
    let me = std::env::current_exe().unwrap();
    let stamps = vec![(me.clone(), stat(&me).unwrap())];
    d.memo.remember_compiler(stamps, Arc::clone(&compiler));
    compiler
}

/// The context of a GNU-style compile `req` (its invocation must be
/// cacheable), with checkout sharing as the request asks.
pub fn gnu_context(d: &Daemon, req: &mut Req) -> (ccd_cc::Invocation, Context) {
    let remap = worktree::resolve(req, Dialect::Gnu);
    if let Some(inject) = remap.active().and_then(|r| r.inject.clone()) {
        req.args.push(inject);
    }
    let ccd_cc::Parsed::Cacheable(inv) = ccd_cc::parse_for(&req.args, false) else {
        panic!("not a cacheable compile: {:?}", req.args);
    };
    let ctx = super::gnu::context_for_tests(gcc(d), &inv, req, &remap);
    (*inv, ctx)
}

/// A directory `name` under `root` holding the source `a.c` (and `.git`,
/// a checkout's mark, when `checkout`).
pub fn work_dir(root: &Path, name: &str, checkout: bool) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(if checkout {
        dir.join(".git")
    } else {
        dir.clone()
    })
    .unwrap();
    std::fs::write(dir.join("a.c"), "int a;\n").unwrap();
    dir
}

/// The plan of a miss whose only input is its source (as far as the
/// tests are concerned).
pub fn plan(d: &Daemon, ctx: &Context) -> Plan {
    let source = d.files.digest(&ctx.source).unwrap().digest;
    Plan::new(ctx, source, DepSource::SourceOnly, vec![], vec![], None)
}

/// A miss of `ctx`: the compiler writes `object` and prints `stderr`;
/// the result is stored, made from the source alone.
pub fn compiled(
    d: &Daemon,
    ctx: &Context,
    object: &[u8],
    stderr: &str,
) -> Result<ManifestEntry, NotStored> {
    let plan = plan(d, ctx);
    std::fs::write(ctx.output(), object).unwrap();
    let outputs = take_outputs(d, ctx, &plan)?;
    let learned = Learned {
        inputs: vec![Input {
            path: ctx.source.as_os_str().as_bytes().to_vec(),
            digest: plan.source_digest,
        }],
        ..Learned::default()
    };
    let out = CompileOutput {
        exit_code: 0,
        stdout: ByteBuf::new(),
        stderr: ByteBuf::from(stderr.as_bytes().to_vec()),
    };
    store(d, ctx, &out, outputs, learned, 5)
}
