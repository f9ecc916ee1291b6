//! The frontend of rustc under cargo (`RUSTC_WRAPPER=ccd cargo build`).
//! What differs from C/C++ is how the invocation is read ([`ccd_rustc`]),
//! what the key holds ([`context`]: the cargo variables that reach the
//! crate, the linker of a linked crate) and how a miss learns its inputs
//! ([`learn`]: rustc's dep-info, with its sources and the `env!`
//! variables it read, the `--extern` crates, native libraries).

mod context;
mod learn;
mod probe;

use std::sync::Arc;

use ccd_filestate::Digest;
use ccd_rustc::{RustInvocation, RustParsed};

use super::ask::IdentifyError;
use super::classify::Classified;
use super::context::Context;
use super::expand_args::Syntax;
use super::frontend::Frontend;
use super::miss::Plan;
use super::request::Req;
use super::store::Learned;
use super::worktree::{Dialect, Remap};
use crate::compiler::{Compiler, Stamps};
use crate::daemon::Daemon;
use crate::outcome::{NotStored, PassReason};

pub struct Rustc;

impl Frontend for Rustc {
    type Invocation = RustInvocation;
    type Captured = learn::Captured;

    const DIALECT: Dialect = Dialect::Rustc;

    fn probe(&self, req: &Req) -> Result<(Stamps, Compiler), IdentifyError> {
        probe::probe(req)
    }

    fn argument_files(&self, _compiler: &Compiler) -> Syntax {
        Syntax::Lines
    }

    fn classify(&self, req: &Req, _compiler: &Compiler) -> Classified<RustInvocation> {
        match ccd_rustc::parse(&req.args) {
            RustParsed::Cacheable(inv) => Classified::Compile(*inv),
            RustParsed::NonCacheable(reason) => Classified::Pass(PassReason::Rustc(reason)),
        }
    }

    fn context(
        &self,
        d: &Daemon,
        compiler: Arc<Compiler>,
        inv: &RustInvocation,
        req: &Req,
        remap: &Remap,
    ) -> Result<Context, PassReason> {
        context::build(d, compiler, inv, req, remap)
    }

    fn plan(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &RustInvocation,
        req: &Req,
        source: Digest,
    ) -> Plan {
        learn::plan(d, ctx, inv, req, source)
    }

    fn capture(
        &self,
        _d: &Daemon,
        ctx: &Context,
        _inv: &RustInvocation,
        _req: &Req,
        plan: &Plan,
    ) -> Result<learn::Captured, NotStored> {
        learn::capture(ctx, plan)
    }

    fn learn(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &RustInvocation,
        req: &Req,
        plan: &Plan,
        captured: learn::Captured,
    ) -> Result<Learned, NotStored> {
        learn::learn(d, ctx, inv, req, plan, captured)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{gcc, req};
    use super::super::worktree;
    use super::*;
    use crate::compiler::CompilerKind;
    use crate::daemon::for_tests;

    const LIB: &[&str] = &[
        "--crate-name",
        "dep",
        "--edition=2021",
        "src/lib.rs",
        "--crate-type",
        "lib",
        "--emit=dep-info,metadata,link",
        "--out-dir",
        "/t/deps",
    ];

    #[test]
    fn probes_pass_through_with_their_own_label() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let c = gcc(&d);
        let r = req(t.path(), "/usr/bin/rustc", &["-vV"], &[]);
        let Classified::Pass(reason) = Rustc.classify(&r, &c) else {
            panic!("cacheable")
        };
        assert_eq!(reason.label(), "rustc: version/info query");
    }

    #[test]
    fn the_key_holds_what_cargo_tells_the_crate_and_nothing_per_build() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let mut compiler = (*gcc(&d)).clone();
        compiler.kind = CompilerKind::Rustc;
        let compiler = Arc::new(compiler);
        let key = |env: &[(&str, &str)]| {
            let mut r = req(t.path(), "/usr/bin/rustc", LIB, env);
            let Classified::Compile(inv) = Rustc.classify(&r, &compiler) else {
                panic!("not cacheable")
            };
            let remap = worktree::resolve(&mut r, Dialect::Rustc);
            let ctx = Rustc
                .context(&d, Arc::clone(&compiler), &inv, &r, &remap)
                .unwrap();
            (ctx.key, ctx.outputs.len())
        };
        let (base, outputs) = key(&[("CARGO_PKG_VERSION", "1.0.0")]);
        assert_eq!(outputs, 3, "rlib, dep-info, rmeta");
        assert_ne!(base, key(&[("CARGO_PKG_VERSION", "1.0.1")]).0);
        assert_eq!(
            base,
            key(&[("CARGO_PKG_VERSION", "1.0.0"), ("CARGO_MAKEFLAGS", "-j4")]).0,
            "the jobserver changes every build and changes nothing"
        );
        assert_eq!(
            base,
            key(&[("CARGO_PKG_VERSION", "1.0.0"), ("HOME", "/elsewhere")]).0,
            "what the crate reads is in its dep-info, not the key"
        );
    }
}
