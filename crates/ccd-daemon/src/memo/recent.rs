//! A map of what the daemon remembers about compile contexts, each entry
//! stamped with when it was last used, so that the least recently used can
//! be dropped when memory runs over `max_memory`. A stamp costs 8 bytes per
//! entry; an ordered list (an LRU cache's links and node) cost about 80.

use std::collections::HashMap;

use ccd_filestate::Digest;

pub struct Recent<V> {
    map: HashMap<Digest, (V, u64)>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Recent {
            map: HashMap::new(),
        }
    }
}

impl<V> Recent<V> {
    /// The entry under `key`, marked used at `now`.
    pub fn get(&mut self, key: &Digest, now: u64) -> Option<&V> {
        let (v, used) = self.map.get_mut(key)?;
        *used = now;
        Some(v)
    }

    pub fn insert(&mut self, key: Digest, value: V, now: u64) {
        self.map.insert(key, (value, now));
    }

    pub fn remove(&mut self, key: &Digest) -> Option<V> {
        self.map.remove(key).map(|(v, _)| v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.map.retain(|_, (v, _)| keep(v));
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// When each entry was last used.
    pub fn uses(&self) -> impl Iterator<Item = u64> + '_ {
        self.map.values().map(|(_, used)| *used)
    }

    /// Drops every entry last used at or before `cutoff`.
    pub fn drop_used_by(&mut self, cutoff: u64) {
        self.map.retain(|_, (_, used)| *used > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_used_lately_outlive_the_cutoff() {
        let mut r = Recent::default();
        for i in 0..4u8 {
            r.insert(Digest([i; 32]), i, u64::from(i));
        }
        assert_eq!(r.get(&Digest([0; 32]), 10), Some(&0), "used again at 10");
        r.drop_used_by(2);
        assert_eq!(r.len(), 2);
        assert!(r.get(&Digest([0; 32]), 11).is_some());
        assert!(r.get(&Digest([1; 32]), 11).is_none());
        assert!(r.get(&Digest([3; 32]), 11).is_some());
    }
}
