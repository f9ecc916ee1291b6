use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use crate::digest::Digest;
use crate::stamp::{Stamp, now_ns, stat};

/// Files changed less than this long before they were hashed are hashed
/// again next time: a second write in the same filesystem clock tick would
/// leave the stamp unchanged. Generous on purpose (coarse kernel clocks tick
/// every few milliseconds; network filesystems are coarser).
pub const RACY_WINDOW_NS: i64 = 100_000_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    stamp: Stamp,
    digest: Digest,
    /// Wall-clock time just before the content was read.
    hashed_at_ns: i64,
}

impl Entry {
    fn trusted_for(&self, stamp: &Stamp) -> bool {
        self.stamp == *stamp && self.stamp.changed_ns() < self.hashed_at_ns - RACY_WINDOW_NS
    }
}

/// A digest together with the stamp it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    pub digest: Digest,
    pub stamp: Stamp,
}

/// Path → (stamp, digest) cache shared by all requests of the daemon.
///
/// Keyed by the path's bytes with a fast hash: `Path`'s own `Hash` walks its
/// components, which cost more than the rest of a lookup.
#[derive(Default)]
pub struct FileState {
    entries: Mutex<FxHashMap<Box<[u8]>, Entry>>,
}

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

impl FileState {
    pub fn new() -> FileState {
        FileState::default()
    }

    /// The digest of `path`'s current content: from the cache when the file's
    /// stamp is unchanged (and old enough to trust), else by reading it.
    pub fn digest(&self, path: &Path) -> io::Result<Hashed> {
        let stamp = stat(path)?;
        if let Some(e) = self.lock().get(key(path))
            && e.trusted_for(&stamp)
        {
            return Ok(Hashed {
                digest: e.digest,
                stamp,
            });
        }
        self.read(path).map(|(_, h)| h)
    }

    /// Reads `path`, returning its bytes and digest, and refreshes the cache.
    pub fn read(&self, path: &Path) -> io::Result<(Vec<u8>, Hashed)> {
        let hashed_at_ns = now_ns();
        let mut file = std::fs::File::open(path)?;
        let stamp = Stamp::from_metadata(&file.metadata()?);
        if !stamp.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let mut bytes = Vec::with_capacity(stamp.size as usize);
        file.read_to_end(&mut bytes)?;
        let digest = Digest(*blake3::hash(&bytes).as_bytes());
        // A write racing with the read shows up as a stamp change after it.
        let after = Stamp::from_metadata(&file.metadata()?);
        if after == stamp {
            self.lock().insert(
                key(path).into(),
                Entry {
                    stamp,
                    digest,
                    hashed_at_ns,
                },
            );
        }
        Ok((
            bytes,
            Hashed {
                digest,
                stamp: after,
            },
        ))
    }

    /// Forgets everything (used by `ccd clear` and when the watcher loses
    /// track of events).
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<Box<[u8]>, Entry>> {
        // A panic elsewhere cannot leave the map half-updated (inserts are
        // single calls), so a poisoned lock is safe to keep using.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn rehashes_on_change_even_within_one_clock_tick() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.h");
        let fs_state = FileState::new();
        fs::write(&p, b"aaaa").unwrap();
        let a = fs_state.digest(&p).unwrap().digest;
        // Same size, written immediately: the mtime may well be identical,
        // but the file is too fresh to trust the cached digest.
        fs::write(&p, b"bbbb").unwrap();
        let b = fs_state.digest(&p).unwrap().digest;
        assert_ne!(a, b);
        assert_eq!(b, crate::digest_bytes(b"bbbb"));
    }

    #[test]
    fn trusts_old_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.h");
        fs::write(&p, b"x").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let st = FileState::new();
        st.digest(&p).unwrap();
        // The ctime was just updated by set_modified, so the entry is racy:
        // make the cached entry look older to prove the trusted branch.
        let mut e = *st.lock().get(key(&p)).unwrap();
        e.hashed_at_ns += 10 * RACY_WINDOW_NS;
        st.lock().insert(key(&p).into(), e);
        let poisoned = Entry {
            digest: Digest([7; 32]),
            ..e
        };
        st.lock().insert(key(&p).into(), poisoned);
        assert_eq!(
            st.digest(&p).unwrap().digest,
            Digest([7; 32]),
            "cache was not used"
        );
        assert!(st.digest(&dir.path().join("missing.h")).is_err());
    }
}
