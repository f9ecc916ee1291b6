//! Counters shown by `ccd status`, kept across daemon restarts like
//! ccache's: the counts since the last flush are added to
//! `<cache>/stats.json` at least once a second when they moved, and when
//! the daemon exits, so a `kill -9` loses at most the last second. The
//! file is read, added to and written under a lock, so two daemons of one
//! cache directory (one making way for the other) both count.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::lock::lock;

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

/// The counts, as stored.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    /// Compiles that failed (non-zero exit), and compiles refused before
    /// they ran (a `--strict-paths` violation).
    pub errors: u64,
    /// ccd's own failures that made it run the compiler instead: a stored
    /// result that turned out damaged or could not be put in place.
    pub internal_errors: u64,
    /// Milliseconds of compiling that hits replaced.
    pub saved_ms: u64,
    pub non_cacheable: BTreeMap<String, u64>,
    /// Misses whose result was not stored (inputs changed during the
    /// compile, time macros, ...), by reason.
    pub not_stored: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, t: &Tally) {
        self.hits += u64::from(t.hit);
        self.misses += u64::from(t.miss);
        self.errors += u64::from(t.error);
        self.internal_errors += u64::from(t.internal_error);
        self.saved_ms += t.saved_ms;
        if let Some(r) = &t.non_cacheable {
            *self.non_cacheable.entry(r.to_string()).or_default() += 1;
        }
        if let Some(r) = &t.not_stored {
            *self.not_stored.entry(r.to_string()).or_default() += 1;
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.errors += o.errors;
        self.internal_errors += o.internal_errors;
        self.saved_ms += o.saved_ms;
        for (k, v) in &o.non_cacheable {
            *self.non_cacheable.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.not_stored {
            *self.not_stored.entry(k.clone()).or_default() += v;
        }
    }

    pub fn non_cacheable_total(&self) -> u64 {
        self.non_cacheable.values().sum()
    }
}

pub struct Stats {
    /// `<cache>/stats.json`.
    path: PathBuf,
    /// Counted since the last flush.
    unflushed: Mutex<Counts>,
    dirty: AtomicBool,
    /// The file's counts as of the last flush.
    flushed: Mutex<Counts>,
    /// Held while counts move from `unflushed` to the file, so that no
    /// reader sees them in neither.
    flushing: Mutex<()>,
}

impl Stats {
    /// The statistics of the cache directory `cache_dir`, as last stored.
    pub fn open(cache_dir: &Path) -> Stats {
        let path = cache_dir.join("stats.json");
        let flushed = read(&path);
        Stats {
            path,
            unflushed: Mutex::new(Counts::default()),
            dirty: AtomicBool::new(false),
            flushed: Mutex::new(flushed),
            flushing: Mutex::new(()),
        }
    }

    pub fn add(&self, t: &Tally) {
        lock(&self.unflushed).add(t);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// All counts: the file's and this daemon's since.
    pub fn counts(&self) -> Counts {
        let _flushing = lock(&self.flushing);
        let mut c = lock(&self.flushed).clone();
        c.merge(&lock(&self.unflushed));
        c
    }

    /// Adds what was counted since the last flush to the file.
    pub fn flush(&self) {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let _flushing = lock(&self.flushing);
        let delta = std::mem::take(&mut *lock(&self.unflushed));
        let written = self.update(|c| c.merge(&delta));
        if written.is_none() {
            // Kept for the next flush (a full disk, say).
            lock(&self.unflushed).merge(&delta);
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Sets every count to zero, in the file too.
    pub fn zero(&self) {
        let _flushing = lock(&self.flushing);
        *lock(&self.unflushed) = Counts::default();
        self.dirty.store(false, Ordering::Relaxed);
        if self.update(|c| *c = Counts::default()).is_none() {
            *lock(&self.flushed) = Counts::default();
        }
    }

    /// Reads the file, applies `edit`, writes it, all under its lock;
    /// `None` when it could not be written.
    fn update(&self, edit: impl FnOnce(&mut Counts)) -> Option<()> {
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .ok()?;
        // SAFETY: flock on a descriptor we own; released when it closes.
        unsafe { libc::flock(lock_file.as_raw_fd(), libc::LOCK_EX) };
        let mut c = read(&self.path);
        edit(&mut c);
        let json = serde_json::to_vec_pretty(&c).ok()?;
        let tmp = self
            .path
            .with_extension(format!("json.{}", std::process::id()));
        let written = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return None;
        }
        *lock(&self.flushed) = c;
        Some(())
    }
}

/// The stored counts; zero when there are none or they are unreadable.
fn read(path: &Path) -> Counts {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit() -> Tally {
        Tally {
            hit: true,
            saved_ms: 10,
            ..Tally::default()
        }
    }

    #[test]
    fn counts_survive_a_restart_and_two_daemons_both_count() {
        let t = tempfile::tempdir().unwrap();
        let a = Stats::open(t.path());
        a.add(&hit());
        a.add(&Tally {
            non_cacheable: Some("link".into()),
            ..Tally::default()
        });
        assert_eq!(a.counts().hits, 1, "counted before any flush");
        a.flush();
        // A second daemon starts while the first is still finishing.
        let b = Stats::open(t.path());
        assert_eq!(b.counts().hits, 1);
        a.add(&hit());
        b.add(&hit());
        a.flush();
        b.flush();
        let c = Stats::open(t.path()).counts();
        assert_eq!((c.hits, c.saved_ms), (3, 30));
        assert_eq!(c.non_cacheable["link"], 1);
        b.zero();
        assert_eq!(Stats::open(t.path()).counts(), Counts::default());
        // An unreadable file counts from zero.
        std::fs::write(t.path().join("stats.json"), b"{not json").unwrap();
        assert_eq!(Stats::open(t.path()).counts(), Counts::default());
    }
}
