//! The daemon's counters (`ccd status`) and how far something moved them.

use std::fmt;
use std::process::Output;

use super::env::{Env, stderr};

/// The counters of `ccd status` at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub non_cacheable: u64,
    pub errors: u64,
}

/// How far each counter moved between two [`Counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moved {
    pub hits: u64,
    pub misses: u64,
    pub non_cacheable: u64,
    pub errors: u64,
}

/// What a compile through ccd turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Passthrough,
}

impl Counts {
    /// How far the counters moved from `before` to these; panics if one
    /// went back (the daemon restarted in between and counts from zero).
    #[track_caller]
    pub fn since(self, before: Counts) -> Moved {
        let d = |after: u64, before: u64, name: &str| {
            after.checked_sub(before).unwrap_or_else(|| {
                panic!("{name} went back, {before:?} -> {self:?}: the daemon restarted in between")
            })
        };
        Moved {
            hits: d(self.hits, before.hits, "hits"),
            misses: d(self.misses, before.misses, "misses"),
            non_cacheable: d(self.non_cacheable, before.non_cacheable, "non_cacheable"),
            errors: d(self.errors, before.errors, "errors"),
        }
    }
}

impl Moved {
    pub const fn new(hits: u64, misses: u64, non_cacheable: u64, errors: u64) -> Moved {
        Moved {
            hits,
            misses,
            non_cacheable,
            errors,
        }
    }

    /// What one compile was, by the counter it moved: a hit, else a miss,
    /// else a passthrough; `None` when none of them moved by one.
    pub fn outcome(self) -> Option<Outcome> {
        if self.hits == 1 {
            Some(Outcome::Hit)
        } else if self.misses == 1 {
            Some(Outcome::Miss)
        } else if self.non_cacheable == 1 {
            Some(Outcome::Passthrough)
        } else {
            None
        }
    }

    /// Panics unless one compile (`what`, whose output is `out`) was
    /// `expect`.
    #[track_caller]
    pub fn assert_outcome(self, expect: Outcome, what: &str, out: &Output) {
        assert_eq!(
            self.outcome(),
            Some(expect),
            "{what}: counters moved {self}; stderr: {}",
            stderr(out)
        );
    }
}

impl fmt::Display for Moved {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "+{} hits, +{} misses, +{} non-cacheable, +{} errors",
            self.hits, self.misses, self.non_cacheable, self.errors
        )
    }
}

impl Env {
    /// The counters of `ccd status` (starting the daemon if none runs; the
    /// status request waits for stores in progress).
    pub fn counts(&self) -> Counts {
        let s = self.status();
        let n = |k: &str| {
            s[k].as_u64()
                .unwrap_or_else(|| panic!("status lacks {k}: {s}"))
        };
        Counts {
            hits: n("hits"),
            misses: n("misses"),
            non_cacheable: n("non_cacheable"),
            errors: n("errors"),
        }
    }

    /// Runs `f` and says how far it moved the counters.
    #[track_caller]
    pub fn counting<T>(&self, f: impl FnOnce() -> T) -> (T, Moved) {
        let before = self.counts();
        let r = f();
        (r, self.counts().since(before))
    }

    /// `ccd <compiler> args...` in the work directory, which must be
    /// `expect`.
    #[track_caller]
    pub fn cc_expect(&self, expect: Outcome, compiler: &str, args: &[&str]) -> Output {
        let (out, moved) = self.counting(|| self.cc(compiler, args));
        moved.assert_outcome(expect, &format!("{compiler} {args:?}"), &out);
        out
    }
}
