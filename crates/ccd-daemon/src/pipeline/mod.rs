//! The per-compile pipeline. Each phase is a module; this orchestrator reads
//! top to bottom:
//!
//! 1. [`expand_args`]: response files expanded; [`strict_paths`]: include
//!    paths spelled as the build demands; [`worktree`]: the checkout root
//!    and the arguments in effect when paths are remapped;
//! 2. [`compiler_identity`]: which compiler, by content;
//! 3. [`classify`]: cacheable, several sources (split into one compile
//!    each), or passed through with a reason;
//! 4. [`context`]: the compile context and its key; a context verified
//!    before and untouched since is served by [`fast_paths`];
//! 5. [`hash_verify`]: source digest and the manifest's verdict;
//! 6. [`cached_hit`]: on a hit, outputs in place and streams returned;
//! 7. [`compile_exec`]: on a miss, the client compiles;
//! 8. [`store_outcome`]: a successful compile is stored
//!    ([`system_includes`] and [`include_probes`] record its lookups).
//!
//! In front of all this, [`fast_paths`] serves a request seen before, byte
//! for byte, whose inputs the file watcher vouches for.
//!
//! Whatever goes wrong inside ccd, the answer is to let the client run the
//! compiler: a build never fails because of the cache.

pub mod cached_hit;
pub mod classify;
pub mod compile_exec;
pub mod compiler_identity;
pub mod context;
pub mod expand_args;
pub mod fast_paths;
pub mod hash_verify;
pub mod include_probes;
pub mod request;
pub mod rust;
pub mod store_outcome;
pub mod strict_paths;
pub mod system_includes;
pub mod trace;
pub mod worktree;

use ccd_filestate::Digest;
use ccd_protocol::{ByteBuf, CompileOutput, CompileRequest, PROTOCOL_VERSION, Response};

use crate::connection::Channel;
use crate::state::Daemon;
use crate::stats::Stats;
use classify::Class;
use request::Req;
use trace::Trace;

/// Handles a compile request; `req_key` digests its exact bytes.
pub fn handle_compile(d: &Daemon, ch: &mut Channel, wire: CompileRequest, req_key: &Digest) {
    if wire.protocol != PROTOCOL_VERSION {
        let _ = ch.send(&Response::Error {
            message: format!(
                "protocol {} (daemon speaks {PROTOCOL_VERSION})",
                wire.protocol
            ),
        });
        return;
    }
    let mut req = Req::from_wire(wire);
    let mut trace = Trace::start(&req);

    // 1. Response files.
    match expand_args::expand(d, &req) {
        Some(e) => {
            req.args = e.args;
            req.response_files = e.files;
        }
        None => return passthrough(d, ch, &trace, "unreadable response file"),
    }

    // 1a. Strict path validation, on the expanded arguments.
    if let Err(message) = strict_paths::check(&req) {
        Stats::bump(&d.stats.errors);
        trace.record(d, "Error", "strict paths", 0);
        let _ = ch.send(&Response::Refused(CompileOutput {
            exit_code: 1,
            stdout: ByteBuf::new(),
            stderr: ByteBuf::from(format!("{message}\n")),
        }));
        return;
    }

    // 2. Compiler identity.
    let compiler = match compiler_identity::identify(d, &req) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "not caching");
            return passthrough(d, ch, &trace, "unknown compiler");
        }
    };

    // rustc has its own reading of invocations and inputs.
    if compiler.rustc {
        return rust::handle(d, ch, req, compiler, req_key, trace);
    }

    // 2b. Worktree root and effective arguments (path remapping).
    let remap = worktree::resolve(&req);
    if let worktree::Remap::Active(r) = &remap
        && let Some(inject) = &r.inject
    {
        req.args.push(inject.clone());
    }
    trace.remap(&remap);

    // 3. Classify.
    let inv = match classify::classify(&req, compiler.family) {
        Class::Compile(inv) => *inv,
        Class::Split(jobs, sources) => {
            // Compilers differ on a missing source (gcc compiles the others,
            // clang none): let the compiler itself handle that case.
            if sources
                .iter()
                .any(|s| std::fs::metadata(req.abs(s)).is_err())
            {
                return passthrough(d, ch, &trace, "missing source file");
            }
            let jobs = jobs
                .into_iter()
                .map(|j| j.into_iter().map(ByteBuf::from).collect())
                .collect();
            let _ = ch.send(&Response::Split { jobs });
            return;
        }
        Class::NotCached(reason) => {
            tracing::debug!(%reason, "not caching");
            return passthrough(d, ch, &trace, reason.label());
        }
    };

    // 4. Compile context, and the fast hit for a context verified before.
    let ctx = context::build(compiler, &inv, &req, &remap);
    trace.context(&ctx);
    if let Some((out, saved_ms)) = fast_paths::try_fast_hit(d, &ctx, &req, req_key, trace.info()) {
        let _ = ch.send(&Response::Hit(out));
        trace.record(
            d,
            "Hit",
            "context verified before, inputs untouched",
            saved_ms,
        );
        return;
    }

    // 5. Hash the source and verify the manifest (once a store of this
    // context that is still being written is done).
    d.pending.wait_for(&ctx.key);
    let checked = match hash_verify::hash_and_verify(d, &ctx, &req) {
        Ok(c) => c,
        // A missing source: the compiler reports it best.
        Err(_) => return passthrough(d, ch, &trace, "unreadable source"),
    };

    // 6. Serve a hit.
    if cached_hit::serve_verified(d, ch, &ctx, &req, req_key, &trace, &checked) {
        return;
    }

    // 7. Miss: the client runs the compiler.
    Stats::bump(&d.stats.misses);
    let plan = compile_exec::plan(d, &ctx, &inv, &req, checked.source.digest);
    let written = ctx.outputs.iter().map(|(_, p)| p.as_path());
    let claim = d.claims.claim(written.chain(ctx.user_depfile.as_deref()));
    let Some((out, took)) = compile_exec::run_on_client(ch, &plan) else {
        compile_exec::cleanup(&plan);
        return;
    };

    // 8. Store a successful compile: take its outputs and dependency list,
    // answer the client, then hash, record and write the rest (a request
    // for the same context waits for that, see `crate::pending`).
    let miss = trace::verdict_name(&checked.verdict);
    let captured = if out.exit_code != 0 {
        Stats::bump(&d.stats.errors);
        trace.record(d, "Error", &format!("{miss}; the compiler failed"), 0);
        None
    } else {
        match store_outcome::capture(d, &ctx, &inv, &req, &plan, took.as_millis() as u64) {
            Ok(_) if claim.contended() => {
                let reason = "another compile or hit wrote an output meanwhile";
                not_stored(d, &trace, &ctx, miss, reason);
                None
            }
            Ok(c) => Some(c),
            Err(reason) => {
                not_stored(d, &trace, &ctx, miss, reason);
                None
            }
        }
    };
    compile_exec::cleanup(&plan);
    drop(claim);
    let _pending = captured.as_ref().map(|_| d.pending.begin(ctx.key));
    let _ = ch.send(&Response::Stored);
    let Some(captured) = captured else { return };

    let store_started = std::time::Instant::now();
    let stored = store_outcome::store(d, &ctx, &inv, &req, &plan, &out, captured);
    tracing::debug!(
        source = %ctx.source.display(),
        us = store_started.elapsed().as_micros() as u64,
        "store took"
    );
    let entry = match stored {
        Ok(entry) => {
            trace.record(d, miss, "compiled and stored", 0);
            entry
        }
        Err(reason) => return not_stored(d, &trace, &ctx, miss, reason),
    };
    if let Ok(delivery) = cached_hit::prepare(d, &ctx, &req, &entry.result) {
        let entry = worktree::entry_from_key(ctx.root.as_ref().map(|r| r.root.as_path()), entry);
        fast_paths::remember(d, &ctx, &req, req_key, &entry, delivery, trace.info());
    }
}

fn not_stored(
    d: &Daemon,
    trace: &Trace,
    ctx: &context::Context,
    miss: &'static str,
    reason: &'static str,
) {
    tracing::info!(source = %ctx.source.display(), reason, "result not stored");
    d.stats.not_stored(reason);
    trace.record(d, miss, &format!("compiled, not stored: {reason}"), 0);
}

pub(crate) fn passthrough(d: &Daemon, ch: &mut Channel, trace: &Trace, reason: &'static str) {
    d.stats.non_cacheable(reason);
    let _ = ch.send(&Response::Passthrough);
    trace.record(d, "NonCacheable", reason, 0);
}
