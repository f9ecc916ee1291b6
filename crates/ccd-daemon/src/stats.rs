//! Counters shown by `ccd status`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Compiles that failed (non-zero exit); never cached.
    pub errors: AtomicU64,
    /// Problems of ccd itself that made it fall back to the compiler.
    pub internal_errors: AtomicU64,
    /// Misses whose result was not stored (inputs changed during the
    /// compile, time macros, ...), by reason.
    not_stored: Mutex<BTreeMap<&'static str, u64>>,
    non_cacheable: Mutex<BTreeMap<&'static str, u64>>,
    /// Milliseconds of compiling that hits replaced.
    pub saved_ms: AtomicU64,
}

impl Stats {
    pub fn hit(&self, saved_ms: u64) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.saved_ms.fetch_add(saved_ms, Ordering::Relaxed);
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn non_cacheable(&self, reason: &'static str) {
        *lock(&self.non_cacheable).entry(reason).or_default() += 1;
    }

    pub fn not_stored(&self, reason: &'static str) {
        *lock(&self.not_stored).entry(reason).or_default() += 1;
    }

    pub fn non_cacheable_reasons(&self) -> Vec<(String, u64)> {
        lock(&self.non_cacheable)
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }

    pub fn not_stored_reasons(&self) -> Vec<(String, u64)> {
        lock(&self.not_stored)
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }

    pub fn non_cacheable_total(&self) -> u64 {
        lock(&self.non_cacheable).values().sum()
    }

    pub fn zero(&self) {
        for c in [
            &self.hits,
            &self.misses,
            &self.errors,
            &self.internal_errors,
            &self.saved_ms,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        lock(&self.non_cacheable).clear();
        lock(&self.not_stored).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
