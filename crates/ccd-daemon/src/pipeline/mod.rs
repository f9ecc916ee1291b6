//! The per-compile pipeline. Each phase is a module; this orchestrator reads
//! top to bottom:
//!
//! 1. [`compiler_identity`]: which compiler, by content;
//! 2. [`classify`]: cacheable, or passed through with a reason;
//! 3. [`context`]: the compile context and its key;
//! 4. [`hash_verify`]: source digest and the manifest's verdict;
//! 5. [`cached_hit`]: on a hit, outputs in place and streams returned;
//! 6. [`compile_exec`]: on a miss, the client compiles;
//! 7. [`store_outcome`]: a successful compile is stored
//!    ([`system_includes`] and [`include_probes`] record its lookups).
//!
//! Whatever goes wrong inside ccd, the answer is to let the client run the
//! compiler: a build never fails because of the cache.

pub mod cached_hit;
pub mod classify;
pub mod compile_exec;
pub mod compiler_identity;
pub mod context;
pub mod hash_verify;
pub mod include_probes;
pub mod request;
pub mod store_outcome;
pub mod system_includes;

use ccd_depgraph::Verdict;
use ccd_protocol::{CompileRequest, PROTOCOL_VERSION, Response};

use crate::connection::Channel;
use crate::state::Daemon;
use crate::stats::Stats;
use request::Req;

pub fn handle_compile(d: &Daemon, ch: &mut Channel, wire: CompileRequest) {
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

    // 1. Compiler identity.
    let compiler = match compiler_identity::identify(d, &req) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "not caching");
            return passthrough(d, ch, "unknown compiler");
        }
    };

    // 2. Classify.
    let inv = match classify::classify(&req) {
        Ok(inv) => inv,
        Err(reason) => {
            tracing::debug!(%reason, "not caching");
            return passthrough(d, ch, reason.label());
        }
    };

    // 3. Compile context.
    let ctx = context::build(compiler, inv, &req);

    // 4. Hash the source and verify the manifest.
    let checked = match hash_verify::hash_and_verify(d, &ctx) {
        Ok(c) => c,
        // A missing source: the compiler reports it best.
        Err(_) => return passthrough(d, ch, "unreadable source"),
    };

    // 5. Serve a hit.
    if let Verdict::Hit { index, result } = checked.verdict {
        match cached_hit::serve(d, &ctx, &req, &result) {
            Ok((out, compile_ms)) => {
                d.stats.hit(compile_ms);
                if index > 0 {
                    let _ = d.update_manifest(&ctx.key, |m| m.touch(index));
                }
                let _ = ch.send(&Response::Hit(out));
                return;
            }
            Err(e) => {
                tracing::warn!(source = %ctx.source.display(), error = %e, "stored result unusable; compiling");
            }
        }
    } else {
        tracing::debug!(source = %ctx.source.display(), verdict = ?checked.verdict, "miss");
    }

    // 6. Miss: the client runs the compiler.
    Stats::bump(&d.stats.misses);
    let plan = compile_exec::plan(d, &ctx);
    let Some((out, took)) = compile_exec::run_on_client(ch, &plan) else {
        return;
    };

    // 7. Store a successful compile.
    if out.exit_code != 0 {
        Stats::bump(&d.stats.errors);
    } else {
        let stored = store_outcome::store(
            d,
            &ctx,
            &req,
            &plan,
            &checked.source,
            &out,
            took.as_millis() as u64,
        );
        if let Err(reason) = stored {
            tracing::info!(source = %ctx.source.display(), reason, "result not stored");
            d.stats.not_stored(reason);
        }
    }
    if let compile_exec::DepSource::Private(p) = &plan.deps {
        let _ = std::fs::remove_file(p);
    }
    let _ = ch.send(&Response::Stored);
}

fn passthrough(d: &Daemon, ch: &mut Channel, reason: &'static str) {
    d.stats.non_cacheable(reason);
    let _ = ch.send(&Response::Passthrough);
}
