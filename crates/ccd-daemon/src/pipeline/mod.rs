//! The per-compile pipeline. This orchestrator reads top to bottom, one
//! phase per module; it alone answers the client, and every request ends
//! in one [`Outcome`], which [`crate::outcome::record`] counts and logs.
//!
//! 0. [`request_cache`]: a request seen before, byte for byte, whose inputs
//!    the file watcher vouches for, is served before it is even decoded;
//! 1. [`compiler_identity`]: which compiler, by content, probed by the
//!    family's frontend ([`frontend`]: [`gnu`] for C/C++, [`rustc`]);
//! 2. [`expand_args`]: `@file` arguments expanded as that compiler reads
//!    them; [`strict_paths`]: include paths spelled as the build demands;
//!    [`worktree`]: the checkout root and the arguments in effect when
//!    paths are remapped;
//! 3. [`classify`]: cacheable, several sources (split into one compile
//!    each), or passed through with a reason;
//! 4. [`context`]: the compile context and its key; [`fast_hit`]: a context
//!    verified before and untouched since is served at once;
//! 5. [`hash_verify`]: the source's digest and the manifest's verdict;
//! 6. [`cached_hit`]: on a hit, outputs in place and streams returned;
//! 7. [`miss`]: on a miss, the client compiles;
//! 8. [`store`]: a successful compile is stored, and [`seal`]ed for the
//!    fast paths (so is a hit).
//!
//! Whatever goes wrong inside ccd, the answer is to let the client run the
//! compiler: a build never fails because of the cache.

mod ask;
mod cached_hit;
mod classify;
mod compiler_identity;
mod context;
mod expand_args;
mod fast_hit;
#[cfg(test)]
mod footprint;
mod frontend;
mod gnu;
mod hash_verify;
mod miss;
mod request;
mod request_cache;
mod rustc;
mod seal;
mod store;
mod strict_paths;
#[cfg(test)]
mod test_support;
mod worktree;

use ccd_filestate::Digest;
use ccd_protocol::{ByteBuf, CompileOutput, CompileRequest, Driver, PROTOCOL_VERSION, Response};

use crate::channel::Channel;
use crate::daemon::Daemon;
use crate::outcome::{self, HitVia, MissEnd, Outcome, PassReason};
use crate::trace::Trace;
use classify::Classified;
use frontend::Frontend;
use request::Req;

/// Serves a request seen before from the request-level cache; `false`
/// when it is not one (the caller decodes it).
pub fn serve_seen_request(d: &Daemon, ch: &mut Channel, req_key: &Digest) -> bool {
    let started = std::time::Instant::now();
    let Some(seen) = request_cache::serve(d, req_key) else {
        return false;
    };
    let outcome = Outcome::Hit {
        via: HitVia::SeenRequest,
        saved_ms: seen.saved_ms,
    };
    outcome::record(
        d,
        &seen.trace,
        started.elapsed().as_millis() as u64,
        &outcome,
    );
    let _ = ch.send(&Response::Hit(seen.out));
    true
}

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
    let req = Req::from_wire(wire);
    let trace = Trace::start(req.trace_info());
    // The family, by the compiler's name: each has its frontend.
    match Driver::of(&req.compiler) {
        Driver::Gnu => compile(&gnu::Gnu, d, ch, req, req_key, trace),
        Driver::Rustc => compile(&rustc::Rustc, d, ch, req, req_key, trace),
    }
}

/// The rest of the pipeline, for a compile of `f`'s family.
fn compile<F: Frontend>(
    f: &F,
    d: &Daemon,
    ch: &mut Channel,
    mut req: Req,
    req_key: &Digest,
    mut trace: Trace,
) {
    // 1. Compiler identity.
    let compiler = match compiler_identity::identify(d, &req, f) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "not caching");
            return pass(d, ch, &trace, PassReason::UnknownCompiler);
        }
    };

    // 2. Argument files, read as this compiler reads them; strict paths on
    // the expanded arguments; worktree root and effective arguments.
    match expand_args::expand(d, &req, f.argument_files(&compiler)) {
        Some(e) => {
            req.args = e.args;
            req.response_files = e.files;
        }
        None => return pass(d, ch, &trace, PassReason::UnreadableResponseFile),
    }
    if let Err(message) = strict_paths::check(&req) {
        let refused = Response::Refused(CompileOutput {
            exit_code: 1,
            stdout: ByteBuf::new(),
            stderr: ByteBuf::from(format!("{message}\n")),
        });
        return finish(d, ch, &trace, refused, Outcome::Refused);
    }
    let remap = worktree::resolve(&mut req, F::DIALECT);
    if let Some(inject) = remap.active().and_then(|r| r.inject.clone()) {
        req.args.push(inject);
    }
    trace.info.path_remap = remap.describe();

    // 3. Classify.
    let inv = match f.classify(&req, &compiler) {
        Classified::Compile(inv) => inv,
        Classified::Split { jobs, sources } => {
            if !classify::may_split(&req, &sources) {
                return pass(d, ch, &trace, PassReason::MissingSource);
            }
            // Each job comes back as a compile of its own, counted there.
            let jobs = jobs
                .into_iter()
                .map(|j| j.into_iter().map(ByteBuf::from).collect())
                .collect();
            let _ = ch.send(&Response::Split { jobs });
            return;
        }
        Classified::Pass(reason) => return pass(d, ch, &trace, reason),
    };

    // 4. Compile context, and the fast hit for a context verified before.
    let ctx = match f.context(d, compiler, &inv, &req, &remap) {
        Ok(c) => c,
        Err(reason) => return pass(d, ch, &trace, reason),
    };
    ctx.describe(&mut trace.info);
    if let Some((out, saved_ms)) = fast_hit::serve(d, &ctx, &req, req_key, &trace.info) {
        let via = HitVia::VerifiedContext;
        return finish(
            d,
            ch,
            &trace,
            Response::Hit(out),
            Outcome::Hit { via, saved_ms },
        );
    }

    // 5. Hash the source and verify the manifest (once a store of this
    // context that is still being written is done).
    d.pending.wait_for(&ctx.key);
    let Ok(checked) = hash_verify::hash_and_verify(d, &ctx, &req) else {
        return pass(d, ch, &trace, PassReason::UnreadableSource);
    };

    // 6. Serve a hit, then seal it for next time.
    let miss = match cached_hit::serve(d, &ctx, &req, &checked) {
        Ok(hit) => {
            let (via, saved_ms) = (HitVia::Verified, hit.delivery.compile_ms);
            finish(
                d,
                ch,
                &trace,
                Response::Hit(hit.out),
                Outcome::Hit { via, saved_ms },
            );
            if hit.index > 0 {
                let _ = d.update_manifest(&ctx.key, |m| m.touch(hit.index));
            }
            if let Some(entry) = checked.manifest.entries.get(hit.index) {
                seal::remember(d, &ctx, &req, req_key, entry, hit.delivery, &trace.info);
            }
            return;
        }
        Err(miss) => miss,
    };

    // 7. Miss: the client runs the compiler. Its output paths are claimed
    // meanwhile: a compile whose outputs another one wrote is not stored.
    let plan = f.plan(d, &ctx, &inv, &req, checked.source.digest);
    let claim = d.claims.claim(ctx.written());
    let Some((out, took)) = miss::run_on_client(ch, &plan) else {
        miss::cleanup(&plan);
        let outcome = Outcome::Compiled {
            miss,
            end: MissEnd::ClientGone,
        };
        return outcome::record(d, &trace.info, trace.elapsed_ms(), &outcome);
    };

    // 8. Store a successful compile: take its outputs and what it read,
    // answer the client, then hash, record and write the rest (a request
    // for the same context waits for that, see `crate::pending`).
    let captured = if out.exit_code != 0 {
        Err(MissEnd::Failed)
    } else {
        f.capture(d, &ctx, &inv, &req, &plan)
            .and_then(|c| Ok((c, store::take_outputs(d, &ctx, &plan)?)))
            .and_then(|c| match claim.contended() {
                true => Err(outcome::NotStored::OutputContended),
                false => Ok(c),
            })
            .map_err(MissEnd::NotStored)
    };
    miss::cleanup(&plan);
    drop(claim);
    let (family_part, outputs) = match captured {
        Ok(c) => c,
        Err(end) => {
            return finish(
                d,
                ch,
                &trace,
                Response::Stored,
                Outcome::Compiled { miss, end },
            );
        }
    };
    let _pending = d.pending.begin(ctx.key);
    let _ = ch.send(&Response::Stored);
    let compile_ms = took.as_millis() as u64;
    let stored = f
        .learn(d, &ctx, &inv, &req, &plan, family_part)
        .and_then(|learned| store::store(d, &ctx, &out, outputs, learned, compile_ms));
    let end = match &stored {
        Ok(_) => MissEnd::Stored,
        Err(reason) => MissEnd::NotStored(reason.clone()),
    };
    outcome::record(
        d,
        &trace.info,
        trace.elapsed_ms(),
        &Outcome::Compiled { miss, end },
    );
    if let Ok(entry) = stored
        && let Ok(delivery) = cached_hit::prepare(d, &ctx, &req, &entry.result)
    {
        let root = ctx.root.as_ref().map(|r| r.root.as_path());
        let entry = worktree::entry_from_key(root, entry);
        seal::remember(d, &ctx, &req, req_key, &entry, delivery, &trace.info);
    }
}

/// Counts and logs `outcome`, then gives the client `reply` (in that
/// order: a build that asks `ccd status` right after sees it counted).
fn finish(d: &Daemon, ch: &mut Channel, trace: &Trace, reply: Response, outcome: Outcome) {
    outcome::record(d, &trace.info, trace.elapsed_ms(), &outcome);
    let _ = ch.send(&reply);
}

/// Lets the client run the compiler unchanged.
fn pass(d: &Daemon, ch: &mut Channel, trace: &Trace, reason: PassReason) {
    finish(
        d,
        ch,
        trace,
        Response::Passthrough,
        Outcome::NonCacheable(reason),
    );
}
