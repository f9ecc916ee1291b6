//! Phase: the fast hit. A compile context whose result was verified and
//! sealed before (see [`super::seal`]) is served without hashing the source
//! or checking the manifest, while the file watcher vouches that nothing
//! the verification looked at has changed: another request of the same
//! context (another `-o`, say) needs only its delivery prepared.

use ccd_filestate::Digest;
use ccd_protocol::CompileOutput;

use super::cached_hit;
use super::context::Context;
use super::request::Req;
use super::seal;
use crate::daemon::Daemon;
use crate::memo::Sealed;
use crate::trace::TraceInfo;

/// Delivers the context's sealed result if it still holds; returns the
/// streams and the compile time the hit saved. The request is sealed too,
/// for the request-level cache.
pub fn serve(
    d: &Daemon,
    ctx: &Context,
    req: &Req,
    req_key: &Digest,
    trace: &TraceInfo,
) -> Option<(CompileOutput, u64)> {
    let j = d.journal.as_ref()?;
    let sealed = d.memo.sealed_by_context(&ctx.local_key)?;
    // Take in every change made before this request, or the seal would be
    // judged against a stale journal.
    j.sync();
    let env_holds = sealed.env.iter().all(|(k, v)| {
        req.env.get(k.as_slice()).map(Vec::as_slice) == v.as_ref().map(|v| v.as_slice())
    });
    if !env_holds {
        return None;
    }
    if !seal::holds(d, &sealed) || !sealed.stderr_for.accepts(ctx.tty) {
        d.memo.forget_context(&ctx.local_key);
        return None;
    }
    let delivery = cached_hit::prepare(d, ctx, req, &sealed.result).ok()?;
    let out = cached_hit::write(d, &delivery).ok()?;
    d.note_used(&sealed.result, &ctx.key);
    let saved_ms = delivery.compile_ms;
    // Served again by its bytes only if the seal covers what this request
    // read: another request of the context may name another compiler path
    // or argument file, or look for its checkout root elsewhere, none of
    // which the seal watches for it.
    let reads = req.reads();
    if reads != sealed.reads {
        return Some((out, saved_ms));
    }
    let by_request = Sealed {
        seal: sealed.seal.clone(),
        env: sealed.env.clone(),
        trace: trace.for_seal(),
        result: sealed.result,
        context: ctx.key,
        delivery,
        date: sealed.date.clone(),
        fixed_time: sealed.fixed_time,
        stderr_for: sealed.stderr_for,
        reads,
        charge: None,
    };
    d.memo.seal_by_request(*req_key, d.memo.charged(by_request));
    Some((out, saved_ms))
}
