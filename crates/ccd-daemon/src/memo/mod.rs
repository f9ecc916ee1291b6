//! What the daemon remembers between requests, besides file state: all of
//! it can be recomputed, and all of it is dropped by `ccd clear`.
//!
//! What is remembered per compile context (manifests, sealed results)
//! grows with the cache, so it is bounded by `max_memory`: past it, the
//! least recently used is dropped, and read from the store or verified
//! again when next needed. What is remembered per file, directory or
//! compiler grows with the source trees, not with the cache.

mod budget;
mod recent;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ccd_cc::scan::ScanResult;
use ccd_depgraph::{DirListings, Manifest, StderrFor};
use ccd_filestate::{Digest, Seal, stat};

use crate::compiler::{Compiler, Stamps};
use crate::delivery::Delivery;
use crate::lock::lock;
use crate::trace::TraceInfo;
use budget::Budget;
pub use budget::Charge;
use recent::Recent;

/// Bytes a map entry costs besides its value: a 32-byte key, the value's
/// pointer and its use stamp, in a table between half and seven eighths
/// full.
const MAP_ENTRY: usize = 80;

pub struct Memo {
    /// Compiler identities by path, valid while their files' stamps hold.
    compilers: Mutex<HashMap<PathBuf, (Stamps, Arc<Compiler>)>>,
    /// Held while a compiler is probed: at the start of a cold `make -j`
    /// every job asks at once, and one probe is enough.
    pub probing: Mutex<()>,
    /// The compiler's default include directories, by compiler, language
    /// and the options that change them.
    pub system_dirs: Mutex<HashMap<Digest, Arc<Vec<Vec<u8>>>>>,
    /// Parsed response files by content digest.
    pub response_files: Mutex<HashMap<Digest, Arc<Vec<Vec<u8>>>>>,
    /// Include scans by content digest.
    pub scans: Mutex<HashMap<Digest, Arc<ScanResult>>>,
    /// Directory listings that answer include-lookup probes.
    pub listings: Arc<DirListings>,

    /// Manifests by context key, loaded from the store on first use.
    manifests: Mutex<Recent<(Arc<Manifest>, Charge)>>,
    /// Held while a manifest is updated and written, so that concurrent
    /// updates reach the disk in the order they were made.
    pub manifest_writes: Mutex<()>,
    /// Sealed results (see `pipeline::seal`) by request bytes and by
    /// compile context in this checkout.
    by_request: Mutex<Recent<Arc<Sealed>>>,
    by_context: Mutex<Recent<Arc<Sealed>>>,
    /// What the three maps above hold, against `max_memory`.
    budget: Arc<Budget>,
    /// Use stamps for those maps.
    clock: AtomicU64,
    /// Held while the least recently used are dropped (one pass at a time).
    evicting: Mutex<()>,
}

/// A result the file watcher vouches for: none of the paths its
/// verification looked at has changed since `seal`.
///
/// The daemon keeps one per entry it served or stored (up to `max_memory`),
/// so what is mostly empty is boxed.
pub struct Sealed {
    pub seal: Seal,
    /// Environment conditions of the entry (rustc's `env!` values): not
    /// files, so not sealed; checked against each request.
    pub env: Box<[(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)]>,
    /// The request's trace, for the log of its build session; a request
    /// of no session uses it for nothing.
    pub trace: Option<Box<TraceInfo>>,
    pub result: Digest,
    pub context: Digest,
    pub delivery: Delivery,
    pub date: Option<Box<str>>,
    pub fixed_time: bool,
    pub stderr_for: StderrFor,
    /// What the request it was sealed for read besides its inputs (see
    /// `Req::reads`): the paths its seal covers for that request.
    pub reads: Digest,
    /// Its estimated size, counted against `max_memory` while it lives (set
    /// by [`Memo::charged`]).
    pub charge: Option<Charge>,
}

impl Sealed {
    /// Heap bytes it holds, roughly (its seal's groups are shared), and
    /// its entries in the two maps.
    fn estimated_bytes(&self) -> usize {
        let path = |p: &Path| p.as_os_str().len() + 16;
        let d = &self.delivery;
        let files: usize = d
            .files
            .iter()
            .map(|f| std::mem::size_of_val(f) + path(&f.dest))
            .sum();
        let depfile = d.depfile.as_ref().map_or(0, |b| {
            std::mem::size_of_val(&**b) + path(&b.0) + b.1.len() + 32
        });
        let env: usize = self
            .env
            .iter()
            .map(|(k, v)| 64 + k.len() + v.as_ref().map_or(0, |v| v.len()))
            .sum();
        let trace = self.trace.as_ref().map_or(0, |t| {
            std::mem::size_of::<TraceInfo>()
                + path(&t.cwd)
                + path(&t.key_root)
                + t.source.as_deref().map_or(0, path)
                + t.output.as_deref().map_or(0, path)
                + t.path_remap.len()
                + t.session.as_ref().map_or(0, |s| s.len() + 16)
        });
        std::mem::size_of::<Sealed>()
            + 32
            + self.seal.own_bytes()
            + files
            + depfile
            + d.stdout.len()
            + d.stderr.len()
            + env
            + trace
            + 2 * MAP_ENTRY
    }
}

impl Default for Memo {
    fn default() -> Memo {
        Memo::new(u64::MAX)
    }
}

impl Memo {
    pub fn new(max_memory: u64) -> Memo {
        Memo {
            compilers: Mutex::default(),
            probing: Mutex::default(),
            system_dirs: Mutex::default(),
            response_files: Mutex::default(),
            scans: Mutex::default(),
            listings: Arc::default(),
            manifests: Mutex::default(),
            manifest_writes: Mutex::default(),
            by_request: Mutex::default(),
            by_context: Mutex::default(),
            budget: Budget::new(max_memory),
            clock: AtomicU64::new(0),
            evicting: Mutex::default(),
        }
    }

    /// The identity of the compiler at `path`, while its files are as they
    /// were when it was probed.
    pub fn compiler(&self, path: &Path) -> Option<Arc<Compiler>> {
        let map = lock(&self.compilers);
        let (stamps, c) = map.get(path)?;
        still_stamped(stamps).then(|| Arc::clone(c))
    }

    /// The files `path`'s identity was computed from, if still current.
    pub fn compiler_files(&self, path: &Path) -> Option<Vec<PathBuf>> {
        let map = lock(&self.compilers);
        let (stamps, _) = map.get(path)?;
        still_stamped(stamps).then(|| stamps.iter().map(|(p, _)| p.clone()).collect())
    }

    pub fn remember_compiler(&self, stamps: Stamps, compiler: Arc<Compiler>) {
        lock(&self.compilers).insert(compiler.path.clone(), (stamps, compiler));
    }

    pub fn scan(&self, digest: &Digest) -> Option<Arc<ScanResult>> {
        lock(&self.scans).get(digest).cloned()
    }

    pub fn remember_scan(&self, digest: Digest, scan: ScanResult) -> Arc<ScanResult> {
        let s = Arc::new(scan);
        lock(&self.scans).insert(digest, Arc::clone(&s));
        s
    }

    fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// The context's manifest, if remembered.
    pub fn manifest(&self, key: &Digest) -> Option<Arc<Manifest>> {
        let now = self.now();
        lock(&self.manifests)
            .get(key, now)
            .map(|(m, _)| Arc::clone(m))
    }

    /// Remembers a manifest read from the store, unless one was remembered
    /// meanwhile (an update's, newer than what was read).
    pub fn remember_manifest_read(&self, key: Digest, m: &Arc<Manifest>) {
        let charge = self.budget.charge(m.heap_bytes() + MAP_ENTRY);
        let now = self.now();
        {
            let mut map = lock(&self.manifests);
            if map.get(&key, now).is_none() {
                map.insert(key, (Arc::clone(m), charge), now);
            }
        }
        self.evict_if_over();
    }

    /// Remembers the manifest an update just wrote.
    pub fn remember_manifest(&self, key: Digest, m: Arc<Manifest>) {
        let charge = self.budget.charge(m.heap_bytes() + MAP_ENTRY);
        let now = self.now();
        lock(&self.manifests).insert(key, (m, charge), now);
        self.evict_if_over();
    }

    /// Takes the context's manifest out, to update it.
    pub fn take_manifest(&self, key: &Digest) -> Option<Arc<Manifest>> {
        lock(&self.manifests).remove(key).map(|(m, _)| m)
    }

    pub fn forget_manifest(&self, key: &Digest) {
        lock(&self.manifests).remove(key);
    }

    /// `sealed`, with its size counted against `max_memory` while it lives.
    pub fn charged(&self, mut sealed: Sealed) -> Arc<Sealed> {
        sealed.charge = Some(self.budget.charge(sealed.estimated_bytes()));
        Arc::new(sealed)
    }

    pub fn sealed_by_request(&self, key: &Digest) -> Option<Arc<Sealed>> {
        let now = self.now();
        lock(&self.by_request).get(key, now).cloned()
    }

    pub fn sealed_by_context(&self, key: &Digest) -> Option<Arc<Sealed>> {
        let now = self.now();
        lock(&self.by_context).get(key, now).cloned()
    }

    pub fn seal_by_request(&self, key: Digest, sealed: Arc<Sealed>) {
        let now = self.now();
        lock(&self.by_request).insert(key, sealed, now);
        self.evict_if_over();
    }

    pub fn seal_by_context(&self, key: Digest, sealed: Arc<Sealed>) {
        let now = self.now();
        lock(&self.by_context).insert(key, sealed, now);
        self.evict_if_over();
    }

    pub fn forget_request(&self, key: &Digest) {
        lock(&self.by_request).remove(key);
    }

    pub fn forget_context(&self, key: &Digest) {
        lock(&self.by_context).remove(key);
    }

    /// Requests the request-level cache can serve.
    pub fn sealed_requests(&self) -> usize {
        lock(&self.by_request).len()
    }

    /// Estimated bytes held for compile contexts, and the limit.
    pub fn memory(&self) -> (u64, u64) {
        (self.budget.used(), self.budget.max())
    }

    pub fn set_max_memory(&self, max: u64) {
        self.budget.set_max(max);
        self.evict_if_over();
    }

    /// Past `max_memory`, drops the least recently used quarter of what is
    /// remembered for compile contexts, again until under it. A pass looks
    /// at every entry and frees a quarter of them, so each insert pays a
    /// constant share of it.
    fn evict_if_over(&self) {
        if !self.budget.over() {
            return;
        }
        let Ok(_one_pass) = self.evicting.try_lock() else {
            return;
        };
        while self.budget.over() {
            let mut uses: Vec<u64> = lock(&self.manifests).uses().collect();
            uses.extend(lock(&self.by_context).uses());
            uses.extend(lock(&self.by_request).uses());
            if uses.is_empty() {
                return;
            }
            let quarter = uses.len() / 4;
            let cutoff = *uses.select_nth_unstable(quarter).1;
            lock(&self.manifests).drop_used_by(cutoff);
            lock(&self.by_context).drop_used_by(cutoff);
            lock(&self.by_request).drop_used_by(cutoff);
        }
    }

    /// Forgets the seals of results that are gone (evicted): their hits
    /// are misses now, for the fast paths too.
    pub fn forget_results(&self, gone: &HashSet<Digest>) {
        let keep = |s: &Arc<Sealed>| !gone.contains(&s.result);
        lock(&self.by_request).retain(keep);
        lock(&self.by_context).retain(keep);
    }

    /// Forgets every manifest (after eviction: they may name results that
    /// are gone).
    pub fn forget_manifests(&self) {
        lock(&self.manifests).clear();
    }

    /// Forgets everything about the cache's contents (`ccd clear`).
    pub fn clear(&self) {
        lock(&self.manifests).clear();
        lock(&self.by_request).clear();
        lock(&self.by_context).clear();
        self.listings.clear();
    }
}

fn still_stamped(stamps: &Stamps) -> bool {
    stamps.iter().all(|(p, s)| stat(p).ok().as_ref() == Some(s))
}
