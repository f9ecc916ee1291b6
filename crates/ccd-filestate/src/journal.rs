//! The file watcher: an inotify journal of what changed, and *seals* that
//! say "these paths were verified at clock C and nothing touched them since".
//!
//! The watcher is only an accelerator. Whenever it cannot vouch for a path
//! (not watchable, queue overflow, watcher disabled), callers fall back to
//! stat and hash.
//!
//! Consistency: the kernel queues an inotify event during the system call
//! that changes a file, so draining the queue at the start of a request
//! ([`Journal::sync`]) sees every change that finished before the request
//! began. (This is why the journal reads the inotify descriptor itself
//! instead of receiving events on a watcher thread, which would need a
//! cookie round trip per request to be sure it had caught up.)
//!
//! Coverage: a seal covers every path component of every sealed path (the
//! events of a directory name its entries), so renaming a parent directory,
//! creating a missing directory, or replacing a file by rename all break it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// Past this many remembered changes the journal forgets them all and voids
/// every existing seal instead (bounded memory during long builds).
const MAX_REMEMBERED: usize = 200_000;

/// Paths verified together at one journal clock.
#[derive(Debug, Clone)]
pub struct Seal {
    clock: u64,
    keys: Box<[Box<[u8]>]>,
}

pub struct Journal {
    inner: Mutex<Inner>,
}

struct Inner {
    inotify: Inotify,
    dirs_by_wd: HashMap<WatchDescriptor, Vec<Box<[u8]>>>,
    /// `None`: the directory could not be watched (missing, limit reached).
    wd_by_dir: HashMap<Box<[u8]>, Option<WatchDescriptor>>,
    clock: u64,
    changed: HashMap<Box<[u8]>, u64>,
    /// Seals from before this clock are void (queue overflow, forgetting).
    floor: u64,
    buf: Vec<u8>,
}

fn mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

impl Journal {
    pub fn new() -> io::Result<Journal> {
        Ok(Journal {
            inner: Mutex::new(Inner {
                inotify: Inotify::init()?,
                dirs_by_wd: HashMap::new(),
                wd_by_dir: HashMap::new(),
                clock: 1,
                changed: HashMap::new(),
                floor: 0,
                buf: vec![0; 64 * 1024],
            }),
        })
    }

    /// Takes in every change queued so far and returns the clock to verify
    /// against (the request's snapshot).
    pub fn sync(&self) -> u64 {
        let mut g = self.lock();
        g.drain();
        g.clock
    }

    /// Prepares to seal `paths`: watches the directories their components
    /// live in. Returns the keys to seal, or `None` if some directory cannot
    /// be watched (then the caller must not rely on the journal for them).
    /// Call this *before* taking the clock and verifying.
    pub fn prepare<'a>(&self, paths: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<Box<[u8]>>> {
        let mut g = self.lock();
        let mut keys: HashSet<Box<[u8]>> = HashSet::new();
        for p in paths {
            if p.first() != Some(&b'/') {
                return None;
            }
            // Key every component `A` of `p` by its full path; A's events
            // are reported by a watch on its parent. A missing parent cannot
            // be watched, but its creation is already keyed one level up.
            let ends = p
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, b)| **b == b'/')
                .map(|(i, _)| i)
                .chain([p.len()]);
            let mut parent_end = 0;
            for end in ends {
                if end == parent_end + 1 {
                    parent_end = end; // an empty component ("//")
                    continue;
                }
                let component = &p[..end];
                let parent = if parent_end == 0 {
                    &b"/"[..]
                } else {
                    &p[..parent_end]
                };
                if !keys.contains(component) {
                    if !g.watch(parent) {
                        if exists(parent) {
                            return None;
                        }
                        break;
                    }
                    keys.insert(component.into());
                }
                parent_end = end;
            }
        }
        Some(keys.into_iter().collect())
    }

    /// A seal of `keys` (from [`Journal::prepare`]) verified at `clock`.
    pub fn seal(&self, clock: u64, keys: Vec<Box<[u8]>>) -> Seal {
        Seal {
            clock,
            keys: keys.into_boxed_slice(),
        }
    }

    /// Whether nothing sealed changed since the seal's clock. Call after
    /// [`Journal::sync`] for the current request.
    pub fn holds(&self, seal: &Seal) -> bool {
        let g = self.lock();
        seal.clock >= g.floor
            && seal
                .keys
                .iter()
                .all(|k| g.changed.get(k).is_none_or(|c| *c <= seal.clock))
    }

    /// Voids every seal (used by `ccd clear`).
    pub fn void_all(&self) {
        let mut g = self.lock();
        g.clock += 1;
        g.floor = g.clock;
    }

    pub fn watched_dirs(&self) -> usize {
        self.lock().dirs_by_wd.values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn exists(dir: &[u8]) -> bool {
    Path::new(OsStr::from_bytes(dir)).exists()
}

impl Inner {
    /// Watches `dir` if not yet; whether it is watched.
    fn watch(&mut self, dir: &[u8]) -> bool {
        if let Some(w) = self.wd_by_dir.get(dir) {
            return w.is_some();
        }
        let wd = self
            .inotify
            .watches()
            .add(
                Path::new(OsStr::from_bytes(dir)),
                mask() | WatchMask::ONLYDIR,
            )
            .ok();
        if let Some(wd) = &wd {
            self.dirs_by_wd
                .entry(wd.clone())
                .or_default()
                .push(dir.into());
        }
        // Failures are not remembered: a missing directory may appear.
        if wd.is_some() {
            self.wd_by_dir.insert(dir.into(), wd.clone());
        }
        wd.is_some()
    }

    fn drain(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        loop {
            let events = match self.inotify.read_events(&mut buf) {
                Ok(ev) => ev,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.overflow();
                    break;
                }
            };
            let mut n = 0;
            for ev in events {
                n += 1;
                self.clock += 1;
                let clock = self.clock;
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    self.overflow();
                    continue;
                }
                let Some(dirs) = self.dirs_by_wd.get(&ev.wd) else {
                    continue;
                };
                let dirs = dirs.clone();
                for dir in &dirs {
                    let key: Box<[u8]> = match ev.name {
                        Some(name) => join(dir, name.as_bytes()),
                        None => dir.clone(),
                    };
                    self.changed.insert(key, clock);
                }
                if ev
                    .mask
                    .intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF)
                {
                    // The directory is gone or moved: forget the watch so a
                    // later prepare() watches whatever is there now.
                    for dir in &dirs {
                        self.wd_by_dir.remove(dir);
                        self.changed.insert(dir.clone(), clock);
                    }
                    self.dirs_by_wd.remove(&ev.wd);
                    let _ = self.inotify.watches().remove(ev.wd.clone());
                }
            }
            if n == 0 {
                break;
            }
        }
        self.buf = buf;
        if self.changed.len() > MAX_REMEMBERED {
            self.changed.clear();
            self.clock += 1;
            self.floor = self.clock;
        }
    }

    fn overflow(&mut self) {
        self.clock += 1;
        self.floor = self.clock;
    }
}

fn join(dir: &[u8], name: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn b(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    fn sealed(j: &Journal, paths: &[Vec<u8>]) -> Seal {
        let keys = j
            .prepare(paths.iter().map(Vec::as_slice))
            .expect("watchable");
        let clock = j.sync();
        j.seal(clock, keys)
    }

    #[test]
    fn edits_creations_and_renames_break_seals() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("inc");
        std::fs::create_dir(&dir).unwrap();
        let h = dir.join("x.h");
        std::fs::write(&h, "1").unwrap();
        let missing = t.path().join("later/sub/y.h");
        let j = Journal::new().unwrap();

        let s = sealed(&j, &[b(&h), b(&missing)]);
        j.sync();
        assert!(j.holds(&s));

        // Unrelated file in the same directory: still holds.
        std::fs::write(dir.join("other.o"), "o").unwrap();
        j.sync();
        assert!(j.holds(&s));

        // Same-size rewrite within one clock tick: caught.
        std::fs::write(&h, "2").unwrap();
        j.sync();
        assert!(!j.holds(&s));

        // A missing directory appearing breaks the probe under it.
        let s = sealed(&j, &[b(&h), b(&missing)]);
        std::fs::create_dir(t.path().join("later")).unwrap();
        j.sync();
        assert!(!j.holds(&s));

        // Renaming a parent directory breaks it too.
        let s = sealed(&j, &[b(&h)]);
        std::fs::rename(&dir, t.path().join("inc2")).unwrap();
        j.sync();
        assert!(!j.holds(&s));

        // Voiding (cache clear) breaks everything.
        let s = sealed(&j, &[b(&t.path().join("inc2/x.h"))]);
        j.sync();
        assert!(j.holds(&s));
        j.void_all();
        assert!(!j.holds(&s));
    }

    #[test]
    fn relative_paths_are_not_sealed() {
        let j = Journal::new().unwrap();
        assert!(j.prepare([&b"rel/x.h"[..]]).is_none());
    }
}
