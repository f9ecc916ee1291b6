//! How a connection starts, in a layout that never changes, so that any two
//! ccd executables understand each other this far whatever their protocol
//! versions:
//!
//! 1. the client sends a [`Hello`] (which executable it is) and, in the same
//!    write, its first request frame;
//! 2. the daemon writes [`ACK`] as soon as it has accepted the connection,
//!    before it reads anything or touches any shared state: a daemon that
//!    does not acknowledge within a short deadline is stopped or wedged
//!    (a busy one still acknowledges at once);
//! 3. the daemon reads the hello and writes [`SAME`] (then the frames of
//!    the protocol follow) or [`REPLACED`]: it runs another executable, has
//!    given up the socket, and will exit once the work it has is done; the
//!    client starts a daemon of its own executable.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// The daemon is alive and has accepted the connection.
pub const ACK: [u8; 4] = *b"ccd!";
/// The daemon runs the client's executable: frames follow.
pub const SAME: [u8; 4] = *b"ccdS";
/// The daemon runs another executable and is on its way out.
pub const REPLACED: [u8; 4] = *b"ccdR";

const MAGIC: [u8; 4] = *b"ccdH";
/// The size of an encoded [`Hello`].
pub const HELLO_LEN: usize = 40;

/// Which executable a process runs, by the identity of the file: an
/// install or a rebuild changes it (a version string would not change
/// with a rebuild).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExeId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

impl ExeId {
    /// The executable this process runs (`None` if /proc cannot say).
    pub fn of_self() -> Option<ExeId> {
        std::fs::metadata("/proc/self/exe")
            .ok()
            .map(|m| ExeId::of(&m))
    }

    pub fn of(m: &Metadata) -> ExeId {
        ExeId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        }
    }
}

/// The first bytes of a connection, client to daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub exe: ExeId,
}

impl Hello {
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..4].copy_from_slice(&MAGIC);
        // 4..8: reserved, zero.
        b[8..16].copy_from_slice(&self.exe.dev.to_le_bytes());
        b[16..24].copy_from_slice(&self.exe.ino.to_le_bytes());
        b[24..32].copy_from_slice(&self.exe.size.to_le_bytes());
        b[32..40].copy_from_slice(&self.exe.mtime_ns.to_le_bytes());
        b
    }

    /// `None` when `b` is not a hello (not a ccd client).
    pub fn decode(b: &[u8; HELLO_LEN]) -> Option<Hello> {
        if b[..4] != MAGIC {
            return None;
        }
        let u = |r: std::ops::Range<usize>| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[r]);
            x
        };
        Some(Hello {
            exe: ExeId {
                dev: u64::from_le_bytes(u(8..16)),
                ino: u64::from_le_bytes(u(16..24)),
                size: u64::from_le_bytes(u(24..32)),
                mtime_ns: i64::from_le_bytes(u(32..40)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_round_trips_and_nothing_else_is_one() {
        let h = Hello {
            exe: ExeId {
                dev: 1,
                ino: u64::MAX,
                size: 27_000_000,
                mtime_ns: -5,
            },
        };
        assert_eq!(Hello::decode(&h.encode()), Some(h));
        let mut other = h.encode();
        other[0] = b'x';
        assert_eq!(Hello::decode(&other), None);
        // A daemon from before hellos reads the magic as a frame's length:
        // over the limit, so it hangs up at once instead of waiting for a
        // body (the client then replaces it).
        assert!(u32::from_le_bytes(MAGIC) > crate::MAX_FRAME_LEN);
        assert!(ExeId::of_self().is_some());
    }
}
