//! The frontend of GNU-style C/C++ drivers: gcc, g++, cc, c++, clang,
//! clang++. What they read is learned from the compiler's own dependency
//! output and every `#include` lookup's resolution is recorded, so a hit
//! needs no preprocessor run ([`learn`]).

mod context;
mod include_probes;
mod learn;
mod plan;
mod probe;
mod system_includes;

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use ccd_cc::{Family, Invocation, NonCacheable, Parsed};
use ccd_filestate::Digest;

use super::classify::Classified;
use super::compiler_identity::IdentifyError;
use super::context::Context;
use super::frontend::Frontend;
use super::miss::Plan;
use super::request::Req;
use super::store::Learned;
use super::worktree::{Dialect, Remap};
use crate::compiler::{Compiler, CompilerKind, Stamps};
use crate::daemon::Daemon;
use crate::outcome::{NotStored, PassReason};

pub struct Gnu;

impl Frontend for Gnu {
    type Invocation = Invocation;
    type Captured = learn::Captured;

    const DIALECT: Dialect = Dialect::Gnu;

    fn probe(&self, req: &Req) -> Result<(Stamps, Compiler), IdentifyError> {
        probe::probe(req)
    }

    fn classify(&self, req: &Req, compiler: &Compiler) -> Classified<Invocation> {
        let not_cached = |r| Classified::Pass(PassReason::Gnu(r));
        // These make the preprocessor write a dependency file ccd knows
        // nothing of.
        for var in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"] {
            if req.env(var).is_some() {
                return not_cached(NonCacheable::UnsupportedOption(var.into()));
            }
        }
        let name = req
            .compiler
            .file_name()
            .map(|n| n.as_bytes())
            .unwrap_or_default();
        match ccd_cc::parse_for(&req.args, Family::is_cxx_driver_name(name)) {
            // A clang precompiled header records its headers' mtimes and is
            // refused when they differ, which a restored copy cannot promise.
            Parsed::Cacheable(inv)
                if inv.mode == ccd_cc::Mode::Pch
                    && compiler.kind == CompilerKind::Gnu(Family::Clang)
                    && !inv.key_args.iter().any(|a| a == b"-fno-pch-timestamp") =>
            {
                not_cached(NonCacheable::UnsupportedOption(
                    "clang precompiled header without -Xclang -fno-pch-timestamp".into(),
                ))
            }
            Parsed::Cacheable(inv) => Classified::Compile(*inv),
            Parsed::MultiFile { jobs, sources } => Classified::Split { jobs, sources },
            Parsed::NonCacheable(reason) => not_cached(reason),
        }
    }

    fn context(
        &self,
        _d: &Daemon,
        compiler: Arc<Compiler>,
        inv: &Invocation,
        req: &Req,
        remap: &Remap,
    ) -> Result<Context, PassReason> {
        Ok(context::build(compiler, inv, req, remap))
    }

    fn plan(&self, d: &Daemon, ctx: &Context, inv: &Invocation, req: &Req, source: Digest) -> Plan {
        plan::plan(d, ctx, inv, req, source)
    }

    fn capture(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &Invocation,
        req: &Req,
        plan: &Plan,
    ) -> Result<learn::Captured, NotStored> {
        learn::capture(d, ctx, inv, req, plan)
    }

    fn learn(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &Invocation,
        req: &Req,
        plan: &Plan,
        captured: learn::Captured,
    ) -> Result<Learned, NotStored> {
        learn::learn(d, ctx, inv, req, plan, captured)
    }
}

/// The family of a GNU-style compiler (its frontend only ever sees those).
fn family(c: &Compiler) -> Family {
    match c.kind {
        CompilerKind::Gnu(f) => f,
        // Unreachable in practice: rustc has its own frontend. gcc's
        // conventions are the safe default for depfiles.
        CompilerKind::Rustc => Family::Gcc,
    }
}
