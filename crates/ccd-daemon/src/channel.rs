//! The connection to one client: requests in, responses out.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use ccd_protocol::{FrameError, Request, Response, read_frame, read_frame_bytes, write_frame};

pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    pub fn new(stream: UnixStream) -> Channel {
        Channel { stream }
    }

    pub fn send(&mut self, r: &Response) -> Result<(), FrameError> {
        write_frame(&mut self.stream, r)
    }

    /// The next request's bytes, waiting at most `timeout`.
    pub fn recv_bytes(&mut self, timeout: Option<Duration>) -> Result<Vec<u8>, FrameError> {
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
