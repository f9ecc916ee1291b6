//! What one daemon holds: the store, the state of every file it has seen,
//! the file watcher, what it remembers between requests, and its
//! bookkeeping (statistics, sessions, compiles in flight).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ccd_depgraph::Manifest;
use ccd_filestate::{Digest, FileState, Journal};
use ccd_protocol::{ExeId, Location, StatusReport};
use ccd_store::{Kind, Store};

use crate::claims::OutputClaims;
use crate::config::DaemonConfig;
use crate::lock::lock;
use crate::memo::Memo;
use crate::pending::PendingStores;
use crate::sessions::Sessions;
use crate::settings::Settings;
use crate::spares::Spares;
use crate::stats::Stats;

pub struct Daemon {
    pub location: Location,
    pub store: Store,
    /// Stamps and digests of every file seen (sources, headers, blobs).
    pub files: FileState,
    /// The file watcher; `None` when disabled or unavailable.
    pub journal: Option<Journal>,
    pub memo: Memo,
    pub stats: Stats,
    pub sessions: Sessions,
    /// Stores finishing after their client was answered.
    pub pending: PendingStores,
    pub claims: OutputClaims,
    /// Spare copies of large outputs, moved into place by hits.
    pub spares: Spares,
    pub started: Instant,
    /// The settings in effect (read again when a config file changes).
    pub settings: Settings,
    /// Results and manifests that served hits since the last maintenance
    /// tick: their last use orders eviction.
    used: Mutex<Vec<(Kind, Digest)>>,
    /// Requests being served now; the idle timer waits for zero.
    pub active: AtomicUsize,
    /// The executable this daemon runs (clients of another one replace it).
    pub exe: Option<ExeId>,
    /// Replaced: the socket and lock are given up, the process exits once
    /// idle.
    pub retiring: AtomicBool,
    /// Milliseconds since `started` at the end of the last request.
    pub last_active_ms: AtomicU64,
    counter: AtomicU64,
}

impl Daemon {
    pub fn new(
        location: Location,
        store: Store,
        journal: Option<Journal>,
        config: DaemonConfig,
    ) -> Daemon {
        let max_size = config.max_size.value;
        let max_memory = config.max_memory.value;
        Daemon {
            settings: Settings::new(&location.cache_dir, config),
            used: Mutex::new(Vec::new()),
            journal,
            spares: Spares::open(&location.cache_dir.join("spares"), max_size),
            stats: Stats::open(&location.cache_dir),
            location,
            store,
            files: FileState::new(),
            memo: Memo::new(max_memory),
            sessions: Sessions::default(),
            pending: PendingStores::default(),
            claims: OutputClaims::default(),
            started: Instant::now(),
            active: AtomicUsize::new(0),
            exe: ExeId::of_self(),
            retiring: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(0),
            counter: AtomicU64::new(0),
        }
    }

    /// A fresh path for a private file a compile writes (a dependency
    /// file). It lives in the socket directory (private, 0700), not in the
    /// cache directory: a full cache filesystem must not fail a compile.
    pub fn temp_path(&self, suffix: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.location
            .socket_dir
            .join(format!("tmp-{}-{n}{suffix}", std::process::id()))
    }

    /// The manifest of a compile context (empty if none was stored).
    pub fn manifest(&self, key: &Digest) -> Arc<Manifest> {
        if let Some(m) = self.memo.manifest(key) {
            return m;
        }
        let m = Arc::new(self.store.get_manifest(key).unwrap_or_default());
        self.memo.remember_manifest_read(*key, &m);
        m
    }

    /// Applies `edit` to a context's manifest and persists the result.
    pub fn update_manifest(
        &self,
        key: &Digest,
        edit: impl FnOnce(&mut Manifest),
    ) -> Result<(), ccd_store::StoreError> {
        let _writing = lock(&self.memo.manifest_writes);
        let mut m = match self.memo.take_manifest(key) {
            // Copied only while a request still reads it.
            Some(m) => Arc::try_unwrap(m).unwrap_or_else(|m| (*m).clone()),
            None => self.store.get_manifest(key).unwrap_or_default(),
        };
        edit(&mut m);
        // Written under the lock, so concurrent updates reach the disk in
        // the order they were made. (On failure the manifest is read from
        // the disk again next time.)
        self.store.put_manifest(key, &m)?;
        self.memo.remember_manifest(*key, Arc::new(m));
        Ok(())
    }

    /// Empties the cache and everything remembered about it.
    pub fn clear(&self) -> Result<(), ccd_store::StoreError> {
        self.memo.clear();
        self.spares.clear(self.journal.as_ref());
        if let Some(j) = &self.journal {
            j.void_all();
        }
        self.files.clear();
        self.store.clear()
    }

    pub fn status(&self) -> StatusReport {
        let usage = self.store.usage();
        let c = self.stats.counts();
        let (settings, config_warnings) = self.settings.describe();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let listed = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        StatusReport {
            pid: std::process::id(),
            cache_dir: self.location.cache_dir.display().to_string(),
            uptime_secs: self.started.elapsed().as_secs(),
            hits: c.hits,
            misses: c.misses,
            non_cacheable: c.non_cacheable_total(),
            non_cacheable_reasons: listed(&c.non_cacheable),
            errors: c.errors,
            internal_errors: c.internal_errors,
            not_stored_reasons: listed(&c.not_stored),
            time_saved_ms: c.saved_ms,
            entries: usage.entries,
            size_bytes: usage.size_bytes,
            max_size_bytes: self.settings.max_size(),
            record_bytes_raw: usage.records_raw_bytes,
            record_bytes_stored: usage.records_stored_bytes,
            rss_bytes: resident_bytes(),
            files_tracked: self.files.len() as u64,
            sealed_requests: self.memo.sealed_requests() as u64,
            context_memory_bytes: self.memo.memory().0,
            max_memory_bytes: self.memo.memory().1,
            watched_dirs: self.journal.as_ref().map_or(0, |j| j.watched_dirs() as u64),
            spares_served: get(&self.spares.counts.served),
            spares_copied: get(&self.spares.counts.copied),
            spares_reused_unread: get(&self.spares.counts.reused_unread),
            spares_reused_hashed: get(&self.spares.counts.reused_hashed),
            settings,
            config_warnings,
        }
    }

    /// Notes that a result (and its context's manifest) served a hit.
    pub fn note_used(&self, result: &Digest, context: &Digest) {
        let mut used = lock(&self.used);
        used.push((Kind::Result, *result));
        used.push((Kind::Manifest, *context));
    }

    /// Periodic housekeeping: store the statistics, record last uses,
    /// evict if over the limit.
    pub fn maintain(&self) {
        self.stats.flush();
        let mut used = std::mem::take(&mut *lock(&self.used));
        // A hot loop serves one result many times per tick: touch it once.
        used.sort_unstable();
        used.dedup();
        if !used.is_empty() {
            self.store.touch_used(&used);
        }
        let max_size = self.settings.max_size();
        if self.store.usage().size_bytes > max_size {
            let r = self.store.evict(max_size);
            self.memo.forget_manifests();
            // An evicted result is a miss, also for the fast paths.
            if !r.removed.is_empty() {
                self.memo
                    .forget_results(&r.removed.iter().copied().collect());
            }
            tracing::info!(
                results = r.results_removed,
                blobs = r.blobs_removed,
                manifests = r.manifests_removed,
                bytes_after = r.bytes_after,
                "evicted least recently used results"
            );
        }
    }

    pub fn touch(&self) {
        self.last_active_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// VmRSS from /proc/self/status.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A daemon over a fresh cache in `dir`, with or without the watcher: what
/// unit tests of a phase need.
#[cfg(test)]
pub fn for_tests(dir: &std::path::Path, watch: bool) -> Daemon {
    let location = Location {
        cache_dir: dir.join("cache"),
        socket_dir: dir.join("run"),
        socket: dir.join("run/d.sock"),
    };
    let _ = std::fs::create_dir_all(&location.socket_dir);
    let store = Store::open(&location.cache_dir).unwrap();
    let journal = watch.then(|| Journal::new().unwrap());
    Daemon::new(location, store, journal, DaemonConfig::defaults())
}
