//! The pipeline for rustc (`RUSTC_WRAPPER=ccd cargo build`). Same phases as
//! for C/C++, and the same fast paths, store and verification; what
//! differs is how the invocation is read ([`ccd_rustc`]), what the key
//! holds ([`context`]) and how inputs are learned after a miss ([`store`]):
//! from rustc's dep-info (sources, `env!` variables), the `--extern`
//! crates, native libraries and the linker.
//!
//! Failed compiles are stored too and replayed with their exact stderr and
//! exit code (a crate that does not compile keeps not compiling until an
//! input changes).

pub mod context;
pub mod store;

use std::sync::Arc;

use ccd_filestate::Digest;
use ccd_protocol::Response;
use ccd_rustc::RustParsed;

use super::compiler_identity::Compiler;
use super::request::Req;
use super::trace::{self, Trace};
use super::{cached_hit, compile_exec, fast_paths, hash_verify, passthrough, worktree};
use crate::connection::Channel;
use crate::state::Daemon;
use crate::stats::Stats;

pub fn handle(
    d: &Daemon,
    ch: &mut Channel,
    mut req: Req,
    compiler: Arc<Compiler>,
    req_key: &Digest,
    mut trace: Trace,
) {
    // Two checkouts share entries with CCD_PATH_REMAP=auto.
    let remap = worktree::resolve_rust(&req);
    if let worktree::Remap::Active(r) = &remap
        && let Some(inject) = &r.inject
    {
        req.args.push(inject.clone());
    }
    trace.remap(&remap);
    let req = &req;
    let inv = match ccd_rustc::parse(&req.args) {
        RustParsed::Cacheable(inv) => *inv,
        RustParsed::NonCacheable(reason) => {
            tracing::debug!(%reason, "rustc: not caching");
            return passthrough(d, ch, &trace, rust_reason(&reason));
        }
    };
    let ctx = match context::build(d, compiler, &inv, req, &remap) {
        Ok(c) => c,
        Err(reason) => return passthrough(d, ch, &trace, reason),
    };
    trace.context(&ctx);
    if let Some((out, saved_ms)) = fast_paths::try_fast_hit(d, &ctx, req, req_key, trace.info()) {
        let _ = ch.send(&Response::Hit(out));
        trace.record(
            d,
            "Hit",
            "context verified before, inputs untouched",
            saved_ms,
        );
        return;
    }
    let checked = match hash_verify::hash_and_verify(d, &ctx, req) {
        Ok(c) => c,
        Err(_) => return passthrough(d, ch, &trace, "unreadable source"),
    };
    if cached_hit::serve_verified(d, ch, &ctx, req, req_key, &trace, &checked) {
        return;
    }

    Stats::bump(&d.stats.misses);
    let plan = store::plan(d, &ctx, &inv, req, checked.source.digest);
    let Some((out, took)) = compile_exec::run_on_client(ch, &plan) else {
        compile_exec::cleanup(&plan);
        return;
    };
    let miss = trace::verdict_name(&checked.verdict);
    // A failure is not stored: its dep-info leaves out what made it fail
    // (a missing `mod` file, an `include_str!` file that was absent, a
    // module both `m.rs` and `m/mod.rs`), so a replay outlived the fix.
    let stored = if out.exit_code != 0 {
        Stats::bump(&d.stats.errors);
        trace.record(d, "Error", &format!("{miss}; the compiler failed"), 0);
        None
    } else {
        let stored = store::store(d, &ctx, &inv, req, &plan, &out, took.as_millis() as u64);
        match &stored {
            Ok(_) => trace.record(d, miss, "compiled and stored", 0),
            Err(reason) => {
                tracing::info!(source = %ctx.source.display(), reason, "rustc result not stored");
                d.stats.not_stored(reason);
                trace.record(d, miss, &format!("not stored: {reason}"), 0);
            }
        }
        stored.ok()
    };
    compile_exec::cleanup(&plan);
    let _ = ch.send(&Response::Stored);
    if let Some(entry) = stored
        && let Ok(delivery) = cached_hit::prepare(d, &ctx, req, &entry.result)
    {
        let entry = worktree::entry_from_key(ctx.root.as_ref().map(|r| r.root.as_path()), entry);
        fast_paths::remember(d, &ctx, req, req_key, &entry, delivery, trace.info());
    }
}

/// Stable labels for the statistics.
fn rust_reason(r: &str) -> &'static str {
    match r {
        "-C incremental" => "rustc: -C incremental",
        "version/info query" => "rustc: version/info query",
        "--print" => "rustc: --print",
        "source from stdin" => "rustc: source from stdin",
        _ if r.starts_with("crate type") => "rustc: crate type",
        _ if r.starts_with("-Z") => "rustc: -Z option",
        _ if r.contains("link-arg") => "rustc: -C link-arg on a linked crate",
        _ => "rustc: unsupported option",
    }
}
