//! Stores still being written after the client was answered.
//!
//! On a miss the daemon answers the client as soon as the outputs and the
//! dependency list are taken, and hashes inputs, records include lookups
//! and writes the manifest afterwards: the build goes on meanwhile. A
//! request for the same compile context, and every admin request that
//! reports or changes the cache, waits for those stores first, so that a
//! compile repeated at once is still a hit and `ccd stats` counts it.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ccd_filestate::Digest;
use rustc_hash::FxHashMap;

/// How long a request waits for a store before going on without it (a
/// store is milliseconds; this bounds a pathological one).
pub const MAX_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct PendingStores {
    by_context: Mutex<FxHashMap<Digest, usize>>,
    done: Condvar,
}

/// A store in progress; dropping it marks the store done.
pub struct Pending<'a> {
    stores: &'a PendingStores,
    key: Digest,
}

impl PendingStores {
    pub fn begin(&self, key: Digest) -> Pending<'_> {
        *self.lock().entry(key).or_insert(0) += 1;
        Pending { stores: self, key }
    }

    /// Waits until no store of context `key` is in progress.
    pub fn wait_for(&self, key: &Digest) {
        self.wait_until(|m| !m.contains_key(key));
    }

    /// Waits until no store at all is in progress.
    pub fn wait_all(&self) {
        self.wait_until(FxHashMap::is_empty);
    }

    fn wait_until(&self, settled: impl Fn(&FxHashMap<Digest, usize>) -> bool) {
        let deadline = Instant::now() + MAX_WAIT;
        let mut g = self.lock();
        while !settled(&g) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("a store is taking too long; not waiting for it");
                return;
            }
            g = match self.done.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    fn lock(&self) -> MutexGuard<'_, FxHashMap<Digest, usize>> {
        crate::lock::lock(&self.by_context)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut g = self.stores.lock();
        if let Some(n) = g.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                g.remove(&self.key);
            }
        }
        drop(g);
        self.stores.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_waiter_returns_only_after_the_store_of_its_context_is_done() {
        let stores = Arc::new(PendingStores::default());
        let key = Digest([7; 32]);
        let other = Digest([8; 32]);
        let finished = Arc::new(AtomicBool::new(false));
        let pending = stores.begin(key);
        let _unrelated = stores.begin(other);
        let waiter = {
            let (stores, finished) = (Arc::clone(&stores), Arc::clone(&finished));
            std::thread::spawn(move || {
                stores.wait_for(&key);
                finished.load(Ordering::SeqCst)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        finished.store(true, Ordering::SeqCst);
        drop(pending);
        assert!(
            waiter.join().unwrap(),
            "wait_for returned before the store was done"
        );
        // Another context's store does not hold up a request.
        let t = Instant::now();
        stores.wait_for(&key);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn wait_all_waits_for_every_context() {
        let stores = Arc::new(PendingStores::default());
        let a = stores.begin(Digest([1; 32]));
        let b = stores.begin(Digest([1; 32]));
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (stores, done) = (Arc::clone(&stores), Arc::clone(&done));
            std::thread::spawn(move || {
                stores.wait_all();
                done.load(Ordering::SeqCst)
            })
        };
        drop(a);
        std::thread::sleep(Duration::from_millis(50));
        done.store(true, Ordering::SeqCst);
        drop(b);
        assert!(
            waiter.join().unwrap(),
            "wait_all returned with a store in progress"
        );
    }
}
