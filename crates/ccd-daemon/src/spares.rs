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
//!
//! The file a hit replaces is moved aside into the same directory and
//! dealt with after the answer: if its content is still the blob's, it
//! becomes the next spare, so repeated hits of one output swap two files
//! and copy nothing; otherwise it is deleted. A spare delivered by a hit
//! stays watched where it lands, so when the next hit replaces it, no
//! event and an unchanged status-change time show it untouched without
//! reading it (hashing a 1.4 MB object cost four times the rest of the
//! hit). Any other replaced file of the right size is hashed, under watch.

use std::collections::{HashMap, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ccd_filestate::{Digest, Journal};
use ccd_store::Store;

/// Outputs at least this large get spares.
pub const MIN_BYTES: u64 = 256 * 1024;
/// At most this many bytes of spares at once (and at most an eighth of
/// the cache's size limit).
const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;
/// Delivered spares watched at once (each holds an inotify watch).
const MAX_DELIVERED: usize = 256;

pub struct Spares {
    pub counts: Counts,
    dir: PathBuf,
    max_bytes: AtomicU64,
    inner: Mutex<Inner>,
}

/// What spares did since the daemon started (`ccd status`).
#[derive(Default)]
pub struct Counts {
    pub served: AtomicU64,
    pub copied: AtomicU64,
    pub reused_unread: AtomicU64,
    pub reused_hashed: AtomicU64,
}

/// Spares take at most an eighth of the cache's size limit.
fn spare_limit(cache_limit: u64) -> u64 {
    MAX_TOTAL_BYTES.min(cache_limit / 8)
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Default)]
struct Inner {
    /// Ready spares by (blob, permission bits).
    ready: HashMap<(Digest, u32), Spare>,
    /// Spares to make once the current answer is sent.
    wanted: Vec<(Digest, u32, u64)>,
    total_bytes: u64,
    /// A move into an output's directory failed (another filesystem):
    /// spares do not help there.
    cross_device: bool,
    /// Replaced outputs moved aside by hits, deleted after the answer.
    trash: Vec<PathBuf>,
    /// Replaced outputs that may have been this spare's own output of an
    /// earlier hit: after the answer, one whose content is still the
    /// blob's becomes the next spare, instead of a fresh copy.
    recycle: Vec<Recycled>,
    moved_aside: u64,
    /// Spares hits moved into place, still watched, by (device, inode);
    /// oldest first in `delivered_order` (by sequence number: an entry
    /// replaced since is stale there).
    delivered: HashMap<(u64, u64), Delivered>,
    delivered_order: VecDeque<(u64, (u64, u64))>,
    delivered_seq: u64,
    /// Watches to remove after the answer.
    unwatch: Vec<Box<[u8]>>,
}

struct Recycled {
    path: PathBuf,
    blob: Digest,
    mode: u32,
    /// Set when the replaced file is a spare delivered by an earlier hit
    /// and its status-change time is still the one it had then.
    delivered: Option<Delivered>,
}

/// A spare a hit moved into place.
struct Delivered {
    /// The key it is watched under in the journal.
    key: Box<[u8]>,
    since: u64,
    blob: Digest,
    mode: u32,
    size: u64,
    /// Its status-change time right after the move.
    ctime_ns: i64,
    /// Its place in `delivered_order`.
    seq: u64,
}

struct Spare {
    path: PathBuf,
    /// Journal clock from which the spare is watched.
    since: u64,
    ino: u64,
    size: u64,
    /// A write through a shared mapping raises no inotify event, but
    /// changes the status-change time.
    ctime_ns: i64,
}

impl Spares {
    /// Spares live in a directory that is emptied first (they are not
    /// watched across daemon restarts).
    ///
    /// Each daemon has a directory of its own under `parent`, named by its
    /// pid: a daemon on its way out (replaced by one of another executable)
    /// may still be using its spares while the next one starts. Those of
    /// daemons that are gone are removed.
    pub fn open(parent: &Path, cache_limit: u64) -> Spares {
        for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let pid = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok());
            let alive = pid.is_some_and(ccd_protocol::process::alive);
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = parent.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::DirBuilder::new().mode(0o700).create(parent);
        Spares {
            counts: Counts::default(),
            dir,
            max_bytes: AtomicU64::new(spare_limit(cache_limit)),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The cache's size limit changed.
    pub fn set_cache_limit(&self, cache_limit: u64) {
        self.max_bytes
            .store(spare_limit(cache_limit), Ordering::Relaxed);
    }

    /// Moves a ready spare of `blob` to `dest`, with a fresh mtime.
    /// `false` when there is none to use (the caller copies); either way a
    /// spare is wanted for next time.
    pub fn take(&self, j: &Journal, blob: &Digest, dest: &Path, mode: u32, size: u64) -> bool {
        let spare = {
            let mut g = self.lock();
            if g.cross_device {
                return false;
            }
            let key = (*blob, mode);
            g.wanted.push((*blob, mode, size));
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
            && ccd_filestate::stat(&s.path).is_ok_and(|st| {
                st.ino == s.ino
                    && st.size == s.size
                    && st.ctime_ns == s.ctime_ns
                    && st.mode & 0o7777 == mode
            });
        if !intact {
            tracing::debug!(spare = %s.path.display(), "spare changed; copying");
            j.unwatch_file(bytes);
            let _ = std::fs::remove_file(&s.path);
            return false;
        }
        // Both times at once: the watcher reads a lone new mtime as a write.
        let now = std::fs::FileTimes::new()
            .set_accessed(std::time::SystemTime::now())
            .set_modified(std::time::SystemTime::now());
        let fresh = std::fs::File::open(&s.path).and_then(|f| f.set_times(now));
        let moved = fresh.and_then(|()| self.swap_in(&s.path, dest, blob, mode, s.size));
        match moved {
            Ok(()) => {
                count(&self.counts.served);
                self.track_delivered(j, &s, blob, dest, mode);
                true
            }
            Err(e) => {
                if e.raw_os_error() == Some(libc::EXDEV) {
                    self.lock().cross_device = true;
                }
                j.unwatch_file(bytes);
                let _ = std::fs::remove_file(&s.path);
                false
            }
        }
    }

    /// Goes on watching spare `s`, just moved to `dest`, so that when a
    /// later hit replaces it, it is known untouched without reading it.
    fn track_delivered(&self, j: &Journal, s: &Spare, blob: &Digest, dest: &Path, mode: u32) {
        let spare_key = s.path.as_os_str().as_bytes();
        // Stamped after the move: a rename sets the status-change time.
        let st = match ccd_filestate::stat_nofollow(dest) {
            Ok(st) if st.ino == s.ino => st,
            _ => {
                self.lock().unwatch.push(spare_key.into());
                return;
            }
        };
        let mut key = self.dir.as_os_str().as_bytes().to_vec();
        key.extend_from_slice(format!("/delivered-{}-{}", st.dev, st.ino).as_bytes());
        if !j.rekey_file(spare_key, &key) {
            return;
        }
        let mut g = self.lock();
        g.delivered_seq += 1;
        let seq = g.delivered_seq;
        let id = (st.dev, st.ino);
        let d = Delivered {
            key: key.into(),
            seq,
            since: s.since,
            blob: *blob,
            mode,
            size: s.size,
            ctime_ns: st.ctime_ns,
        };
        // The key names the inode: one delivered again keeps its watch.
        g.delivered.insert(id, d);
        g.delivered_order.push_back((seq, id));
        while g.delivered_order.len() > MAX_DELIVERED {
            let Some((seq, id)) = g.delivered_order.pop_front() else {
                break;
            };
            if g.delivered.get(&id).is_some_and(|d| d.seq == seq)
                && let Some(d) = g.delivered.remove(&id)
            {
                g.unwatch.push(d.key);
            }
        }
    }

    /// Moves `spare` to `dest`. A file already at `dest` is first moved
    /// aside into the spares directory, and dealt with after the answer
    /// (unlinking a large object frees its blocks, which took longer than
    /// the rest of an SQLite hit): deleted, or, when it still holds this
    /// blob (the output of the previous hit, untouched), kept as the next
    /// spare, so back-to-back hits copy nothing. Where it cannot be moved
    /// (another filesystem) it is removed here.
    fn swap_in(
        &self,
        spare: &Path,
        dest: &Path,
        blob: &Digest,
        mode: u32,
        size: u64,
    ) -> std::io::Result<()> {
        // Never a directory: the compiler would fail on it, and it is not
        // ours to move. A file with other names is the user's too.
        let old = std::fs::symlink_metadata(dest).ok().filter(|m| !m.is_dir());
        if let Some(m) = old {
            let (n, delivered) = {
                let mut g = self.lock();
                g.moved_aside += 1;
                (g.moved_aside, g.delivered.remove(&(m.dev(), m.ino())))
            };
            let reusable = m.is_file() && m.nlink() == 1 && m.len() == size;
            let ctime_ns = ccd_filestate::Stamp::from_metadata(&m).ctime_ns;
            // Still as delivered: same blob, and no change of status since
            // (a write through a shared mapping changes that, unseen by
            // the watcher).
            let (delivered, stale) = match delivered {
                Some(d)
                    if reusable && d.blob == *blob && d.mode == mode && d.ctime_ns == ctime_ns =>
                {
                    (Some(d), None)
                }
                other => (None, other.map(|d| d.key)),
            };
            let aside = self.dir.join(format!("aside-{n}"));
            let moved = std::fs::rename(dest, &aside).is_ok();
            let mut g = self.lock();
            g.unwatch.extend(stale);
            if moved {
                if reusable {
                    g.recycle.push(Recycled {
                        path: aside,
                        blob: *blob,
                        mode,
                        delivered,
                    });
                } else {
                    g.trash.push(aside);
                }
                drop(g);
                return std::fs::rename(spare, dest);
            }
            g.unwatch.extend(delivered.map(|d| d.key));
        }
        ccd_store::replace(spare, dest)
    }

    /// A replaced output kept as the spare of its blob if its content is
    /// still the blob's, deleted otherwise. A spare delivered by an earlier
    /// hit and watched since is known untouched without reading it; any
    /// other file is hashed (watched from before it is read, so a later
    /// write is seen too).
    fn recycle(&self, j: &Journal, r: Recycled) {
        let key = (r.blob, r.mode);
        let forget = |d: Option<Delivered>| {
            if let Some(d) = d {
                j.unwatch_file(&d.key);
            }
        };
        let Some((path, tmp)) = self.spare_paths(&key.0, r.mode) else {
            forget(r.delivered);
            let _ = std::fs::remove_file(&r.path);
            return;
        };
        if self.lock().ready.contains_key(&key) || std::fs::rename(&r.path, &tmp).is_err() {
            forget(r.delivered);
            let _ = std::fs::remove_file(&r.path);
            return;
        }
        if let Some(d) = r.delivered {
            match self.readopt(j, &d, &tmp, &path) {
                Some(spare) => {
                    count(&self.counts.reused_unread);
                    return self.keep(j, key, spare);
                }
                None => j.unwatch_file(&d.key),
            }
        }
        let spare = self.adopt(j, &tmp, &path, r.mode, |f| {
            ccd_filestate::digest_reader(f).is_ok_and(|d| d == key.0)
        });
        if let Some(spare) = spare {
            count(&self.counts.reused_hashed);
            self.keep(j, key, spare);
        }
    }

    /// Makes the delivered spare `d`, back at `tmp`, the spare at `path`
    /// again, if the watcher saw no write to it since it was made.
    fn readopt(&self, j: &Journal, d: &Delivered, tmp: &Path, path: &Path) -> Option<Spare> {
        j.sync();
        let m = std::fs::symlink_metadata(tmp).ok()?;
        let same = m.is_file()
            && m.nlink() == 1
            && m.len() == d.size
            && m.mode() & 0o7777 == d.mode
            && j.file_untouched(&d.key, d.since);
        if !same {
            return None;
        }
        std::fs::rename(tmp, path).ok()?;
        let key = path.as_os_str().as_bytes();
        // Stamped after the move: a rename sets the status-change time.
        let stamped = ccd_filestate::stat_nofollow(path)
            .ok()
            .filter(|st| st.ino == m.ino());
        let Some(st) = stamped.filter(|_| j.rekey_file(&d.key, key)) else {
            let _ = std::fs::remove_file(path);
            j.unwatch_file(key);
            return None;
        };
        Some(Spare {
            path: path.to_path_buf(),
            since: d.since,
            ino: st.ino,
            size: st.size,
            ctime_ns: st.ctime_ns,
        })
    }

    /// Makes `spare` the ready spare of `key`, within the size budget.
    fn keep(&self, j: &Journal, key: (Digest, u32), spare: Spare) {
        let mut g = self.lock();
        if g.total_bytes + spare.size > self.max_bytes.load(Ordering::Relaxed) {
            drop(g);
            j.unwatch_file(spare.path.as_os_str().as_bytes());
            let _ = std::fs::remove_file(&spare.path);
            return;
        }
        g.total_bytes += spare.size;
        if let Some(old) = g.ready.insert(key, spare) {
            g.total_bytes -= old.size;
        }
    }

    /// Deletes the outputs hits moved aside, and makes the spares wanted
    /// since the last call (after the answer is sent: this is off the
    /// client's path).
    pub fn refill(&self, j: &Journal, store: &Store) {
        // Taken in `let`s: a guard in a `for` head lives through the loop.
        let (trash, recycle, unwatch) = {
            let mut g = self.lock();
            (
                std::mem::take(&mut g.trash),
                std::mem::take(&mut g.recycle),
                std::mem::take(&mut g.unwatch),
            )
        };
        for key in unwatch {
            j.unwatch_file(&key);
        }
        for t in trash {
            let _ = std::fs::remove_file(t);
        }
        for r in recycle {
            self.recycle(j, r);
        }
        let wanted = std::mem::take(&mut self.lock().wanted);
        for (blob, mode, size) in wanted {
            let key = (blob, mode);
            {
                let g = self.lock();
                if g.ready.contains_key(&key)
                    || g.total_bytes + size > self.max_bytes.load(Ordering::Relaxed)
                {
                    continue;
                }
            }
            if let Some(spare) = self.make(j, store, &key.0, mode) {
                self.keep(j, key, spare);
            }
        }
    }

    fn make(&self, j: &Journal, store: &Store, blob: &Digest, mode: u32) -> Option<Spare> {
        let (path, tmp) = self.spare_paths(blob, mode)?;
        if store.deliver_blob(blob, &tmp, mode).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return None;
        }
        let spare = self.adopt(j, &tmp, &path, mode, |_| true);
        if spare.is_some() {
            count(&self.counts.copied);
        }
        spare
    }

    /// Where the spare of `blob` lives, and the temporary name it is
    /// prepared under; `None` if the spares directory is not ours.
    fn spare_paths(&self, blob: &Digest, mode: u32) -> Option<(PathBuf, PathBuf)> {
        let path = self.dir.join(format!("{}.{mode:o}", blob.to_hex()));
        // Our own directory, never a symlink planted in its place.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&self.dir);
        let ours = std::fs::symlink_metadata(&self.dir)
            // SAFETY: getuid cannot fail.
            .is_ok_and(|m| m.is_dir() && m.uid() == unsafe { libc::getuid() });
        if !ours {
            return None;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(".new");
        Some((path, PathBuf::from(tmp)))
    }

    /// Watches the file at `tmp`, checks it with `accept` (after the watch
    /// is set: a write during the check is seen), then moves it to `path`:
    /// whatever is found under the spare's name later is judged against
    /// the file watched here, never one put there meanwhile.
    fn adopt(
        &self,
        j: &Journal,
        tmp: &Path,
        path: &Path,
        mode: u32,
        accept: impl FnOnce(std::fs::File) -> bool,
    ) -> Option<Spare> {
        let key = path.as_os_str().as_bytes();
        let adopted = j.watch_file(tmp, key).and_then(|since| {
            let st = ccd_filestate::stat(tmp).ok()?;
            let file = std::fs::File::open(tmp).ok()?;
            let fits = st.mode & 0o7777 == mode && st.is_file() && accept(file);
            (fits && std::fs::rename(tmp, path).is_ok()).then_some(())?;
            // Stamped after the move: a rename sets the status-change time.
            let moved = ccd_filestate::stat(path).ok().filter(|m| m.ino == st.ino)?;
            Some((since, moved))
        });
        let Some((since, st)) = adopted else {
            let _ = std::fs::remove_file(tmp);
            j.unwatch_file(key);
            return None;
        };
        Some(Spare {
            path: path.to_path_buf(),
            since,
            ino: st.ino,
            size: st.size,
            ctime_ns: st.ctime_ns,
        })
    }

    /// Forgets and removes every spare (`ccd clear`).
    pub fn clear(&self, j: Option<&Journal>) {
        let mut g = self.lock();
        let g = &mut *g;
        let keys = (g.ready.values().map(|s| s.path.as_os_str().as_bytes()))
            .chain(g.delivered.values().map(|d| &*d.key))
            .chain(
                g.recycle
                    .iter()
                    .filter_map(|r| r.delivered.as_ref().map(|d| &*d.key)),
            )
            .chain(g.unwatch.iter().map(|k| &**k));
        for key in keys {
            if let Some(j) = j {
                j.unwatch_file(key);
            }
        }
        g.ready.clear();
        g.wanted.clear();
        g.trash.clear();
        g.recycle.clear();
        g.delivered.clear();
        g.delivered_order.clear();
        g.unwatch.clear();
        g.total_bytes = 0;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::lock::lock(&self.inner)
    }
}
