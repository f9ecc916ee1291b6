//! Directory listings shared by the compiles of one daemon.
//!
//! Recording a compile's include lookups asks "does this path exist, and is
//! it a directory?" for thousands of candidate paths (a C++ file with the
//! standard library tries every header in several directories). Most of
//! those directories are the same for every compile of a build, so each is
//! read once and its listing reused for as long as its stamp (inode, mtime,
//! ctime) stays the same: one `stat` per directory and compile instead of
//! one per candidate.
//!
//! A listing is kept only when the directory had not changed for
//! [`RACY_WINDOW_NS`] when it was read: a later change then moves its mtime
//! or ctime, even with a coarse clock. Symbolic links (their target can
//! change without the directory changing) and names a listing cannot answer
//! are examined with `stat` as before.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use ccd_filestate::{RACY_WINDOW_NS, Stamp, now_ns, stat};
use rustc_hash::FxHashMap as HashMap;

use crate::probe::{Expect, is_absent};

/// Directories remembered at most; the map is emptied when it is full.
const MAX_DIRS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// A symbolic link, or a type the listing did not tell: `stat` it.
    Ask,
}

#[derive(Debug)]
pub struct Listing {
    stamp: (u64, i64, i64),
    entries: HashMap<Box<[u8]>, Kind>,
}

impl Listing {
    /// `(inode, mtime, ctime)` of the directory the listing was read from.
    pub fn stamp(&self) -> (u64, i64, i64) {
        self.stamp
    }

    /// When the directory last changed (the later of mtime and ctime).
    pub fn changed_ns(&self) -> i64 {
        self.stamp.1.max(self.stamp.2)
    }

    /// The state of `name` in this directory, or `None` when only a `stat`
    /// can tell.
    pub fn lookup(&self, name: &[u8]) -> Option<Expect> {
        if name.is_empty() || name == b"." || name == b".." {
            return None;
        }
        match self.entries.get(name) {
            None => Some(Expect::Absent),
            Some(Kind::File) => Some(Expect::File),
            Some(Kind::Dir) => Some(Expect::Dir),
            Some(Kind::Ask) => None,
        }
    }
}

/// What a directory says about the names in it, judged now.
#[derive(Debug, Clone)]
pub enum DirView {
    /// Its current listing.
    Listed(Arc<Listing>),
    /// It does not exist: nothing exists under it, and the fact is best
    /// recorded in the nearest directory that does exist.
    Absent,
    /// A file, or under one: nothing exists under it.
    NotDir,
    /// Unreadable, or changed too recently to trust a listing: `stat` each
    /// path.
    Unknown,
}

#[derive(Debug, Default)]
pub struct DirListings {
    map: Mutex<HashMap<Box<[u8]>, Arc<Listing>>>,
}

impl DirListings {
    pub fn new() -> DirListings {
        DirListings::default()
    }

    /// The directory `dir` (an absolute path) as it is now.
    pub fn view(&self, dir: &[u8]) -> DirView {
        let path = Path::new(OsStr::from_bytes(dir));
        let st = match stat(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return DirView::Absent,
            Err(e) if is_absent(&e) => return DirView::NotDir,
            Err(_) => return DirView::Unknown,
        };
        if !st.is_dir() {
            // Every path under a file fails with ENOTDIR: absent.
            return DirView::NotDir;
        }
        let stamp = stamp_of(&st);
        if let Some(l) = self.lock().get(dir)
            && l.stamp == stamp
        {
            return DirView::Listed(Arc::clone(l));
        }
        if st.changed_ns() >= now_ns() - RACY_WINDOW_NS {
            return DirView::Unknown;
        }
        let Some(entries) = read_entries(path) else {
            return DirView::Unknown;
        };
        // Changed while it was read: the listing may mix two states.
        if stat(path).map(|s| stamp_of(&s)).ok() != Some(stamp) {
            return DirView::Unknown;
        }
        let listing = Arc::new(Listing { stamp, entries });
        let mut map = self.lock();
        if map.len() >= MAX_DIRS {
            map.clear();
        }
        map.insert(dir.into(), Arc::clone(&listing));
        DirView::Listed(listing)
    }

    /// The paths of those of `names` in `dir` that are symbolic links now:
    /// answered from the listing where it is current (only entries it
    /// could not type are examined), else by `lstat` of each name.
    pub fn links_among<'a>(
        &self,
        dir: &[u8],
        names: impl IntoIterator<Item = &'a [u8]>,
    ) -> Vec<Vec<u8>> {
        let view = self.view(dir);
        let path_of = |name: &[u8]| {
            let mut p = dir.to_vec();
            if !p.ends_with(b"/") {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            p
        };
        let is_link = |p: &[u8]| {
            std::fs::symlink_metadata(Path::new(OsStr::from_bytes(p)))
                .is_ok_and(|m| m.file_type().is_symlink())
        };
        names
            .into_iter()
            .filter(|name| match &view {
                DirView::Listed(l) => l.entries.get(*name) == Some(&Kind::Ask),
                DirView::Absent | DirView::NotDir => false,
                DirView::Unknown => true,
            })
            .map(path_of)
            .filter(|p| is_link(p))
            .collect()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Arc<Listing>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stamp_of(s: &Stamp) -> (u64, i64, i64) {
    (s.ino, s.mtime_ns, s.ctime_ns)
}

fn read_entries(dir: &Path) -> Option<HashMap<Box<[u8]>, Kind>> {
    let mut entries = HashMap::default();
    for e in std::fs::read_dir(dir).ok()? {
        let e = e.ok()?;
        // `file_type` comes from the directory entry itself where the
        // filesystem records it (no extra syscall).
        let kind = match e.file_type() {
            Ok(t) if t.is_dir() => Kind::Dir,
            Ok(t) if t.is_file() => Kind::File,
            _ => Kind::Ask,
        };
        entries.insert(e.file_name().as_bytes().into(), kind);
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    /// A directory whose last change is older than the racy window.
    fn settled_dir(t: &Path) -> std::path::PathBuf {
        let d = t.join("inc");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("a.h"), "").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("a.h", d.join("link.h")).unwrap();
        std::thread::sleep(std::time::Duration::from_nanos(
            RACY_WINDOW_NS as u64 + 20_000_000,
        ));
        d
    }

    #[test]
    fn listing_answers_until_the_directory_changes() {
        let t = tempfile::tempdir().unwrap();
        let d = settled_dir(t.path());
        let ls = DirListings::new();
        let DirView::Listed(l) = ls.view(&b(&d)) else {
            panic!("a settled directory is listed")
        };
        assert_eq!(l.lookup(b"a.h"), Some(Expect::File));
        assert_eq!(l.lookup(b"sub"), Some(Expect::Dir));
        assert_eq!(l.lookup(b"none.h"), Some(Expect::Absent));
        assert_eq!(l.lookup(b"link.h"), None, "symlinks are stat'ed");
        assert_eq!(l.lookup(b".."), None);

        // A new file changes the directory's stamp: the old listing is not
        // served, and the recent change makes the directory untrusted.
        std::fs::write(d.join("none.h"), "").unwrap();
        assert!(matches!(ls.view(&b(&d)), DirView::Unknown));
    }

    #[test]
    fn missing_directories_and_files_hold_nothing() {
        let t = tempfile::tempdir().unwrap();
        let ls = DirListings::new();
        assert!(matches!(ls.view(&b(&t.path().join("no"))), DirView::Absent));
        std::fs::write(t.path().join("f"), "").unwrap();
        assert!(matches!(ls.view(&b(&t.path().join("f"))), DirView::NotDir));
        assert!(matches!(
            ls.view(&b(&t.path().join("f/g"))),
            DirView::NotDir
        ));
    }
}
