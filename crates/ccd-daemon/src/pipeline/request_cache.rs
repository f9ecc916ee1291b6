//! Phase: the request-level cache. A request seen before, byte for byte,
//! whose result is sealed (see [`super::seal`]) and still vouched for by
//! the file watcher, is served without decoding, parsing or hashing
//! anything. Without the watcher nothing is sealed.

use ccd_filestate::Digest;
use ccd_protocol::CompileOutput;

use super::{cached_hit, seal};
use crate::daemon::Daemon;
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
    let sealed = d.memo.sealed_by_request(req_key)?;
    j.sync();
    // The stored outputs are checked as for any hit (the seal does not
    // watch them).
    let intact = || {
        sealed
            .delivery
            .blobs()
            .all(|b| d.store.blob_is_intact(b, &d.files))
    };
    if !seal::holds(d, &sealed) || !intact() {
        d.memo.forget_request(req_key);
        return None;
    }
    match cached_hit::write(d, &sealed.delivery) {
        Ok(out) => {
            d.note_used(&sealed.result, &sealed.context);
            Some(Seen {
                out,
                trace: sealed.trace.as_deref().cloned().unwrap_or_default(),
                saved_ms: sealed.delivery.compile_ms,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "sealed hit could not be delivered");
            d.memo.forget_request(req_key);
            None
        }
    }
}
