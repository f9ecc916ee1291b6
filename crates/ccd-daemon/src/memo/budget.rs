//! What the remembered contexts cost, against `max_memory`. Each remembered
//! thing carries a [`Charge`] of its estimated size, given back when it is
//! dropped, so a sealed result held by two maps is counted once and freed
//! only when both have let go.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    max: AtomicU64,
}

impl Budget {
    pub fn new(max: u64) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicU64::new(0),
            max: AtomicU64::new(max),
        })
    }

    pub fn charge(self: &Arc<Self>, bytes: usize) -> Charge {
        let bytes = bytes as u64;
        self.used.fetch_add(bytes, Ordering::Relaxed);
        Charge {
            budget: Arc::clone(self),
            bytes,
        }
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    pub fn set_max(&self, max: u64) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn over(&self) -> bool {
        self.used() > self.max()
    }
}

/// Bytes counted against a budget while this lives.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_counts_while_it_lives() {
        let b = Budget::new(100);
        let c = b.charge(60);
        assert!(!b.over());
        let d = b.charge(60);
        assert!(b.over());
        drop(c);
        assert_eq!(b.used(), 60);
        drop(d);
        assert_eq!(b.used(), 0);
    }
}
