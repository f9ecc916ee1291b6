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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// Past this many remembered changes the journal forgets them all and voids
/// every existing seal instead (bounded memory during long builds).
const MAX_REMEMBERED: usize = 200_000;

/// Names in one directory that a seal covers.
type Group = (Box<[u8]>, Box<[Box<[u8]>]>);

/// Paths verified together at one journal clock, grouped by directory so
/// that checking a seal costs a lookup per directory, and a lookup per name
/// only in directories where something happened.
#[derive(Debug, Clone)]
pub struct Seal {
    clock: u64,
    groups: Box<[Group]>,
}

/// The paths a seal will cover, collected before the watches are set up.
#[derive(Debug, Default)]
pub struct SealPaths {
    groups: BTreeMap<Box<[u8]>, BTreeSet<Box<[u8]>>>,
    chained: std::collections::HashSet<Box<[u8]>>,
    relative: bool,
}

impl SealPaths {
    pub fn new() -> SealPaths {
        SealPaths::default()
    }

    /// A file or directory (absolute path).
    pub fn add_path(&mut self, p: &[u8]) {
        match split(p) {
            Some((dir, name)) => {
                self.add_dir_chain(dir);
                self.groups
                    .entry(dir.into())
                    .or_default()
                    .insert(name.into());
            }
            None => self.relative |= p.first() != Some(&b'/'),
        }
    }

    /// Several names in one directory (absolute path).
    pub fn add_names<'a>(&mut self, dir: &[u8], names: impl IntoIterator<Item = &'a [u8]>) {
        if dir.first() != Some(&b'/') {
            self.relative = true;
            return;
        }
        self.add_dir_chain(dir);
        let group = self.groups.entry(dir.into()).or_default();
        group.extend(names.into_iter().map(Into::into));
    }

    /// Every component of `dir`, named in its parent: renaming, removing
    /// or creating any of them is seen.
    fn add_dir_chain(&mut self, dir: &[u8]) {
        let mut d = dir;
        while d.len() > 1 && !self.chained.contains(d) {
            self.chained.insert(d.into());
            let Some((parent, name)) = split(d) else {
                break;
            };
            self.groups
                .entry(parent.into())
                .or_default()
                .insert(name.into());
            d = parent;
        }
    }
}

/// `(parent, name)` of an absolute path; the parent of `/x` is `/`.
fn split(p: &[u8]) -> Option<(&[u8], &[u8])> {
    if p.first() != Some(&b'/') || p.len() < 2 {
        return None;
    }
    let p = p.strip_suffix(b"/").unwrap_or(p);
    let i = p.iter().rposition(|b| *b == b'/')?;
    let parent = if i == 0 { &p[..1] } else { &p[..i] };
    Some((parent, &p[i + 1..]))
}

pub struct Journal {
    inner: Mutex<Inner>,
}

/// What happened in one watched directory.
#[derive(Default)]
struct DirChanges {
    /// The clock of the latest event in it.
    latest: u64,
    /// An event on the directory itself (it moved, vanished, changed mode).
    itself: u64,
    names: HashMap<Box<[u8]>, u64>,
}

struct Inner {
    inotify: Inotify,
    dirs_by_wd: HashMap<WatchDescriptor, Vec<Box<[u8]>>>,
    /// Files watched for changes of content (the daemon's spare copies of
    /// outputs), and when each last changed.
    files_by_wd: HashMap<WatchDescriptor, Box<[u8]>>,
    /// The current watch of each watched file path (a path replaced by a
    /// new file gets a new watch; events of the old one no longer count).
    wd_by_file: HashMap<Box<[u8]>, WatchDescriptor>,
    file_changed: HashMap<Box<[u8]>, u64>,
    wd_by_dir: HashMap<Box<[u8]>, WatchDescriptor>,
    clock: u64,
    changed: HashMap<Box<[u8]>, DirChanges>,
    remembered: usize,
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
                files_by_wd: HashMap::new(),
                wd_by_file: HashMap::new(),
                file_changed: HashMap::new(),
                wd_by_dir: HashMap::new(),
                clock: 1,
                changed: HashMap::new(),
                remembered: 0,
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

    /// Watches the directories `paths` live in. Returns what to seal, or
    /// `None` if a directory that exists cannot be watched (then the caller
    /// must not rely on the journal). Call this *before* taking the clock
    /// and verifying.
    pub fn prepare(&self, paths: SealPaths) -> Option<Vec<Group>> {
        if paths.relative {
            return None;
        }
        let mut g = self.lock();
        let mut out = Vec::with_capacity(paths.groups.len());
        for (dir, names) in paths.groups {
            match g.watch(&dir) {
                Watched::Yes => {}
                // A missing directory: its creation is an event in its
                // parent, which is sealed too.
                Watched::Missing => continue,
                Watched::No => return None,
            }
            out.push((dir, names.into_iter().collect()));
        }
        Some(out)
    }

    /// A seal of `groups` (from [`Journal::prepare`]) verified at `clock`.
    pub fn seal(&self, clock: u64, groups: Vec<Group>) -> Seal {
        Seal {
            clock,
            groups: groups.into_boxed_slice(),
        }
    }

    /// Whether nothing sealed changed since the seal's clock. Call after
    /// [`Journal::sync`] for the current request.
    pub fn holds(&self, seal: &Seal) -> bool {
        let g = self.lock();
        if seal.clock < g.floor {
            return false;
        }
        seal.groups
            .iter()
            .all(|(dir, names)| match g.changed.get(dir) {
                None => true,
                Some(c) if c.latest <= seal.clock => true,
                Some(c) => {
                    c.itself <= seal.clock
                        && names
                            .iter()
                            .all(|n| c.names.get(n).is_none_or(|t| *t <= seal.clock))
                }
            })
    }

    /// Watches the content of the file now at `path`, under the name
    /// `key`: any write to it is seen, and its deletion (new timestamps set
    /// together, as `touch` does, are not a change; nor is a rename, so a
    /// file can be watched under a temporary name, then moved to `key`).
    /// Returns the clock from which it is watched (`None`: it cannot be).
    pub fn watch_file(&self, path: &Path, key: &[u8]) -> Option<u64> {
        let mut g = self.lock();
        let mask = WatchMask::MODIFY | WatchMask::CLOSE_WRITE | WatchMask::DELETE_SELF;
        let wd = g.inotify.watches().add(path, mask).ok()?;
        // Events of an earlier file under this key are drained first and no
        // longer count.
        g.drain();
        // One key per watch (the kernel gives a file one watch however
        // often it is added): a file watched under another key leaves it,
        // or unwatching that key would end this watch too.
        if let Some(prev) = g.files_by_wd.insert(wd.clone(), key.into())
            && *prev != *key
        {
            g.wd_by_file.remove(&prev);
        }
        if let Some(old) = g.wd_by_file.insert(key.into(), wd.clone())
            && old != wd
        {
            g.release(key, old);
        }
        g.file_changed.remove(key);
        Some(g.clock)
    }

    /// Whether the content of a file watched since `since` is untouched.
    /// Call after [`Journal::sync`].
    pub fn file_untouched(&self, path: &[u8], since: u64) -> bool {
        let g = self.lock();
        since >= g.floor
            && g.wd_by_file.contains_key(path)
            && g.file_changed.get(path).is_none_or(|t| *t <= since)
    }

    /// Goes on watching the file watched under `from` under the name `to`
    /// instead (its history of changes goes with it); `false` if nothing is
    /// watched under `from`. Removing an inotify watch waits for the
    /// kernel, so a file that changes hands keeps its watch.
    pub fn rekey_file(&self, from: &[u8], to: &[u8]) -> bool {
        let mut g = self.lock();
        let Some(wd) = g.wd_by_file.remove(from) else {
            return false;
        };
        if g.files_by_wd.get(&wd).is_none_or(|k| **k != *from) {
            return false; // the watch ended, or went to another key
        }
        g.files_by_wd.insert(wd.clone(), to.into());
        if let Some(old) = g.wd_by_file.insert(to.into(), wd.clone())
            && old != wd
        {
            g.release(to, old);
        }
        match g.file_changed.remove(from) {
            Some(t) => g.file_changed.insert(to.into(), t),
            None => g.file_changed.remove(to),
        };
        true
    }

    /// Stops watching a file.
    pub fn unwatch_file(&self, path: &[u8]) {
        let mut g = self.lock();
        if let Some(wd) = g.wd_by_file.remove(path) {
            g.release(path, wd);
        }
        g.file_changed.remove(path);
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

enum Watched {
    Yes,
    /// The directory does not exist.
    Missing,
    /// It exists (or may) but cannot be watched.
    No,
}

impl Inner {
    /// Watches `dir` if not yet.
    fn watch(&mut self, dir: &[u8]) -> Watched {
        if self.wd_by_dir.contains_key(dir) {
            return Watched::Yes;
        }
        let wd = self.inotify.watches().add(
            Path::new(OsStr::from_bytes(dir)),
            mask() | WatchMask::ONLYDIR,
        );
        // Failures are not remembered: a missing directory may appear.
        let wd = match wd {
            Ok(wd) => wd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Watched::Missing,
            Err(_) => return Watched::No,
        };
        self.dirs_by_wd
            .entry(wd.clone())
            .or_default()
            .push(dir.into());
        self.wd_by_dir.insert(dir.into(), wd);
        Watched::Yes
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
                if let Some(file) = self.files_by_wd.get(&ev.wd) {
                    self.file_changed.insert(file.clone(), clock);
                    if ev
                        .mask
                        .intersects(EventMask::IGNORED | EventMask::DELETE_SELF)
                    {
                        self.files_by_wd.remove(&ev.wd);
                    }
                    continue;
                }
                let Some(dirs) = self.dirs_by_wd.get(&ev.wd).cloned() else {
                    continue;
                };
                for dir in &dirs {
                    let c = self.changed.entry(dir.clone()).or_default();
                    c.latest = clock;
                    match ev.name {
                        Some(name) => {
                            if c.names.insert(name.as_bytes().into(), clock).is_none() {
                                self.remembered += 1;
                            }
                        }
                        None => c.itself = clock,
                    }
                }
                if ev
                    .mask
                    .intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF)
                {
                    // The directory is gone or moved: forget the watch so a
                    // later prepare() watches whatever is there now.
                    for dir in &dirs {
                        self.wd_by_dir.remove(dir);
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
        if self.remembered > MAX_REMEMBERED {
            self.changed.clear();
            self.remembered = 0;
            self.clock += 1;
            self.floor = self.clock;
        }
    }

    /// Ends `key`'s watch `wd`, unless another key owns it by now.
    fn release(&mut self, key: &[u8], wd: WatchDescriptor) {
        if self.files_by_wd.get(&wd).is_some_and(|k| **k == *key) {
            self.files_by_wd.remove(&wd);
            let _ = self.inotify.watches().remove(wd);
        }
    }

    fn overflow(&mut self) {
        self.clock += 1;
        self.floor = self.clock;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn b(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    fn sealed(j: &Journal, paths: &[Vec<u8>]) -> Seal {
        let mut sp = SealPaths::new();
        for p in paths {
            sp.add_path(p);
        }
        let keys = j.prepare(sp).expect("watchable");
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
    fn a_watched_file_sees_writes_not_renames_or_new_times() {
        let t = tempfile::tempdir().unwrap();
        let spare = t.path().join("spare");
        let tmp = t.path().join("spare.new");
        std::fs::write(&tmp, "object").unwrap();
        let j = Journal::new().unwrap();
        // Watched under a temporary name, then moved to its own.
        let since = j.watch_file(&tmp, &b(&spare)).unwrap();
        std::fs::rename(&tmp, &spare).unwrap();
        filetime_now(&spare);
        j.sync();
        assert!(
            j.file_untouched(&b(&spare), since),
            "a rename and new timestamps are not a change of content"
        );
        std::fs::OpenOptions::new()
            .write(true)
            .open(&spare)
            .unwrap();
        j.sync();
        assert!(
            !j.file_untouched(&b(&spare), since),
            "an open for writing is seen"
        );
        // A new file at the path starts clean; events of the old one (moved
        // away and written) no longer count.
        let moved = t.path().join("out.o");
        std::fs::rename(&spare, &moved).unwrap();
        std::fs::write(&spare, "object").unwrap();
        let since = j.watch_file(&spare, &b(&spare)).unwrap();
        std::fs::write(&moved, "patched").unwrap();
        j.sync();
        assert!(j.file_untouched(&b(&spare), since));
        j.unwatch_file(&b(&spare));
        assert!(!j.file_untouched(&b(&spare), since), "unwatched");
    }

    #[test]
    fn a_rekeyed_file_keeps_its_watch_and_its_history() {
        let t = tempfile::tempdir().unwrap();
        let spare = t.path().join("spare");
        let out = t.path().join("out.o");
        std::fs::write(&spare, "object").unwrap();
        let j = Journal::new().unwrap();
        let since = j.watch_file(&spare, &b(&spare)).unwrap();
        std::fs::rename(&spare, &out).unwrap();
        assert!(j.rekey_file(&b(&spare), b"delivered"));
        assert!(
            !j.rekey_file(&b(&spare), b"other"),
            "nothing left under the old key"
        );
        j.sync();
        assert!(j.file_untouched(b"delivered", since));
        assert!(
            !j.file_untouched(&b(&spare), since),
            "the old key is not watched"
        );
        std::fs::write(&out, "patched").unwrap();
        j.sync();
        assert!(
            !j.file_untouched(b"delivered", since),
            "a write under the new key is seen"
        );
        // The history goes with the watch.
        assert!(j.rekey_file(b"delivered", &b(&spare)));
        assert!(!j.file_untouched(&b(&spare), since));
    }

    /// A file watched again under a second key belongs to that key alone:
    /// ending the first key's watch leaves the second one watching.
    #[test]
    fn a_file_has_one_key_at_a_time() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "object").unwrap();
        let j = Journal::new().unwrap();
        let first = j.watch_file(&f, b"first").unwrap();
        let second = j.watch_file(&f, b"second").unwrap();
        j.sync();
        assert!(
            !j.file_untouched(b"first", first),
            "the first key lost the watch"
        );
        assert!(j.file_untouched(b"second", second));
        j.unwatch_file(b"first");
        assert!(!j.rekey_file(b"first", b"third"));
        std::fs::write(&f, "patched").unwrap();
        j.sync();
        assert!(
            !j.file_untouched(b"second", second),
            "a write after the first key was unwatched is still seen"
        );
    }

    /// Sets both timestamps to now, as a delivery does.
    fn filetime_now(path: &Path) {
        let now = std::time::SystemTime::now();
        let f = std::fs::File::open(path).unwrap();
        f.set_times(
            std::fs::FileTimes::new()
                .set_accessed(now)
                .set_modified(now),
        )
        .unwrap();
    }

    #[test]
    fn relative_paths_are_not_sealed() {
        let j = Journal::new().unwrap();
        let mut sp = SealPaths::new();
        sp.add_path(b"rel/x.h");
        assert!(j.prepare(sp).is_none());
    }

    #[test]
    fn names_in_a_group_break_only_their_seal() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("inc");
        std::fs::create_dir(&d).unwrap();
        let j = Journal::new().unwrap();
        let mut sp = SealPaths::new();
        sp.add_names(&b(&d), [&b"absent.h"[..], b"other.h"]);
        let keys = j.prepare(sp).unwrap();
        let s = j.seal(j.sync(), keys);
        std::fs::write(d.join("unrelated.o"), "").unwrap();
        j.sync();
        assert!(j.holds(&s));
        std::fs::write(d.join("absent.h"), "").unwrap();
        j.sync();
        assert!(!j.holds(&s));
    }
}
