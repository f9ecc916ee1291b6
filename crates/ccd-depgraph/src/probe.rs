//! Include lookups recorded as filesystem facts.
//!
//! For every header lookup of a compile, ccd records the state of each
//! candidate path up to the one that was found: "does not exist", "is a
//! directory" (the preprocessor skips those) or "is a file". Facts are grouped
//! by directory, so a hit usually costs one `stat` per directory: if the
//! directory's stamp is unchanged, no entry in it was created or removed.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ccd_filestate::{RACY_WINDOW_NS, stat};
use serde::{Deserialize, Serialize};

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

fn is_absent(e: &std::io::Error) -> bool {
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
    by_dir: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Expect>>,
    /// Set when a path could not be examined; the result must not be stored.
    pub unreliable: bool,
}

impl ProbeSet {
    pub fn new() -> ProbeSet {
        ProbeSet::default()
    }

    /// Records and returns the state of the absolute path `path`.
    pub fn observe(&mut self, path: &[u8]) -> Option<Expect> {
        let split = path.iter().rposition(|b| *b == b'/')?;
        let (dir, name) = (&path[..split.max(1)], &path[split + 1..]);
        if let Some(e) = self.by_dir.get(dir).and_then(|m| m.get(name)) {
            return Some(*e);
        }
        let e = Expect::observe(Path::new(OsStr::from_bytes(path)));
        match e {
            Some(e) => {
                self.by_dir
                    .entry(dir.to_vec())
                    .or_default()
                    .insert(name.to_vec(), e);
            }
            None => self.unreliable = true,
        }
        e
    }

    /// Stamps each directory and returns the probes to store.
    /// `recorded_at_ns` is when the first observation was made.
    pub fn finish(self, recorded_at_ns: i64) -> Vec<DirProbe> {
        self.by_dir
            .into_iter()
            .map(|(dir, names)| {
                let st = stat(Path::new(OsStr::from_bytes(&dir))).ok();
                let stamp = st
                    .filter(|s| s.changed_ns() < recorded_at_ns - RACY_WINDOW_NS)
                    .map(|s| (s.ino, s.mtime_ns, s.ctime_ns));
                DirProbe {
                    dir,
                    stamp,
                    existed: st.is_some(),
                    names: names
                        .into_iter()
                        .map(|(n, e)| (serde_bytes::ByteBuf::from(n), e))
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
