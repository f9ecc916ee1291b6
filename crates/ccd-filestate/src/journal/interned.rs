//! Seals share their groups. The compiler's directories, the system
//! headers' and a project's include directories are the same in thousands
//! of seals: measured on `bench/scale.py`'s fill, the groups of a
//! one-source compile held about 1.2 KB per seal, almost all of it equal
//! to every other seal's. Each distinct group, and each distinct list of
//! groups, is kept once.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::seal_paths::Group;

/// The groups of a seal, each one shared.
pub(super) type Groups = Arc<[Arc<Group>]>;

/// A list of interned groups, compared by the groups' addresses (equal
/// groups are one allocation, so that is comparing their contents).
struct ByAddress(Groups);

impl PartialEq for ByAddress {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Eq for ByAddress {}

impl Hash for ByAddress {
    fn hash<H: Hasher>(&self, h: &mut H) {
        for g in self.0.iter() {
            std::ptr::hash(Arc::as_ptr(g), h);
        }
    }
}

#[derive(Default)]
pub(super) struct Interner {
    groups: HashSet<Arc<Group>>,
    lists: HashSet<ByAddress>,
    /// How many groups and lists were alive after the last sweep.
    alive: usize,
}

impl Interner {
    /// `groups`, as the shared copy of each group and of the list.
    pub fn intern(&mut self, groups: Vec<Group>) -> Groups {
        let shared: Vec<Arc<Group>> = groups.into_iter().map(|g| self.group(g)).collect();
        let list = ByAddress(shared.into());
        let groups = match self.lists.get(&list) {
            Some(l) => Arc::clone(&l.0),
            None => {
                let g = Arc::clone(&list.0);
                self.lists.insert(list);
                g
            }
        };
        // Amortised: a sweep when the tables have doubled since the last.
        if self.groups.len() + self.lists.len() > 2 * self.alive.max(1024) {
            self.sweep();
        }
        groups
    }

    fn group(&mut self, g: Group) -> Arc<Group> {
        if let Some(s) = self.groups.get(&g) {
            return Arc::clone(s);
        }
        let s = Arc::new(g);
        self.groups.insert(Arc::clone(&s));
        s
    }

    /// Drops what no seal holds any more (lists first: they hold groups).
    fn sweep(&mut self) {
        self.lists.retain(|l| Arc::strong_count(&l.0) > 1);
        self.groups.retain(|g| Arc::strong_count(g) > 1);
        self.alive = self.groups.len() + self.lists.len();
    }

    #[cfg(test)]
    pub fn len(&self) -> (usize, usize) {
        (self.groups.len(), self.lists.len())
    }
}
