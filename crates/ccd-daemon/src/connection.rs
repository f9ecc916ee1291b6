//! One connection: read a request, answer it.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use ccd_protocol::{FrameError, Request, Response, read_frame, write_frame};

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

    /// Waits for the next request, for at most `timeout` (`None`: forever,
    /// used while the client runs the compiler).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Request, FrameError> {
        self.stream.set_read_timeout(timeout)?;
        read_frame(&mut self.stream)
    }
}

pub fn serve(d: &Daemon, stream: UnixStream) {
    let mut ch = Channel { stream };
    let req = match ch.recv(Some(FIRST_REQUEST_TIMEOUT)) {
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
    let reply = match req {
        Request::Compile(c) => {
            pipeline::handle_compile(d, &mut ch, c);
            return;
        }
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
            let _ = ch.send(&Response::Ok);
            server::exit_now(d);
        }
        Request::CompileFinished(_) => Response::Error {
            message: "CompileFinished without a compile".into(),
        },
    };
    let _ = ch.send(&reply);
}
