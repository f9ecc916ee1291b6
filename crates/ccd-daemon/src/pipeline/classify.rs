//! Phase: classify the invocation: cacheable, or passed through with a reason.

use std::os::unix::ffi::OsStrExt;

use ccd_cc::{Invocation, NonCacheable, Parsed};

use super::request::Req;

pub enum Class {
    Compile(Box<Invocation>),
    /// Several sources: one argument list per source, and the sources.
    Split(Vec<Vec<Vec<u8>>>, Vec<Vec<u8>>),
    NotCached(NonCacheable),
}

pub fn classify(req: &Req, family: ccd_cc::Family) -> Class {
    // These make the preprocessor write a dependency file ccd knows nothing of.
    for var in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"] {
        if req.env(var).is_some() {
            return Class::NotCached(NonCacheable::UnsupportedOption(var.into()));
        }
    }
    let name = req
        .compiler
        .file_name()
        .map(|n| n.as_bytes())
        .unwrap_or_default();
    match ccd_cc::parse_for(&req.args, ccd_cc::Family::is_cxx_driver_name(name)) {
        // A clang precompiled header records its headers' mtimes and is
        // refused when they differ, which a restored copy cannot promise.
        Parsed::Cacheable(inv)
            if inv.mode == ccd_cc::Mode::Pch
                && family == ccd_cc::Family::Clang
                && !inv.key_args.iter().any(|a| a == b"-fno-pch-timestamp") =>
        {
            Class::NotCached(NonCacheable::UnsupportedOption(
                "clang precompiled header without -Xclang -fno-pch-timestamp".into(),
            ))
        }
        Parsed::Cacheable(inv) => Class::Compile(inv),
        Parsed::MultiFile { jobs, sources } => Class::Split(jobs, sources),
        Parsed::NonCacheable(reason) => Class::NotCached(reason),
    }
}
