//! The connection to one client: requests in, responses out.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use ccd_protocol::{FrameError, HELLO_LEN, Hello, Request, Response, read_frame, write_frame};

use crate::acker::Conn;

pub struct Channel {
    conn: Arc<Conn>,
    /// Written before the first response, in the same write (the word on
    /// the client's executable, see `ccd_protocol::hello`).
    prefix: Option<[u8; 4]>,
}

impl Channel {
    pub fn new(conn: Arc<Conn>) -> Channel {
        Channel { conn, prefix: None }
    }

    /// Puts `word` before the next response.
    pub fn prefix_next(&mut self, word: [u8; 4]) {
        self.prefix = Some(word);
    }

    pub fn send(&mut self, r: &Response) -> Result<(), FrameError> {
        let mut buf = self.prefix.take().map(Vec::from).unwrap_or_default();
        write_frame(&mut buf, r)?;
        self.conn.write_answer(&buf)?;
        Ok(())
    }

    /// Writes the word on the executable when no frame follows.
    pub fn send_word(&mut self, word: [u8; 4]) -> std::io::Result<()> {
        self.conn.write_answer(&word)
    }

    /// Reads the client's hello and its first request's bytes (sent in one
    /// write, so usually read in one), waiting at most `timeout`. `None`:
    /// not a hello, or nothing in time.
    pub fn recv_opening(&mut self, timeout: Duration) -> Option<(Hello, Vec<u8>)> {
        let mut s = &self.conn.stream;
        s.set_read_timeout(Some(timeout)).ok()?;
        let mut buf = vec![0u8; 4096];
        let mut have = 0;
        let mut want = HELLO_LEN + 4;
        while have < want {
            if buf.len() < want {
                buf.resize(want, 0);
            }
            match s.read(&mut buf[have..]) {
                Ok(0) => return None,
                Ok(n) => have += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
            if want == HELLO_LEN + 4 && have >= want {
                let mut len = [0u8; 4];
                len.copy_from_slice(&buf[HELLO_LEN..HELLO_LEN + 4]);
                let len = u32::from_le_bytes(len);
                if len > ccd_protocol::MAX_FRAME_LEN {
                    return None;
                }
                want = HELLO_LEN + 4 + len as usize;
            }
        }
        let mut hello = [0u8; HELLO_LEN];
        hello.copy_from_slice(&buf[..HELLO_LEN]);
        let hello = Hello::decode(&hello)?;
        buf.truncate(want);
        Some((hello, buf.split_off(HELLO_LEN + 4)))
    }

    /// Waits for the next request, for at most `timeout` (`None`: forever,
    /// used while the client runs the compiler).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Request, FrameError> {
        let mut s = &self.conn.stream;
        s.set_read_timeout(timeout)?;
        read_frame(&mut s)
    }
}
