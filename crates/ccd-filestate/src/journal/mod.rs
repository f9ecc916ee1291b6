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
//! Sealed files are watched by inode as well, so a write through another
//! hard link is seen; a symbolic link is sealed together with the path it
//! resolves to. A seal is made only if every watch it relies on still
//! speaks for its path after the clock is taken ([`watches`] says when a
//! watch stops speaking for a path).

mod interned;
mod seal_paths;
mod watches;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::Mutex;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use interned::{Groups, Interner};
pub use seal_paths::SealPaths;
use seal_paths::{Group, join, split};
use watches::Watches;

/// A path or a name, as the kernel has it.
type Bytes = Box<[u8]>;

/// Past this many remembered changes the journal forgets them all and voids
/// every existing seal instead (bounded memory during long builds).
const MAX_REMEMBERED: usize = 200_000;

/// Rounds of symbolic links resolved for one seal (a link whose target is
/// reached through another link that changed meanwhile takes another).
const MAX_LINK_ROUNDS: usize = 4;

/// Paths verified together at one journal clock, grouped by directory so
/// that checking a seal costs a lookup per directory, and a lookup per name
/// only in directories where something happened.
#[derive(Debug, Clone)]
pub struct Seal {
    clock: u64,
    groups: Groups,
}

impl Seal {
    /// Heap bytes this seal holds of its own (its groups are shared; the
    /// list of them may be too).
    pub fn own_bytes(&self) -> usize {
        16 + 8 * self.groups.len()
    }
}

/// What [`Journal::prepare`] set up for a seal: the groups to check, and
/// the watch each watched path was attributed to, which must still hold
/// when the seal is made.
#[derive(Debug, Default)]
pub struct Prepared {
    groups: Vec<Group>,
    watched: Vec<(Box<[u8]>, WatchDescriptor)>,
}

impl Prepared {
    /// Directories the seal checks.
    pub fn dirs(&self) -> usize {
        self.groups.len()
    }

    /// Adds what another prepare set up (sealed together).
    pub fn merge(&mut self, other: Prepared) {
        self.groups.extend(other.groups);
        self.watched.extend(other.watched);
    }
}

pub struct Journal {
    inner: Mutex<Inner>,
}

/// What happened at one watched path.
#[derive(Default)]
struct DirChanges {
    /// The clock of the latest event in it.
    latest: u64,
    /// An event on the inode itself (it moved, vanished, changed mode or
    /// content).
    itself: u64,
    names: HashMap<Box<[u8]>, u64>,
}

struct Inner {
    inotify: Inotify,
    /// Which watch speaks for which sealed path.
    watches: Watches,
    /// Files watched for changes of content (the daemon's spare copies of
    /// outputs), and when each last changed.
    files_by_wd: HashMap<WatchDescriptor, Box<[u8]>>,
    /// The current watch of each watched file path (a path replaced by a
    /// new file gets a new watch; events of the old one no longer count).
    wd_by_file: HashMap<Box<[u8]>, WatchDescriptor>,
    file_changed: HashMap<Box<[u8]>, u64>,
    clock: u64,
    changed: HashMap<Box<[u8]>, DirChanges>,
    remembered: usize,
    /// Seals from before this clock are void (queue overflow, forgetting).
    floor: u64,
    buf: Vec<u8>,
    /// The groups of live seals, each kept once.
    interned: Interner,
}

/// One mask for every watch: the kernel keeps one watch per inode and
/// replaces its mask on each add, so a spare and a sealed input that are
/// one file (a delivered precompiled header read by the next compile) must
/// ask for the same events.
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

/// Events that change what a name in a directory refers to.
fn renames() -> EventMask {
    EventMask::CREATE | EventMask::DELETE | EventMask::MOVED_FROM | EventMask::MOVED_TO
}

/// Events after which a watch's inode is no longer where it was, or the
/// watch is gone.
fn self_ends() -> EventMask {
    EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED | EventMask::UNMOUNT
}

/// Events that change a spare's content or end its watch (new timestamps,
/// set together as `touch` does, are not a change; nor is a rename, so a
/// file can be watched under a temporary name, then moved).
fn spare_changes() -> EventMask {
    EventMask::MODIFY
        | EventMask::CLOSE_WRITE
        | EventMask::DELETE_SELF
        | EventMask::IGNORED
        | EventMask::UNMOUNT
}

impl Journal {
    pub fn new() -> io::Result<Journal> {
        Ok(Journal {
            inner: Mutex::new(Inner {
                inotify: Inotify::init()?,
                watches: Watches::default(),
                files_by_wd: HashMap::new(),
                wd_by_file: HashMap::new(),
                file_changed: HashMap::new(),
                clock: 1,
                changed: HashMap::new(),
                remembered: 0,
                floor: 0,
                buf: vec![0; 64 * 1024],
                interned: Interner::default(),
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

    /// Watches `paths` and the directories they live in (and, for a
    /// symbolic link, the path it resolves to). Returns what to seal, or
    /// `None` if a path that exists cannot be watched (then the caller must
    /// not rely on the journal). Call this *before* taking the clock and
    /// verifying, then [`Journal::seal`].
    pub fn prepare(&self, paths: SealPaths) -> Option<Prepared> {
        if paths.relative {
            return None;
        }
        let mut g = self.lock();
        // Events already queued may end attributions this seal would use.
        g.drain();
        let mut out = Prepared::default();
        let mut todo = paths;
        let mut links: Vec<(Bytes, Bytes)> = Vec::new();
        for _ in 0..MAX_LINK_ROUNDS {
            let mut targets = SealPaths::new();
            let mut missing: HashSet<Box<[u8]>> = HashSet::new();
            for path in todo.watched() {
                match g.watch(path) {
                    Watched::Yes(wd, target) => {
                        if let Some(t) = target {
                            targets.add_path(&t);
                            links.push((path.into(), t));
                        }
                        out.watched.push((path.into(), wd));
                    }
                    // A missing path: its creation is an event in its
                    // parent, which is sealed too.
                    Watched::Missing => {
                        missing.insert(path.into());
                    }
                    Watched::No => return None,
                }
            }
            for (dir, names) in std::mem::take(&mut todo.groups) {
                if !missing.contains(&*dir) {
                    out.groups.push((dir, names.into_iter().collect()));
                }
            }
            if targets.groups.is_empty() {
                // A link speaks for the inode its target names.
                let same = links.iter().all(|(link, target)| {
                    let wd = |p: &[u8]| g.watches.get(p).map(|a| a.wd.clone());
                    wd(link).is_some() && wd(link) == wd(target)
                });
                return same.then_some(out);
            }
            todo = targets;
        }
        None
    }

    /// A seal of `prepared` (from [`Journal::prepare`]) verified at
    /// `clock`, or `None` if one of its watches stopped speaking for its
    /// path before the clock was taken (what it watched may not be what
    /// was verified).
    pub fn seal(&self, clock: u64, prepared: Prepared) -> Option<Seal> {
        let mut g = self.lock();
        if !g.intact(&prepared.watched) {
            return None;
        }
        Some(Seal {
            clock,
            groups: g.interned.intern(prepared.groups),
        })
    }

    /// Whether nothing sealed changed since the seal's clock. Call after
    /// [`Journal::sync`] for the current request.
    pub fn holds(&self, seal: &Seal) -> bool {
        let g = self.lock();
        seal.clock >= g.floor && g.groups_hold(seal.clock, seal.groups.iter().map(|g| &**g))
    }

    /// Whether the file at `path`, in one of the directories `prepared`
    /// watches, is untouched since `clock` (taken after the prepare): no
    /// event named it or changed a directory on the way, and every watch
    /// still speaks for its path. Its directory's events tell only for a
    /// file of one name that is not a link (a write through another hard
    /// link, or to a link's target, raises none there).
    pub fn untouched_since(&self, clock: u64, prepared: &Prepared, path: &[u8]) -> bool {
        let Some((dir, name)) = split(path) else {
            return false;
        };
        let single = std::fs::symlink_metadata(Path::new(OsStr::from_bytes(path))).is_ok_and(|m| {
            m.file_type().is_file() && std::os::unix::fs::MetadataExt::nlink(&m) == 1
        });
        if !single || !prepared.groups.iter().any(|(d, _)| **d == *dir) {
            return false;
        }
        let mut g = self.lock();
        g.drain();
        clock >= g.floor
            && g.intact(&prepared.watched)
            && g.groups_hold(clock, prepared.groups.iter())
            && g.changed
                .get(dir)
                .is_none_or(|c| c.names.get(name).is_none_or(|t| *t <= clock))
    }

    /// Watches the content of the file now at `path`, under the name
    /// `key`: any write to it is seen, and its deletion (new timestamps set
    /// together, as `touch` does, are not a change; nor is a rename, so a
    /// file can be watched under a temporary name, then moved to `key`).
    /// Returns the clock from which it is watched (`None`: it cannot be).
    pub fn watch_file(&self, path: &Path, key: &[u8]) -> Option<u64> {
        let mut g = self.lock();
        let wd = g.inotify.watches().add(path, mask()).ok()?;
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

    /// Paths the journal watches for seals (directories and files).
    pub fn watched_dirs(&self) -> usize {
        self.lock().watches.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Watched {
    /// Attributed to this watch; a symbolic link also names its target.
    Yes(WatchDescriptor, Option<Box<[u8]>>),
    /// Nothing is there.
    Missing,
    /// Something is (or may be) there, but cannot be watched.
    No,
}

impl Inner {
    /// Whether each path is still attributed to the watch it had.
    fn intact(&self, watched: &[(Bytes, WatchDescriptor)]) -> bool {
        watched
            .iter()
            .all(|(p, wd)| self.watches.get(p).is_some_and(|a| a.wd == *wd))
    }

    /// Whether no event since `clock` touched the names of `groups`.
    fn groups_hold<'a>(&self, clock: u64, mut groups: impl Iterator<Item = &'a Group>) -> bool {
        groups.all(|(dir, names)| match self.changed.get(dir) {
            None => true,
            Some(c) if c.latest <= clock => true,
            Some(c) => {
                c.itself <= clock
                    && names
                        .iter()
                        .all(|n| c.names.get(n).is_none_or(|t| *t <= clock))
            }
        })
    }

    /// The watch that speaks for `path`, set up if there is none.
    fn watch(&mut self, path: &[u8]) -> Watched {
        if let Some(a) = self.watches.get(path) {
            return Watched::Yes(a.wd.clone(), a.target.clone());
        }
        // Parents first: a path whose parent is not watched may have
        // appeared unseen.
        if let Some((parent, _)) = split(path)
            && self.watches.get(parent).is_none()
        {
            return Watched::Missing;
        }
        let p = Path::new(OsStr::from_bytes(path));
        let wd = match self.inotify.watches().add(p, mask()) {
            Ok(wd) => wd,
            // Failures are not remembered: a missing path may appear. A
            // dangling symbolic link is not missing: its target may
            // appear, with no event near the link.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return match std::fs::symlink_metadata(p) {
                    Err(_) => Watched::Missing,
                    Ok(_) => Watched::No,
                };
            }
            Err(_) => return Watched::No,
        };
        // A link is sealed with the path it resolves to (its target can
        // change with no event near the link); one that vanished since the
        // watch was added cannot be vouched for.
        let target = match std::fs::symlink_metadata(p) {
            Ok(m) if !m.file_type().is_symlink() => None,
            Ok(_) => match std::fs::canonicalize(p) {
                Ok(t) => Some(t.into_os_string().into_vec().into_boxed_slice()),
                Err(_) => {
                    self.unwatch_unused(wd);
                    return Watched::No;
                }
            },
            Err(_) => {
                self.unwatch_unused(wd);
                return Watched::No;
            }
        };
        self.watches.attribute(path, wd.clone(), target.clone());
        Watched::Yes(wd, target)
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
                self.event(ev.wd, ev.mask, ev.name.map(OsStr::as_bytes));
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

    fn event(&mut self, wd: WatchDescriptor, mask: EventMask, name: Option<&[u8]>) {
        self.clock += 1;
        let clock = self.clock;
        if mask.contains(EventMask::Q_OVERFLOW) {
            self.overflow();
            return;
        }
        if let Some(file) = self.files_by_wd.get(&wd)
            && mask.intersects(spare_changes())
        {
            self.file_changed.insert(file.clone(), clock);
            if mask.intersects(self_ends()) {
                self.files_by_wd.remove(&wd);
            }
        }
        let Some(paths) = self.watches.paths_of(&wd).map(<[_]>::to_vec) else {
            return;
        };
        for p in &paths {
            self.note(p, name, clock);
        }
        let ended: Vec<Box<[u8]>> = match name {
            _ if mask.intersects(self_ends()) => paths,
            Some(n) if mask.intersects(renames()) => paths.iter().map(|p| join(p, n)).collect(),
            _ => Vec::new(),
        };
        for q in ended {
            for wd in self.watches.end_under(&q) {
                self.unwatch_unused(wd);
            }
        }
    }

    /// Records a change at `path` (of `name` in it, or of the inode
    /// itself, which is also a change of its name in its parent: a sealed
    /// file's own watch reports writes made through another hard link).
    fn note(&mut self, path: &[u8], name: Option<&[u8]>, clock: u64) {
        let c = self.changed.entry(path.into()).or_default();
        c.latest = clock;
        let (at, name) = match name {
            Some(n) => (c, n),
            None => {
                c.itself = clock;
                let Some((parent, base)) = split(path) else {
                    return;
                };
                (self.changed.entry(parent.into()).or_default(), base)
            }
        };
        at.latest = clock;
        if at.names.insert(name.into(), clock).is_none() {
            self.remembered += 1;
        }
    }

    /// Ends `key`'s watch `wd`, unless another key owns it by now.
    fn release(&mut self, key: &[u8], wd: WatchDescriptor) {
        if self.files_by_wd.get(&wd).is_some_and(|k| **k == *key) {
            self.files_by_wd.remove(&wd);
            self.unwatch_unused(wd);
        }
    }

    /// Removes a watch from the kernel unless a sealed path or a spare
    /// still relies on it.
    fn unwatch_unused(&mut self, wd: WatchDescriptor) {
        if !self.files_by_wd.contains_key(&wd) && !self.watches.contains_wd(&wd) {
            let _ = self.inotify.watches().remove(wd);
        }
    }

    /// Events were lost: every seal is void, and no watch is known to
    /// speak for its path any more.
    fn overflow(&mut self) {
        self.clock += 1;
        self.floor = self.clock;
        self.changed.clear();
        self.remembered = 0;
        for wd in self.watches.clear() {
            self.unwatch_unused(wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::Arc;

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
        j.seal(clock, keys).expect("every watch intact")
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

    /// Seals of the same paths share one list of groups, seals of
    /// overlapping paths the groups they have in common, and what no seal
    /// holds any more is dropped.
    #[test]
    fn seals_share_their_groups_while_they_live() {
        let t = tempfile::tempdir().unwrap();
        let (a, b2) = (t.path().join("a.c"), t.path().join("b.c"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b2, "b").unwrap();
        let j = Journal::new().unwrap();
        let s1 = sealed(&j, &[b(&a)]);
        let s2 = sealed(&j, &[b(&a)]);
        assert!(Arc::ptr_eq(&s1.groups, &s2.groups));
        let s3 = sealed(&j, &[b(&b2)]);
        assert!(!Arc::ptr_eq(&s1.groups, &s3.groups));
        let shared = s3
            .groups
            .iter()
            .filter(|g| s1.groups.iter().any(|h| Arc::ptr_eq(g, h)))
            .count();
        assert_eq!(shared, s3.groups.len() - 1, "all but the directory of b.c");
        drop((s1, s2, s3));
        for i in 0..5000 {
            let f = t.path().join(format!("f{i}"));
            std::fs::write(&f, "").unwrap();
            drop(sealed(&j, &[b(&f)]));
        }
        let (groups, lists) = j.lock().interned.len();
        assert!(
            groups + lists <= 2 * 1024 + 2,
            "{groups} groups, {lists} lists kept"
        );
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
        let s = j.seal(j.sync(), keys).unwrap();
        std::fs::write(d.join("unrelated.o"), "").unwrap();
        j.sync();
        assert!(j.holds(&s));
        std::fs::write(d.join("absent.h"), "").unwrap();
        j.sync();
        assert!(!j.holds(&s));
    }

    /// The bug behind wrong hits after `rm -rf dir; mkdir dir`: the new
    /// directory was sealed with the old one's (gone) watch, so nothing
    /// written in it was seen.
    #[test]
    fn a_recreated_directory_is_watched_anew() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("build");
        let j = Journal::new().unwrap();
        for round in 0..3 {
            std::fs::create_dir(&dir).unwrap();
            let src = dir.join("t.c");
            std::fs::write(&src, "int v = 1;").unwrap();
            let s = sealed(&j, &[b(&src)]);
            j.sync();
            assert!(j.holds(&s), "round {round}");
            std::fs::write(&src, "int v = 2;").unwrap();
            j.sync();
            assert!(!j.holds(&s), "round {round}: a write in the new directory");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// Deleted and recreated between the watches being set up and the
    /// clock: the watch no longer speaks for the path, so no seal.
    #[test]
    fn no_seal_when_a_watch_ends_before_the_clock() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let f = dir.join("h.h");
        std::fs::write(&f, "1").unwrap();
        let j = Journal::new().unwrap();
        let mut sp = SealPaths::new();
        sp.add_path(&b(&f));
        let keys = j.prepare(sp).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(&f, "1").unwrap();
        let clock = j.sync();
        assert!(j.seal(clock, keys).is_none());
    }

    /// A directory moved away keeps its subdirectories' watches on the
    /// moved inodes: a new tree at the old path must not be sealed with
    /// them (swapping trees by rename).
    #[test]
    fn a_tree_swapped_by_rename_is_watched_anew() {
        let t = tempfile::tempdir().unwrap();
        let mk = |root: &str, v: &str| {
            let d = t.path().join(root).join("inc/sub");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("x.h"), v).unwrap();
        };
        mk("a", "1");
        mk("b", "2");
        let h = t.path().join("a/inc/sub/x.h");
        let j = Journal::new().unwrap();
        let _ = sealed(&j, &[b(&h)]);
        std::fs::rename(t.path().join("a"), t.path().join("tmp")).unwrap();
        std::fs::rename(t.path().join("b"), t.path().join("a")).unwrap();
        std::fs::rename(t.path().join("tmp"), t.path().join("b")).unwrap();
        let s = sealed(&j, &[b(&h)]);
        j.sync();
        assert!(j.holds(&s));
        std::fs::write(&h, "3").unwrap();
        j.sync();
        assert!(!j.holds(&s), "a write in the swapped-in tree");
    }

    #[test]
    fn a_write_through_another_hard_link_is_seen() {
        let t = tempfile::tempdir().unwrap();
        let inc = t.path().join("inc");
        let other = t.path().join("other");
        std::fs::create_dir(&inc).unwrap();
        std::fs::create_dir(&other).unwrap();
        let h = inc.join("x.h");
        std::fs::write(&h, "1").unwrap();
        let j = Journal::new().unwrap();
        let s = sealed(&j, &[b(&h)]);
        // Linked after the seal, written through the link in place.
        std::fs::hard_link(&h, other.join("y.h")).unwrap();
        j.sync();
        let before = j.holds(&s);
        std::fs::write(other.join("y.h"), "2").unwrap();
        j.sync();
        assert!(!j.holds(&s), "held before the write: {before}");
    }

    #[test]
    fn a_symlinked_header_is_sealed_with_its_target() {
        let t = tempfile::tempdir().unwrap();
        let inc = t.path().join("inc");
        let real = t.path().join("elsewhere/real");
        std::fs::create_dir(&inc).unwrap();
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("x.h"), "1").unwrap();
        std::os::unix::fs::symlink(real.join("x.h"), inc.join("x.h")).unwrap();
        let j = Journal::new().unwrap();
        let s = sealed(&j, &[b(&inc.join("x.h"))]);
        j.sync();
        assert!(j.holds(&s));
        std::fs::write(real.join("x.h"), "2").unwrap();
        j.sync();
        assert!(!j.holds(&s), "a write to the target");

        // The target's directory replaced by rename: nothing near the link
        // or in the old target changes.
        let s = sealed(&j, &[b(&inc.join("x.h"))]);
        std::fs::rename(t.path().join("elsewhere"), t.path().join("old")).unwrap();
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("x.h"), "3").unwrap();
        j.sync();
        assert!(!j.holds(&s), "the target's ancestor renamed");
        let s = sealed(&j, &[b(&inc.join("x.h"))]);
        std::fs::write(real.join("x.h"), "4").unwrap();
        j.sync();
        assert!(!j.holds(&s), "a write to the new target");
    }

    /// A directory reached through a symbolic link: renaming the link
    /// target's parent changes what the sealed path names.
    #[test]
    fn a_directory_link_is_sealed_with_its_target() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("store/inc");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("x.h"), "1").unwrap();
        let link = t.path().join("inc");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let h = link.join("x.h");
        let j = Journal::new().unwrap();
        let _ = sealed(&j, &[b(&h)]);
        std::fs::rename(t.path().join("store"), t.path().join("store.old")).unwrap();
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("x.h"), "2").unwrap();
        // Sealed again after the swap: it must watch the new directory.
        let s = sealed(&j, &[b(&h)]);
        j.sync();
        assert!(j.holds(&s));
        std::fs::write(real.join("x.h"), "3").unwrap();
        j.sync();
        assert!(!j.holds(&s), "a write in the new target directory");
    }

    #[test]
    fn a_dangling_link_is_not_sealed() {
        let t = tempfile::tempdir().unwrap();
        let inc = t.path().join("inc");
        std::os::unix::fs::symlink(t.path().join("nowhere"), &inc).unwrap();
        let j = Journal::new().unwrap();
        let mut sp = SealPaths::new();
        sp.add_names(&b(&inc), [&b"x.h"[..]]);
        assert!(j.prepare(sp).is_none());
    }

    /// Events lost to a queue overflow may have been the ones that ended a
    /// watch's attribution (here `rm -rf dir; mkdir dir`): after it, every
    /// path is watched anew.
    #[test]
    fn after_an_overflow_every_path_is_watched_anew() {
        let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let h = dir.join("a.h");
        std::fs::write(&h, "1").unwrap();
        let j = Journal::new().unwrap();
        let s = sealed(&j, &[b(&h)]);
        // Fill the queue (alternating names: the kernel merges an event
        // equal to the last one), then replace the directory unseen.
        for i in 0..max + 16 {
            std::fs::write(t.path().join(["x", "y"][i % 2]), "").unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(&h, "2").unwrap();
        j.sync();
        assert!(!j.holds(&s), "an overflow voids every seal");
        let s = sealed(&j, &[b(&h)]);
        std::fs::write(&h, "3").unwrap();
        j.sync();
        assert!(
            !j.holds(&s),
            "a write in the new directory after the overflow"
        );
    }
}
