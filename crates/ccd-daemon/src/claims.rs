//! Output paths of compiles in flight, from the moment the client is told
//! to compile until the daemon has taken the outputs.
//!
//! Two compiles writing one path at once (make running one command twice)
//! leave it, for a moment, truncated or holding the other's bytes: the
//! assembler of the second truncates the first's object while the first's
//! outputs are being taken. Stored, that moment would be served by every
//! later hit (an empty object was, one run in eight of
//! `eight_identical_command_lines_at_once`). So a compile whose output path
//! another compile claimed, or a hit delivered to, while it was in flight
//! is not stored.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustc_hash::FxHashMap;

#[derive(Default)]
pub struct OutputClaims {
    paths: Mutex<FxHashMap<PathBuf, Claimed>>,
    /// Paths claimed now: hits skip the lock when there are none.
    claimed: AtomicUsize,
}

struct Claimed {
    holders: usize,
    /// Bumped whenever another compile claims the path or a hit delivers
    /// to it.
    epoch: u64,
}

/// One compile's claim on its output paths; dropping it releases them.
pub struct Claim<'a> {
    claims: &'a OutputClaims,
    held: Vec<(PathBuf, u64)>,
    contended: bool,
}

impl OutputClaims {
    pub fn claim<'p>(&self, paths: impl IntoIterator<Item = &'p Path>) -> Claim<'_> {
        let mut g = self.lock();
        let mut claim = Claim {
            claims: self,
            held: Vec::new(),
            contended: false,
        };
        for p in paths {
            let c = g.entry(p.to_path_buf()).or_insert(Claimed {
                holders: 0,
                epoch: 0,
            });
            if c.holders > 0 {
                c.epoch += 1;
                claim.contended = true;
            }
            c.holders += 1;
            claim.held.push((p.to_path_buf(), c.epoch));
        }
        self.claimed.store(g.len(), Ordering::Relaxed);
        claim
    }

    /// A hit is delivering to `path`: a compile writing it now is not
    /// stored.
    pub fn touch(&self, path: &Path) {
        if self.claimed.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(c) = self.lock().get_mut(path) {
            c.epoch += 1;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<PathBuf, Claimed>> {
        crate::lock::lock(&self.paths)
    }
}

impl Claim<'_> {
    /// Whether another compile or a hit wrote one of the paths since the
    /// claim (or was writing it when the claim was made).
    pub fn contended(&self) -> bool {
        let g = self.claims.lock();
        self.contended
            || self
                .held
                .iter()
                .any(|(p, epoch)| g.get(p).is_none_or(|c| c.epoch != *epoch))
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut g = self.claims.lock();
        for (p, _) in &self.held {
            if let Some(c) = g.get_mut(p) {
                c.holders -= 1;
                if c.holders == 0 {
                    g.remove(p);
                }
            }
        }
        self.claims.claimed.store(g.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_claims_and_deliveries_are_contended() {
        let claims = OutputClaims::default();
        let a = Path::new("/w/a.o");
        let first = claims.claim([a]);
        assert!(!first.contended());
        let second = claims.claim([a]);
        assert!(first.contended() && second.contended());
        drop(first);
        drop(second);
        let alone = claims.claim([a, Path::new("/w/a.d")]);
        assert!(!alone.contended(), "released claims are forgotten");
        claims.touch(Path::new("/w/b.o"));
        assert!(!alone.contended(), "another path");
        claims.touch(a);
        assert!(alone.contended(), "a hit delivered to the path");
        drop(alone);
        assert_eq!(claims.claimed.load(Ordering::Relaxed), 0);
    }
}
