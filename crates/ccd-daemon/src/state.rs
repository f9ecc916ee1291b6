//! What the daemon keeps in memory between requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ccd_cc::scan::ScanResult;
use ccd_depgraph::{DirListings, Manifest};
use ccd_filestate::{Digest, FileState, Journal};
use ccd_protocol::{Location, StatusReport};
use ccd_store::Store;

use crate::claims::OutputClaims;
use crate::pending::PendingStores;
use crate::pipeline::compiler_identity::CompilerCache;
use crate::pipeline::fast_paths::Sealed;
use crate::sessions::Sessions;
use crate::spares::Spares;
use crate::stats::Stats;

pub struct Daemon {
    pub location: Location,
    pub store: Store,
    /// Stamps and digests of every file seen (sources, headers, blobs).
    pub files: FileState,
    /// Manifests by context key, loaded from the store on first use.
    pub manifests: Mutex<HashMap<Digest, Arc<Manifest>>>,
    pub compilers: CompilerCache,
    /// The compiler's default include directories, by compiler, language
    /// and the options that change them.
    pub system_dirs: Mutex<HashMap<Digest, Arc<Vec<Vec<u8>>>>>,
    /// Parsed response files by content digest.
    pub response_files: Mutex<HashMap<Digest, Arc<Vec<Vec<u8>>>>>,
    /// Directory listings that answer include-lookup probes.
    pub listings: Arc<DirListings>,
    /// Include scans by content digest.
    pub scans: Mutex<HashMap<Digest, Arc<ScanResult>>>,
    pub stats: Stats,
    pub sessions: Sessions,
    /// Stores finishing after their client was answered.
    pub pending: PendingStores,
    pub claims: OutputClaims,
    /// The file watcher; `None` when disabled or unavailable.
    pub journal: Option<Journal>,
    /// Spare copies of large outputs, moved into place by hits.
    pub spares: Spares,
    /// Sealed hits by request bytes and by compile context (fast paths).
    pub request_cache: Mutex<HashMap<Digest, Arc<Sealed>>>,
    pub context_cache: Mutex<HashMap<Digest, Arc<Sealed>>>,
    pub started: Instant,
    /// Size limit of the cache in bytes.
    pub max_size: u64,
    /// Result and manifest records that served hits since the last
    /// maintenance tick; their mtimes order eviction.
    pub used: Mutex<Vec<PathBuf>>,
    /// Requests being served now; the idle timer waits for zero.
    pub active: AtomicUsize,
    /// Milliseconds since `started` at the end of the last request.
    pub last_active_ms: AtomicU64,
    counter: AtomicU64,
}

impl Daemon {
    pub fn new(
        location: Location,
        store: Store,
        journal: Option<Journal>,
        max_size: u64,
    ) -> Daemon {
        Daemon {
            max_size,
            used: Mutex::new(Vec::new()),
            journal,
            request_cache: Mutex::new(HashMap::new()),
            spares: Spares::open(location.cache_dir.join("spares"), max_size),
            context_cache: Mutex::new(HashMap::new()),
            location,
            store,
            files: FileState::new(),
            manifests: Mutex::new(HashMap::new()),
            compilers: CompilerCache::default(),
            system_dirs: Mutex::new(HashMap::new()),
            scans: Mutex::new(HashMap::new()),
            listings: Arc::new(DirListings::new()),
            response_files: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            sessions: Sessions::default(),
            pending: PendingStores::default(),
            claims: OutputClaims::default(),
            started: Instant::now(),
            active: AtomicUsize::new(0),
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
        if let Some(m) = lock(&self.manifests).get(key) {
            return Arc::clone(m);
        }
        let m = Arc::new(self.store.get_manifest(key).unwrap_or_default());
        lock(&self.manifests).insert(*key, Arc::clone(&m));
        m
    }

    /// Applies `edit` to a context's manifest and persists the result.
    pub fn update_manifest(
        &self,
        key: &Digest,
        edit: impl FnOnce(&mut Manifest),
    ) -> Result<(), ccd_store::StoreError> {
        let mut map = lock(&self.manifests);
        let mut m = match map.remove(key) {
            // Copied only while a request still reads it.
            Some(m) => Arc::try_unwrap(m).unwrap_or_else(|m| (*m).clone()),
            None => self.store.get_manifest(key).unwrap_or_default(),
        };
        edit(&mut m);
        // Written under the lock, so concurrent updates reach the disk in
        // the order they were made. (On failure the manifest is read from
        // the disk again next time.)
        self.store.put_manifest(key, &m)?;
        map.insert(*key, Arc::new(m));
        Ok(())
    }

    pub fn scan(&self, digest: &Digest) -> Option<Arc<ScanResult>> {
        lock(&self.scans).get(digest).cloned()
    }

    pub fn remember_scan(&self, digest: Digest, scan: ScanResult) -> Arc<ScanResult> {
        let s = Arc::new(scan);
        lock(&self.scans).insert(digest, Arc::clone(&s));
        s
    }

    /// Empties the cache and everything remembered about it.
    pub fn clear(&self) -> Result<(), ccd_store::StoreError> {
        lock(&self.manifests).clear();
        lock(&self.request_cache).clear();
        lock(&self.context_cache).clear();
        self.spares.clear(self.journal.as_ref());
        if let Some(j) = &self.journal {
            j.void_all();
        }
        self.files.clear();
        self.listings.clear();
        self.store.clear()
    }

    pub fn status(&self) -> StatusReport {
        let usage = self.store.usage();
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatusReport {
            pid: std::process::id(),
            cache_dir: self.location.cache_dir.display().to_string(),
            uptime_secs: self.started.elapsed().as_secs(),
            hits: get(&s.hits),
            misses: get(&s.misses),
            non_cacheable: s.non_cacheable_total(),
            non_cacheable_reasons: s.non_cacheable_reasons(),
            errors: get(&s.errors),
            internal_errors: get(&s.internal_errors),
            not_stored_reasons: s.not_stored_reasons(),
            time_saved_ms: get(&s.saved_ms),
            entries: usage.entries,
            size_bytes: usage.size_bytes,
            max_size_bytes: self.max_size,
            record_bytes_raw: usage.records_raw_bytes,
            record_bytes_stored: usage.records_stored_bytes,
            rss_bytes: resident_bytes(),
            files_tracked: self.files.len() as u64,
            sealed_requests: lock(&self.request_cache).len() as u64,
            watched_dirs: self.journal.as_ref().map_or(0, |j| j.watched_dirs() as u64),
            spares_served: get(&self.spares.counts.served),
            spares_copied: get(&self.spares.counts.copied),
            spares_reused_unread: get(&self.spares.counts.reused_unread),
            spares_reused_hashed: get(&self.spares.counts.reused_hashed),
        }
    }

    /// Notes that a result (and its context's manifest) served a hit.
    pub fn note_used(&self, result: &Digest, context: Option<&Digest>) {
        let mut used = lock(&self.used);
        used.push(self.store.result_path(result));
        if let Some(c) = context {
            used.push(self.store.manifest_path(c));
        }
    }

    /// Periodic housekeeping: record last uses, evict if over the limit.
    pub fn maintain(&self) {
        let mut used = std::mem::take(&mut *lock(&self.used));
        // A hot loop serves one result many times per tick: touch it once.
        used.sort_unstable();
        used.dedup();
        if !used.is_empty() {
            ccd_store::touch_used(&used);
        }
        if self.store.usage().size_bytes > self.max_size {
            let r = ccd_store::evict(&self.store, self.max_size);
            lock(&self.manifests).clear();
            // An evicted result is a miss, also for the fast paths.
            let gone: std::collections::HashSet<&str> =
                r.removed.iter().map(String::as_str).collect();
            if !gone.is_empty() {
                let keep = |s: &Arc<Sealed>| !gone.contains(s.result().to_hex().as_str());
                lock(&self.request_cache).retain(|_, s| keep(s));
                lock(&self.context_cache).retain(|_, s| keep(s));
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

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
