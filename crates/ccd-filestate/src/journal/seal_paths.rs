//! What a seal will cover, collected before its watches are set up.

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Names in one directory that a seal covers.
pub(super) type Group = (Box<[u8]>, Box<[Box<[u8]>]>);

/// The paths a seal will cover: directories with the names in them whose
/// creation, removal, renaming or change it must see, and files whose
/// inode is watched as well (a write through another hard link raises an
/// event only on the inode and in the directory of the name written to).
#[derive(Debug, Default)]
pub struct SealPaths {
    pub(super) groups: BTreeMap<Box<[u8]>, BTreeSet<Box<[u8]>>>,
    pub(super) files: BTreeSet<Box<[u8]>>,
    chained: HashSet<Box<[u8]>>,
    pub(super) relative: bool,
}

impl SealPaths {
    pub fn new() -> SealPaths {
        SealPaths::default()
    }

    /// A file (absolute path): its content, its name and every directory
    /// on the way to it.
    pub fn add_path(&mut self, p: &[u8]) {
        match split(p) {
            Some((dir, name)) => {
                self.add_dir_chain(dir);
                self.groups
                    .entry(dir.into())
                    .or_default()
                    .insert(name.into());
                self.files.insert(p.into());
            }
            None => self.relative |= p.first() != Some(&b'/'),
        }
    }

    /// Several names in one directory (absolute path): that each stays
    /// what it is (absent, a directory, a file), not what a file holds.
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
        self.groups.entry(dir.into()).or_default();
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

    /// Every path to watch, parents before their children (a prefix sorts
    /// first).
    pub(super) fn watched(&self) -> BTreeSet<&[u8]> {
        self.groups
            .keys()
            .chain(self.files.iter())
            .map(|p| &**p)
            .collect()
    }
}

/// `(parent, name)` of an absolute path; the parent of `/x` is `/`.
pub(super) fn split(p: &[u8]) -> Option<(&[u8], &[u8])> {
    if p.first() != Some(&b'/') || p.len() < 2 {
        return None;
    }
    let p = p.strip_suffix(b"/").unwrap_or(p);
    let i = p.iter().rposition(|b| *b == b'/')?;
    let parent = if i == 0 { &p[..1] } else { &p[..i] };
    Some((parent, &p[i + 1..]))
}

/// `dir/name`.
pub(super) fn join(dir: &[u8], name: &[u8]) -> Box<[u8]> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p.into()
}
