//! Spare copies of large stored outputs, made ready after a hit is
//! answered, so the next hit of the same output is one rename instead of a
//! copy of megabytes (an SQLite object is 1.4 MB: copying it costs more
//! than the rest of a hit).
//!
//! A spare is a private file in `<cache>/spares/`, never linked anywhere:
//! a hit *moves* it into place, so the output is a file of its own, and a
//! later in-place write to it changes nothing the cache keeps. From the
//! moment a spare is written the file watcher watches it; one that was
//! written to since, or replaced, is never served. Without the watcher
//! there are no spares and hits copy.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ccd_filestate::Journal;

/// Outputs at least this large get spares.
pub const MIN_BYTES: u64 = 256 * 1024;
/// At most this many bytes of spares at once (and at most an eighth of
/// the cache's size limit).
const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;

pub struct Spares {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Ready spares by (blob, permission bits).
    ready: HashMap<(PathBuf, u32), Spare>,
    /// Spares to make once the current answer is sent.
    wanted: Vec<(PathBuf, u32, u64)>,
    total_bytes: u64,
    /// A move into an output's directory failed (another filesystem):
    /// spares do not help there.
    cross_device: bool,
    /// Replaced outputs moved aside by hits, deleted after the answer.
    trash: Vec<PathBuf>,
    trashed: u64,
}

struct Spare {
    path: PathBuf,
    /// Journal clock from which the spare is watched.
    since: u64,
    ino: u64,
    size: u64,
}

impl Spares {
    /// Spares live in `dir`, which is emptied (they are not watched across
    /// daemon restarts).
    pub fn open(dir: PathBuf, cache_limit: u64) -> Spares {
        let _ = std::fs::remove_dir_all(&dir);
        Spares {
            dir,
            max_bytes: MAX_TOTAL_BYTES.min(cache_limit / 8),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Moves a ready spare of `blob` to `dest`, with a fresh mtime.
    /// `false` when there is none to use (the caller copies); either way a
    /// spare is wanted for next time.
    pub fn take(&self, j: &Journal, blob: &Path, dest: &Path, mode: u32, size: u64) -> bool {
        let spare = {
            let mut g = self.lock();
            if g.cross_device {
                return false;
            }
            let key = (blob.to_path_buf(), mode);
            g.wanted.push((key.0.clone(), mode, size));
            let spare = g.ready.remove(&key);
            if let Some(s) = &spare {
                g.total_bytes -= s.size;
            }
            spare
        };
        let Some(s) = spare else { return false };
        let bytes = s.path.as_os_str().as_bytes();
        j.sync();
        let intact = j.file_untouched(bytes, s.since)
            && ccd_filestate::stat(&s.path)
                .is_ok_and(|st| st.ino == s.ino && st.size == s.size && st.mode & 0o7777 == mode);
        j.unwatch_file(bytes);
        if !intact {
            tracing::debug!(spare = %s.path.display(), "spare changed; copying");
            let _ = std::fs::remove_file(&s.path);
            return false;
        }
        // Both times at once: the watcher reads a lone new mtime as a write.
        let now = std::fs::FileTimes::new()
            .set_accessed(std::time::SystemTime::now())
            .set_modified(std::time::SystemTime::now());
        let fresh = std::fs::File::open(&s.path).and_then(|f| f.set_times(now));
        let moved = fresh.and_then(|()| self.swap_in(&s.path, dest));
        match moved {
            Ok(()) => true,
            Err(e) => {
                if e.raw_os_error() == Some(libc::EXDEV) {
                    self.lock().cross_device = true;
                }
                let _ = std::fs::remove_file(&s.path);
                false
            }
        }
    }

    /// Moves `spare` to `dest`. A file already at `dest` is first moved
    /// aside into the spares directory and deleted after the answer:
    /// unlinking a large object frees its blocks, which took longer than
    /// the rest of an SQLite hit. Where it cannot be moved (another
    /// filesystem) it is removed here.
    fn swap_in(&self, spare: &Path, dest: &Path) -> std::io::Result<()> {
        // Never a directory: the compiler would fail on it, and it is not
        // ours to move.
        if std::fs::symlink_metadata(dest).is_ok_and(|m| !m.is_dir()) {
            let n = {
                let mut g = self.lock();
                g.trashed += 1;
                g.trashed
            };
            let trash = self.dir.join(format!("trash-{n}"));
            if std::fs::rename(dest, &trash).is_ok() {
                self.lock().trash.push(trash);
            }
        }
        ccd_store::replace(spare, dest)
    }

    /// Deletes the outputs hits moved aside, and makes the spares wanted
    /// since the last call (after the answer is sent: this is off the
    /// client's path).
    pub fn refill(&self, j: &Journal) {
        for t in std::mem::take(&mut self.lock().trash) {
            let _ = std::fs::remove_file(t);
        }
        let wanted = std::mem::take(&mut self.lock().wanted);
        for (blob, mode, size) in wanted {
            let key = (blob, mode);
            {
                let g = self.lock();
                if g.ready.contains_key(&key) || g.total_bytes + size > self.max_bytes {
                    continue;
                }
            }
            if let Some(spare) = self.make(j, &key.0, mode) {
                let mut g = self.lock();
                g.total_bytes += spare.size;
                if let Some(old) = g.ready.insert(key, spare) {
                    g.total_bytes -= old.size;
                }
            }
        }
    }

    fn make(&self, j: &Journal, blob: &Path, mode: u32) -> Option<Spare> {
        let name = blob.file_name()?;
        let shard = blob.parent()?.file_name()?;
        let mut file = shard.to_os_string();
        file.push(name);
        file.push(format!(".{mode:o}"));
        let path = self.dir.join(file);
        // Our own directory, never a symlink planted in its place.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&self.dir);
        let ours = std::fs::symlink_metadata(&self.dir)
            // SAFETY: getuid cannot fail.
            .is_ok_and(|m| m.is_dir() && m.uid() == unsafe { libc::getuid() });
        if !ours {
            return None;
        }
        // Written and watched under a temporary name, then moved to its
        // own: whatever is found under the spare's name later is judged
        // against the file written here, never one put there meanwhile.
        let mut tmp = path.clone().into_os_string();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        ccd_store::deliver(blob, &tmp, mode).ok()?;
        let watched = j
            .watch_file(&tmp, path.as_os_str().as_bytes())
            .zip(ccd_filestate::stat(&tmp).ok());
        let Some((since, st)) = watched.filter(|_| std::fs::rename(&tmp, &path).is_ok()) else {
            let _ = std::fs::remove_file(&tmp);
            j.unwatch_file(path.as_os_str().as_bytes());
            return None;
        };
        Some(Spare {
            path,
            since,
            ino: st.ino,
            size: st.size,
        })
    }

    /// Forgets and removes every spare (`ccd clear`).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.ready.clear();
        g.wanted.clear();
        g.trash.clear();
        g.total_bytes = 0;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
