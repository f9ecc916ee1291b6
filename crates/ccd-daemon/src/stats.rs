//! Counters shown by `ccd status`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::lock::lock;

#[derive(Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Compiles that failed (non-zero exit), and compiles refused before
    /// they ran (a `--strict-paths` violation).
    pub errors: AtomicU64,
    /// ccd's own failures that made it run the compiler instead: a stored
    /// result that turned out damaged or could not be put in place.
    pub internal_errors: AtomicU64,
    /// Misses whose result was not stored (inputs changed during the
    /// compile, time macros, ...), by reason.
    not_stored: Mutex<BTreeMap<Cow<'static, str>, u64>>,
    non_cacheable: Mutex<BTreeMap<Cow<'static, str>, u64>>,
    /// Milliseconds of compiling that hits replaced.
    pub saved_ms: AtomicU64,
}

/// How one finished compile counts. `ccd status` and the compile's build
/// session both count from this one value, so they can never disagree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub hit: bool,
    pub miss: bool,
    pub error: bool,
    pub internal_error: bool,
    pub saved_ms: u64,
    pub non_cacheable: Option<Cow<'static, str>>,
    pub not_stored: Option<Cow<'static, str>>,
}

impl Stats {
    pub fn add(&self, t: &Tally) {
        let bump = |on: bool, c: &AtomicU64| {
            if on {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        bump(t.hit, &self.hits);
        bump(t.miss, &self.misses);
        bump(t.error, &self.errors);
        bump(t.internal_error, &self.internal_errors);
        self.saved_ms.fetch_add(t.saved_ms, Ordering::Relaxed);
        if let Some(r) = &t.non_cacheable {
            *lock(&self.non_cacheable).entry(r.clone()).or_default() += 1;
        }
        if let Some(r) = &t.not_stored {
            *lock(&self.not_stored).entry(r.clone()).or_default() += 1;
        }
    }

    pub fn non_cacheable_reasons(&self) -> Vec<(String, u64)> {
        listed(&lock(&self.non_cacheable))
    }

    pub fn not_stored_reasons(&self) -> Vec<(String, u64)> {
        listed(&lock(&self.not_stored))
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

fn listed(m: &BTreeMap<Cow<'static, str>, u64>) -> Vec<(String, u64)> {
    m.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
