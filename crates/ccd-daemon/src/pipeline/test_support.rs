//! What unit tests of the phases build on: requests, a compiler that needs
//! no probing, and contexts, over a daemon from `daemon::for_tests`.

use std::path::Path;
use std::sync::Arc;

use ccd_filestate::{Digest, stat};
use ccd_protocol::{ByteBuf, CompileRequest, PROTOCOL_VERSION};

use super::context::Context;
use super::request::Req;
use super::worktree::{self, Dialect};
use crate::compiler::{Compiler, CompilerKind};
use crate::daemon::Daemon;

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
