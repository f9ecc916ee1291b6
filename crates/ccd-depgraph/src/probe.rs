//! Include lookups recorded as filesystem facts.
//!
//! For every header lookup of a compile, ccd records the state of each
//! candidate path up to the one that was found: "does not exist", "is a
//! directory" (the preprocessor skips those) or "is a file". Facts are grouped
//! by directory, so a hit usually costs one `stat` per directory: if the
//! directory's stamp is unchanged, no entry in it was created or removed.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use ccd_filestate::{RACY_WINDOW_NS, stat};
use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

use crate::listing::{DirListings, DirView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Expect {
    Absent,
    Dir,
    File,
}

impl Expect {
    /// The state of `path` now. Errors other than "not found" are reported as
    /// `None`: the caller cannot rely on such a path.
    pub fn observe(path: &Path) -> Option<Expect> {
        match stat(path) {
            Ok(s) if s.is_dir() => Some(Expect::Dir),
            Ok(_) => Some(Expect::File),
            Err(e) if is_absent(&e) => Some(Expect::Absent),
            Err(_) => None,
        }
    }
}

pub(crate) fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// The facts recorded about one directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirProbe {
    #[serde(with = "serde_bytes")]
    pub dir: Vec<u8>,
    /// `(inode, mtime, ctime)` of the directory when recorded, if it existed
    /// and had not changed too recently to be trusted.
    pub stamp: Option<(u64, i64, i64)>,
    pub existed: bool,
    pub names: Vec<(serde_bytes::ByteBuf, Expect)>,
}

impl DirProbe {
    /// Every path this probe states a fact about.
    pub fn paths(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.names.iter().map(|(name, _)| {
            let mut p = self.dir.clone();
            if !p.ends_with(b"/") {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            p
        })
    }

    /// Whether every recorded fact still holds.
    pub fn holds(&self) -> bool {
        let dir = Path::new(OsStr::from_bytes(&self.dir));
        match (stat(dir), self.existed) {
            (Err(e), false) if is_absent(&e) => return true,
            (Ok(s), true) if self.stamp == Some((s.ino, s.mtime_ns, s.ctime_ns)) => return true,
            _ => {}
        }
        self.names.iter().all(|(name, expect)| {
            Expect::observe(&dir.join(OsStr::from_bytes(name))) == Some(*expect)
        })
    }
}

/// Collects facts while the daemon resolves a compile's lookups.
#[derive(Debug, Default)]
pub struct ProbeSet {
    by_dir: HashMap<Vec<u8>, DirFacts>,
    listings: Option<Arc<DirListings>>,
    /// Set when a path could not be examined; the result must not be stored.
    pub unreliable: bool,
}

#[derive(Debug)]
struct DirFacts {
    view: DirView,
    names: HashMap<Vec<u8>, Expect>,
}

impl ProbeSet {
    /// Examines every path with `stat`.
    pub fn new() -> ProbeSet {
        ProbeSet::default()
    }

    /// Answers from directory listings shared with other compiles where
    /// they are current.
    pub fn with_listings(listings: Arc<DirListings>) -> ProbeSet {
        ProbeSet {
            listings: Some(listings),
            ..ProbeSet::default()
        }
    }

    /// Records and returns the state of the absolute path `path`.
    pub fn observe(&mut self, path: &[u8]) -> Option<Expect> {
        let split = path.iter().rposition(|b| *b == b'/')?;
        let (dir, name) = (&path[..split.max(1)], &path[split + 1..]);
        let dir_absent = match self.by_dir.get(dir) {
            Some(f) => matches!(f.view, DirView::Absent),
            None => {
                let view = match &self.listings {
                    Some(l) => l.view(dir),
                    None => DirView::Unknown,
                };
                let absent = matches!(view, DirView::Absent);
                let facts = DirFacts {
                    view,
                    names: HashMap::default(),
                };
                self.by_dir.insert(dir.to_vec(), facts);
                absent
            }
        };
        // A path in a directory that does not exist is absent because the
        // directory is: record that one fact in the nearest directory that
        // exists, rather than one fact per missing directory (a C++ compile
        // tries `bits/...` under every search directory).
        if dir_absent && dir != b"/" && self.observe(dir) == Some(Expect::Absent) {
            return Some(Expect::Absent);
        }
        let facts = self.by_dir.get_mut(dir)?;
        if let Some(e) = facts.names.get(name) {
            return Some(*e);
        }
        let listed = match &facts.view {
            DirView::Listed(l) => l.lookup(name),
            DirView::NotDir => Some(Expect::Absent),
            // Missing a moment ago, yet not absent now: ask the path.
            DirView::Absent | DirView::Unknown => None,
        };
        let e = listed.or_else(|| Expect::observe(Path::new(OsStr::from_bytes(path))));
        match e {
            Some(e) => {
                facts.names.insert(name.to_vec(), e);
            }
            None => self.unreliable = true,
        }
        e
    }

    /// Stamps each directory and returns the probes to store.
    /// `recorded_at_ns` is when the first observation was made.
    pub fn finish(self, recorded_at_ns: i64) -> Vec<DirProbe> {
        let mut probes: Vec<DirProbe> = self
            .by_dir
            .into_iter()
            .filter(|(_, facts)| !facts.names.is_empty())
            .map(|(dir, DirFacts { names, view })| {
                // A listed directory was stat'ed when it was first looked
                // at, before any fact about it was taken.
                let (existed, changed) = match &view {
                    DirView::Listed(l) => (true, Some((l.stamp(), l.changed_ns()))),
                    _ => match stat(Path::new(OsStr::from_bytes(&dir))) {
                        Ok(s) => (
                            true,
                            Some(((s.ino, s.mtime_ns, s.ctime_ns), s.changed_ns())),
                        ),
                        Err(_) => (false, None),
                    },
                };
                let stamp = changed
                    .filter(|(_, c)| *c < recorded_at_ns - RACY_WINDOW_NS)
                    .map(|(s, _)| s);
                let mut names: Vec<(serde_bytes::ByteBuf, Expect)> = names
                    .into_iter()
                    .map(|(n, e)| (serde_bytes::ByteBuf::from(n), e))
                    .collect();
                names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                DirProbe {
                    dir,
                    stamp,
                    existed,
                    names,
                }
            })
            .collect();
        // Stored in a fixed order: equal facts give equal manifests.
        probes.sort_unstable_by(|a, b| a.dir.cmp(&b.dir));
        probes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::DirListings;
    use std::os::unix::ffi::OsStrExt;

    fn b(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    #[test]
    fn new_file_in_existing_or_missing_dir_breaks_probe() {
        let t = tempfile::tempdir().unwrap();
        let inc = t.path().join("inc");
        std::fs::create_dir(&inc).unwrap();
        let mut set = ProbeSet::new();
        assert_eq!(set.observe(&b(&inc.join("x.h"))), Some(Expect::Absent));
        assert_eq!(
            set.observe(&b(&t.path().join("later/x.h"))),
            Some(Expect::Absent)
        );
        assert_eq!(set.observe(&b(&inc)), Some(Expect::Dir));
        let probes = set.finish(ccd_filestate::now_ns());
        assert!(probes.iter().all(DirProbe::holds));

        // A file in the earlier, existing directory.
        std::fs::write(inc.join("x.h"), "").unwrap();
        assert!(!probes.iter().all(DirProbe::holds));
        std::fs::remove_file(inc.join("x.h")).unwrap();
        assert!(probes.iter().all(DirProbe::holds));

        // A directory that did not exist, created empty: still holds;
        // with the header in it: broken.
        std::fs::create_dir(t.path().join("later")).unwrap();
        assert!(probes.iter().all(DirProbe::holds));
        std::fs::write(t.path().join("later/x.h"), "").unwrap();
        assert!(!probes.iter().all(DirProbe::holds));
    }

    /// With listings, a path under missing directories is recorded in the
    /// nearest directory that exists; the facts still break when any
    /// directory on the way, or the file, is created, and hold otherwise.
    #[test]
    fn missing_directories_are_recorded_in_an_existing_ancestor() {
        let t = tempfile::tempdir().unwrap();
        let inc = t.path().join("inc");
        std::fs::create_dir(&inc).unwrap();
        std::fs::write(inc.join("file"), "").unwrap();
        std::thread::sleep(std::time::Duration::from_nanos(
            RACY_WINDOW_NS as u64 + 20_000_000,
        ));
        let recorded_at = ccd_filestate::now_ns();
        let mut set = ProbeSet::with_listings(Arc::new(DirListings::new()));
        let deep = inc.join("bits/more/x.h");
        assert_eq!(set.observe(&b(&deep)), Some(Expect::Absent));
        assert_eq!(set.observe(&b(&inc.join("file/x.h"))), Some(Expect::Absent));
        assert_eq!(set.observe(&b(&inc.join("file"))), Some(Expect::File));
        let probes = set.finish(recorded_at);
        let dirs: Vec<&[u8]> = probes.iter().map(|p| p.dir.as_slice()).collect();
        assert!(
            dirs.contains(&b(&inc).as_slice()) && !dirs.iter().any(|d| d.ends_with(b"bits/more")),
            "facts about bits/more/x.h are kept in inc: {probes:?}"
        );
        assert!(probes.iter().all(DirProbe::holds));

        // Unrelated changes inside inc: the stamp differs, the facts hold.
        std::fs::write(inc.join("other.h"), "").unwrap();
        assert!(probes.iter().all(DirProbe::holds));
        // The missing directories appear, empty: broken (conservatively).
        std::fs::create_dir_all(deep.parent().unwrap()).unwrap();
        assert!(!probes.iter().all(DirProbe::holds));
        std::fs::remove_dir_all(inc.join("bits")).unwrap();
        assert!(probes.iter().all(DirProbe::holds));
    }
}
