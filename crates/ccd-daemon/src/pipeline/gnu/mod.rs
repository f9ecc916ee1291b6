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

use ccd_cc::response_file::Reader;
use ccd_cc::{Family, Invocation, NonCacheable, Parsed};
use ccd_filestate::Digest;

use super::ask::IdentifyError;
use super::classify::Classified;
use super::context::Context;
use super::expand_args::Syntax;
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

    fn argument_files(&self, compiler: &Compiler) -> Syntax {
        match compiler.kind {
            CompilerKind::Gnu(Family::Clang) => Syntax::Gnu(Reader::Clang),
            _ => Syntax::Gnu(Reader::Gcc),
        }
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

#[cfg(test)]
pub fn context_for_tests(
    compiler: Arc<Compiler>,
    inv: &Invocation,
    req: &Req,
    remap: &Remap,
) -> Context {
    context::build(compiler, inv, req, remap)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::test_support::{gcc, gnu_context, req};
    use super::*;
    use crate::daemon::for_tests;

    fn classify(args: &[&str], env: &[(&str, &str)], family: Family) -> Classified<Invocation> {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let mut compiler = (*gcc(&d)).clone();
        compiler.kind = CompilerKind::Gnu(family);
        Gnu.classify(&req(t.path(), "/usr/bin/gcc", args, env), &compiler)
    }

    fn passed(c: Classified<Invocation>) -> PassReason {
        match c {
            Classified::Pass(r) => r,
            Classified::Compile(_) => panic!("cacheable"),
            Classified::Split { .. } => panic!("split"),
        }
    }

    #[test]
    fn what_is_passed_through_and_why() {
        let gcc = Family::Gcc;
        let r = passed(classify(&["-E", "a.c"], &[], gcc));
        assert_eq!(r, PassReason::Gnu(NonCacheable::Preprocess));
        let r = passed(classify(
            &["-c", "a.c"],
            &[("DEPENDENCIES_OUTPUT", "d")],
            gcc,
        ));
        assert_eq!(r.label(), "unsupported option");
        assert!(r.to_string().contains("DEPENDENCIES_OUTPUT"), "{r}");
        // A clang precompiled header checks its headers' mtimes.
        let pch = ["-x", "c-header", "-c", "p.h", "-o", "p.h.pch"];
        assert!(matches!(
            classify(&pch, &[], Family::Clang),
            Classified::Pass(_)
        ));
        assert!(matches!(classify(&pch, &[], gcc), Classified::Compile(_)));
        let pch_fixed = [&pch[..], &["-Xclang", "-fno-pch-timestamp"]].concat();
        assert!(matches!(
            classify(&pch_fixed, &[], Family::Clang),
            Classified::Compile(_)
        ));
        assert!(matches!(
            classify(&["-c", "a.c", "b.c"], &[], gcc),
            Classified::Split { .. }
        ));
    }

    #[test]
    fn keys_follow_what_changes_the_output() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let key = |dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]| {
            let mut r = req(dir, "/usr/bin/gcc", args, env);
            gnu_context(&d, &mut r).1
        };
        let w = t.path();
        let base = key(w, &["-c", "a.c", "-DX=1"], &[]);
        assert_ne!(base.key, key(w, &["-c", "a.c", "-DX=2"], &[]).key);
        assert_ne!(base.key, key(w, &["-c", "a.c", "-DX=1", "-MD"], &[]).key);
        assert_ne!(
            base.key,
            key(w, &["-c", "a.c", "-DX=1"], &[("LANG", "de")]).key
        );
        // Where the object goes is not keyed (a hit can be put anywhere).
        assert_eq!(
            base.key,
            key(w, &["-c", "a.c", "-DX=1", "-o", "x.o"], &[]).key
        );
        assert_eq!(
            base.key,
            key(w, &["-c", "a.c", "-DX=1"], &[("CCD_LOG", "debug")]).key
        );

        // Two checkouts share a context, each with its own local key;
        // a precompiled header does not cross checkouts.
        let remap = [("CCD_PATH_REMAP", "auto")];
        let mut ctx = Vec::new();
        for name in ["one", "two"] {
            let co = w.join(name);
            fs::create_dir_all(co.join(".git")).unwrap();
            let obj = key(&co, &["-c", "a.c"], &remap);
            let pch = key(&co, &["-x", "c-header", "-c", "p.h"], &remap);
            ctx.push((obj, pch));
        }
        assert_eq!(ctx[0].0.key, ctx[1].0.key);
        assert_ne!(ctx[0].0.local_key, ctx[1].0.local_key);
        assert!(ctx[0].0.crosses_checkouts && !ctx[0].1.crosses_checkouts);
        assert_ne!(ctx[0].1.key, ctx[1].1.key);
    }
}
