//! One connection: read a request, hand it to the pipeline (compiles) or
//! to [`crate::admin`] (everything else).

use std::sync::Arc;
use std::time::Duration;

use ccd_filestate::Digest;
use ccd_protocol::{FrameError, Request, Response, decode};

use crate::acker::Conn;
use crate::channel::Channel;
use crate::daemon::Daemon;
use crate::{admin, lifecycle, pipeline};

/// A client that connects and says nothing must not hold a thread forever.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub fn serve(d: &Daemon, conn: Arc<Conn>) {
    let accepted = std::time::Instant::now();
    let mut ch = Channel::new(conn);
    let Some((hello, body)) = ch.recv_opening(FIRST_REQUEST_TIMEOUT) else {
        return;
    };
    // Which executable the client runs: another one's daemon takes over.
    if d.exe.is_none_or(|exe| exe != hello.exe) {
        tracing::info!(client = ?hello.exe, daemon = ?d.exe, "a client of another executable");
        lifecycle::retire(d);
        let _ = ch.send_word(ccd_protocol::REPLACED);
        return;
    }
    ch.prefix_next(ccd_protocol::SAME);
    // The request-level cache works on the bytes as they came: a request
    // seen before needs no decoding at all.
    let req_key = Digest(*blake3::hash(&body).as_bytes());
    if pipeline::serve_seen_request(d, &mut ch, &req_key) {
        tracing::trace!(
            us = accepted.elapsed().as_micros() as u64,
            "request-cache hit served"
        );
        return;
    }
    match decode::<Request>(&body) {
        Ok(Request::Compile(c)) => pipeline::handle_compile(d, &mut ch, c, &req_key),
        Ok(other) => admin::handle(d, &mut ch, other),
        Err(FrameError::Closed) => {}
        Err(e) => {
            tracing::warn!(error = %e, "bad request");
            let _ = ch.send(&Response::Error {
                message: e.to_string(),
            });
        }
    }
}
