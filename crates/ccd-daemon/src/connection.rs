//! One connection: read a request, answer it.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ccd_filestate::Digest;
use ccd_protocol::{
    FrameError, Request, Response, decode, read_frame, read_frame_bytes, write_frame,
};

use crate::pipeline;
use crate::server;
use crate::state::Daemon;

/// A client that connects and says nothing must not hold a thread forever.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    pub fn send(&mut self, r: &Response) -> Result<(), FrameError> {
        write_frame(&mut self.stream, r)
    }

    fn recv_bytes(&mut self, timeout: Option<Duration>) -> Result<Vec<u8>, FrameError> {
        self.stream.set_read_timeout(timeout)?;
        read_frame_bytes(&mut self.stream)
    }

    /// Waits for the next request, for at most `timeout` (`None`: forever,
    /// used while the client runs the compiler).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Request, FrameError> {
        self.stream.set_read_timeout(timeout)?;
        read_frame(&mut self.stream)
    }
}

pub fn serve(d: &Daemon, stream: UnixStream) {
    let accepted = std::time::Instant::now();
    let mut ch = Channel { stream };
    let body = match ch.recv_bytes(Some(FIRST_REQUEST_TIMEOUT)) {
        Ok(b) => b,
        Err(_) => return,
    };
    // The request-level cache works on the bytes as they came: a request
    // seen before needs no decoding at all.
    let req_key = Digest(*blake3::hash(&body).as_bytes());
    if let Some(out) = pipeline::fast_paths::try_request_cache_hit(d, &req_key) {
        let _ = ch.send(&Response::Hit(out));
        tracing::trace!(
            us = accepted.elapsed().as_micros() as u64,
            "request-cache hit served"
        );
        return;
    }
    let req = match decode::<Request>(&body) {
        Ok(r) => r,
        Err(FrameError::Closed) => return,
        Err(e) => {
            tracing::warn!(error = %e, "bad request");
            let _ = ch.send(&Response::Error {
                message: e.to_string(),
            });
            return;
        }
    };
    if let Request::Compile(c) = req {
        pipeline::handle_compile(d, &mut ch, c, &req_key);
        return;
    }
    // What admin requests report or change includes the stores still
    // being finished for compiles already answered.
    d.pending.wait_all();
    let reply = match req {
        Request::Compile(_) => unreachable!("handled above"),
        Request::Status => Response::Status(Box::new(d.status())),
        Request::ZeroStats => {
            d.stats.zero();
            Response::Ok
        }
        Request::Clear => match d.clear() {
            Ok(()) => Response::Ok,
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        },
        Request::Shutdown => {
            // Released before answering: when `ccd stop` returns, a new
            // daemon can start.
            server::release(d);
            let _ = ch.send(&Response::Ok);
            server::exit_now(d);
        }
        Request::SessionStart { journal } => {
            let journal =
                journal.map(|j| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&j)));
            match d
                .sessions
                .start(&d.location.cache_dir.join("sessions"), journal)
            {
                Ok(id) => Response::Session { id },
                Err(e) => Response::Error {
                    message: format!("cannot start a session: {e}"),
                },
            }
        }
        Request::SessionStats { id } => Response::SessionStats(Box::new(d.sessions.report(&id))),
        Request::SessionEnd { id } => Response::SessionStats(Box::new(d.sessions.end(&id))),
        Request::CompileFinished(_) => Response::Error {
            message: "CompileFinished without a compile".into(),
        },
    };
    let _ = ch.send(&reply);
}
