//! Phase: the request-level cache. A request seen before, byte for byte,
//! whose result is sealed (see [`super::seal`]) and still vouched for by
//! the file watcher, is served without decoding, parsing or hashing
//! anything. Without the watcher nothing is sealed.

use ccd_filestate::Digest;
use ccd_protocol::CompileOutput;

use super::{cached_hit, seal};
use crate::daemon::Daemon;
use crate::lock::lock;
use crate::trace::TraceInfo;

pub struct Seen {
    pub out: CompileOutput,
    pub trace: TraceInfo,
    pub saved_ms: u64,
}

/// Delivers the sealed result of the request whose bytes digest to
/// `req_key`, if it still holds.
pub fn serve(d: &Daemon, req_key: &Digest) -> Option<Seen> {
    let j = d.journal.as_ref()?;
    let sealed = lock(&d.memo.by_request).get(req_key).cloned()?;
    j.sync();
    if !seal::holds(d, &sealed) {
        lock(&d.memo.by_request).remove(req_key);
        return None;
    }
    match cached_hit::write(d, &sealed.delivery) {
        Ok(out) => {
            d.note_used(&sealed.result, &sealed.context);
            Some(Seen {
                out,
                trace: sealed.trace.clone(),
                saved_ms: sealed.delivery.compile_ms,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "sealed hit could not be delivered");
            lock(&d.memo.by_request).remove(req_key);
            None
        }
    }
}
