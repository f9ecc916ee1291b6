//! Acknowledging connections: a daemon that is alive says so within
//! milliseconds, from a thread that does nothing else, so that only a
//! stopped or wedged daemon keeps a client waiting (see
//! `ccd_protocol::hello`).
//!
//! A request answered quickly (a hit: well under a millisecond of the
//! daemon's time) gets its acknowledgement in the same write as its
//! answer: a separate one would wake the client twice, which cost 70 µs a
//! hit here. Only connections still unanswered after [`DELAY`] are
//! acknowledged on their own, by this thread.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::lock::lock;

/// How long a connection may go unanswered before it is acknowledged on
/// its own (a first compile probes its compiler, a miss of a large source
/// hashes it).
pub const DELAY: Duration = Duration::from_millis(20);

/// One accepted connection's stream, written under its acknowledgement's
/// state so that the acknowledgement always comes first.
pub struct Conn {
    pub stream: UnixStream,
    acked: Mutex<bool>,
}

impl Conn {
    pub fn new(stream: UnixStream) -> Conn {
        Conn {
            stream,
            acked: Mutex::new(false),
        }
    }

    /// Writes `bytes`, the acknowledgement first if none went out yet.
    pub fn write_answer(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut acked = lock(&self.acked);
        let mut s = &self.stream;
        if !*acked {
            *acked = true;
            let mut all = ccd_protocol::ACK.to_vec();
            all.extend_from_slice(bytes);
            return s.write_all(&all);
        }
        s.write_all(bytes)
    }

    fn ack(&self) {
        let mut acked = lock(&self.acked);
        if !*acked {
            *acked = true;
            let _ = (&self.stream).write_all(&ccd_protocol::ACK);
        }
    }

    fn is_acked(&self) -> bool {
        *lock(&self.acked)
    }
}

#[derive(Default)]
pub struct Acker {
    waiting: Mutex<Waiting>,
    wake: Condvar,
}

#[derive(Default)]
struct Waiting {
    conns: Vec<(Instant, Arc<Conn>)>,
    /// The thread sleeps until woken (nothing was waiting for a while).
    asleep: bool,
}

/// While connections come, the thread looks at them this often (waking it
/// for each one would cost every hit a context switch).
const TICK: Duration = Duration::from_millis(10);
/// After this long without connections it sleeps until the next one.
const IDLE: Duration = Duration::from_secs(1);

impl Acker {
    /// Watches a connection just accepted.
    pub fn add(&self, conn: &Arc<Conn>) {
        let mut w = lock(&self.waiting);
        w.conns.push((Instant::now(), Arc::clone(conn)));
        if w.asleep {
            w.asleep = false;
            self.wake.notify_one();
        }
    }

    /// The acknowledging thread's loop.
    pub fn run(&self) {
        let mut w = lock(&self.waiting);
        let mut last_seen = Instant::now();
        loop {
            let now = Instant::now();
            if !w.conns.is_empty() {
                last_seen = now;
            }
            // Answered (or closed) connections are forgotten; those waiting
            // too long are acknowledged.
            w.conns.retain(|(since, conn)| {
                if Arc::strong_count(conn) == 1 || conn.is_acked() {
                    return false;
                }
                if now.duration_since(*since) >= DELAY {
                    conn.ack();
                    return false;
                }
                true
            });
            let wait = if w.conns.is_empty() && now.duration_since(last_seen) >= IDLE {
                w.asleep = true;
                Duration::from_secs(3600)
            } else {
                TICK
            };
            w = match self.wake.wait_timeout(w, wait) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_quick_answer_carries_the_acknowledgement_and_a_slow_one_gets_it_first() {
        let acker = Arc::new(Acker::default());
        {
            let a = Arc::clone(&acker);
            std::thread::spawn(move || a.run());
        }
        for slow in [false, true] {
            let (server, mut client) = UnixStream::pair().unwrap();
            let conn = Arc::new(Conn::new(server));
            acker.add(&conn);
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut word = [0u8; 4];
            if slow {
                // Nothing answered: acknowledged on its own in time.
                let t = Instant::now();
                client.read_exact(&mut word).unwrap();
                assert_eq!(word, ccd_protocol::ACK);
                assert!(t.elapsed() >= DELAY && t.elapsed() < Duration::from_secs(1));
                conn.write_answer(b"done").unwrap();
                client.read_exact(&mut word).unwrap();
                assert_eq!(&word, b"done");
            } else {
                conn.write_answer(b"done").unwrap();
                let mut both = [0u8; 8];
                client.read_exact(&mut both).unwrap();
                assert_eq!(&both, b"ccd!done");
                // And no second acknowledgement comes later.
                std::thread::sleep(DELAY * 3);
                client.set_nonblocking(true).unwrap();
                assert!(client.read(&mut word).is_err());
                client.set_nonblocking(false).unwrap();
            }
        }
    }
}
