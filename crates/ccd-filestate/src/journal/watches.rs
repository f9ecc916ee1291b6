//! Which inotify watch speaks for which path, and for how long.
//!
//! A watch is on an inode, not on a path. After `rm -rf d; mkdir d` the
//! old watch is gone (or on a deleted inode) and the new `d` has none; the
//! journal once kept `d` attributed to the old watch, sealed the new
//! directory with it, and served stale objects because writes there raised
//! no event. So a path is attributed to a watch only while nothing seen
//! could have changed what the path names. The attribution of a path, and
//! of every path under it, ends when
//!
//! - its watch's inode moved, was deleted or unmounted, or the kernel
//!   dropped the watch (any of the watch's paths);
//! - its name, in a directory watched under any of that directory's paths,
//!   was created, deleted, or moved away or over;
//! - it is a symbolic link and the attribution of its target ended (a
//!   directory renamed anywhere along the target's path changes what the
//!   link names, and raises no event near the link);
//! - the event queue overflowed (all of them).
//!
//! A path is attributed only while its parent is, and a seal watches
//! parents first, so whatever changes a path's meaning after its watch was
//! set up is an event of a watch that was already there.

use std::collections::{BTreeMap, HashMap};

use inotify::WatchDescriptor;

use super::seal_paths::join;

pub(super) struct Attr {
    pub wd: WatchDescriptor,
    /// The canonical path a symbolic link resolved to when it was watched.
    pub target: Option<Box<[u8]>>,
}

#[derive(Default)]
pub(super) struct Watches {
    paths: BTreeMap<Box<[u8]>, Attr>,
    by_wd: HashMap<WatchDescriptor, Vec<Box<[u8]>>>,
    /// Symbolic links by the canonical path they resolve to.
    links: BTreeMap<Box<[u8]>, Vec<Box<[u8]>>>,
}

impl Watches {
    pub fn get(&self, path: &[u8]) -> Option<&Attr> {
        self.paths.get(path)
    }

    /// The paths watch `wd` speaks for.
    pub fn paths_of(&self, wd: &WatchDescriptor) -> Option<&[Box<[u8]>]> {
        self.by_wd.get(wd).map(Vec::as_slice)
    }

    pub fn contains_wd(&self, wd: &WatchDescriptor) -> bool {
        self.by_wd.contains_key(wd)
    }

    pub fn attribute(&mut self, path: &[u8], wd: WatchDescriptor, target: Option<Box<[u8]>>) {
        if let Some(t) = &target {
            self.links.entry(t.clone()).or_default().push(path.into());
        }
        self.by_wd.entry(wd.clone()).or_default().push(path.into());
        self.paths.insert(path.into(), Attr { wd, target });
    }

    /// Ends the attribution of `q`, of every path under it, and of every
    /// link whose target is among them. Returns the watches that no longer
    /// speak for any path (the caller removes them from the kernel).
    pub fn end_under(&mut self, q: &[u8]) -> Vec<WatchDescriptor> {
        let mut orphaned = Vec::new();
        let mut work: Vec<Box<[u8]>> = vec![q.into()];
        while let Some(q) = work.pop() {
            for p in at_or_under(&self.paths, &q) {
                let Some(a) = self.paths.remove(&p) else {
                    continue;
                };
                if let Some(t) = &a.target
                    && let Some(ls) = self.links.get_mut(t)
                {
                    ls.retain(|l| *l != p);
                    if ls.is_empty() {
                        self.links.remove(t);
                    }
                }
                if let Some(ps) = self.by_wd.get_mut(&a.wd) {
                    ps.retain(|x| *x != p);
                    if ps.is_empty() {
                        self.by_wd.remove(&a.wd);
                        orphaned.push(a.wd);
                    }
                }
            }
            for t in at_or_under(&self.links, &q) {
                work.extend(self.links.get(&t).into_iter().flatten().cloned());
            }
        }
        orphaned
    }

    /// Forgets every attribution; returns every watch.
    pub fn clear(&mut self) -> Vec<WatchDescriptor> {
        self.paths.clear();
        self.links.clear();
        self.by_wd.drain().map(|(wd, _)| wd).collect()
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }
}

/// The keys of `map` equal to `q` or under `q/`.
fn at_or_under<V>(map: &BTreeMap<Box<[u8]>, V>, q: &[u8]) -> Vec<Box<[u8]>> {
    // Everything under `q/` sorts between `q/` and `q0` ('0' follows '/');
    // for `/` that range holds `/` itself.
    let lo = join(q, b"");
    let mut keys: Vec<Box<[u8]>> = match map.get_key_value(q) {
        Some((k, _)) if *lo != *q => vec![k.clone()],
        _ => Vec::new(),
    };
    let mut hi = lo.to_vec();
    if let Some(last) = hi.last_mut() {
        *last = b'0';
    }
    keys.extend(
        map.range::<[u8], _>((
            std::ops::Bound::Included(&*lo),
            std::ops::Bound::Excluded(&*hi),
        ))
        .map(|(k, _)| k.clone()),
    );
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_exactly_a_path_and_what_is_under_it() {
        let mut m: BTreeMap<Box<[u8]>, ()> = BTreeMap::new();
        for k in ["/a", "/a-b", "/a/b", "/a/b/c", "/a0", "/ab", "/"] {
            m.insert(k.as_bytes().into(), ());
        }
        let got: Vec<_> = at_or_under(&m, b"/a")
            .into_iter()
            .map(|k| String::from_utf8(k.into()).unwrap())
            .collect();
        assert_eq!(got, ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(at_or_under(&m, b"/").len(), m.len());
    }
}
