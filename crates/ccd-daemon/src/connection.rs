//! One connection: read a request, hand it to the pipeline (compiles) or
//! to [`crate::admin`] (everything else).

use std::os::unix::net::UnixStream;
use std::time::Duration;

use ccd_filestate::Digest;
use ccd_protocol::{FrameError, Request, Response, decode};

use crate::channel::Channel;
use crate::daemon::Daemon;
use crate::{admin, pipeline};

/// A client that connects and says nothing must not hold a thread forever.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub fn serve(d: &Daemon, stream: UnixStream) {
    let accepted = std::time::Instant::now();
    let mut ch = Channel::new(stream);
    let Ok(body) = ch.recv_bytes(Some(FIRST_REQUEST_TIMEOUT)) else {
        return;
    };
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
