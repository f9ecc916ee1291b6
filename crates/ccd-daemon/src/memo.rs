//! What the daemon remembers between requests, besides file state: all of
//! it can be recomputed, and all of it is dropped by `ccd clear`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ccd_cc::scan::ScanResult;
use ccd_depgraph::{DirListings, Manifest, StderrFor};
use ccd_filestate::{Digest, Seal, stat};

use crate::compiler::{Compiler, Stamps};
use crate::delivery::Delivery;
use crate::lock::lock;
use crate::trace::TraceInfo;

/// Sealed results kept per map before it is emptied and rebuilt on demand.
const MAX_SEALED: usize = 200_000;

#[derive(Default)]
pub struct Memo {
    /// Manifests by context key, loaded from the store on first use.
    pub manifests: Mutex<HashMap<Digest, Arc<Manifest>>>,
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
    /// Sealed results (see `pipeline::seal`) by request bytes and by
    /// compile context in this checkout.
    pub by_request: Mutex<HashMap<Digest, Arc<Sealed>>>,
    pub by_context: Mutex<HashMap<Digest, Arc<Sealed>>>,
}

/// A result the file watcher vouches for: none of the paths its
/// verification looked at has changed since `seal`.
pub struct Sealed {
    pub seal: Seal,
    /// Environment conditions of the entry (rustc's `env!` values): not
    /// files, so not sealed; checked against each request.
    pub env: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)>,
    pub trace: TraceInfo,
    pub result: Digest,
    pub context: Digest,
    pub delivery: Arc<Delivery>,
    pub date: Option<String>,
    pub fixed_time: bool,
    pub stderr_for: StderrFor,
    /// What the request it was sealed for read besides its inputs (see
    /// `Req::reads`): the paths its seal covers for that request.
    pub reads: Digest,
}

impl Memo {
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

    pub fn seal_by_request(&self, key: Digest, sealed: Arc<Sealed>) {
        insert_bounded(&self.by_request, key, sealed);
    }

    pub fn seal_by_context(&self, key: Digest, sealed: Arc<Sealed>) {
        insert_bounded(&self.by_context, key, sealed);
    }

    /// Forgets the seals of results that are gone (evicted): their hits
    /// are misses now, for the fast paths too.
    pub fn forget_results(&self, gone: &HashSet<Digest>) {
        let keep = |s: &Arc<Sealed>| !gone.contains(&s.result);
        lock(&self.by_request).retain(|_, s| keep(s));
        lock(&self.by_context).retain(|_, s| keep(s));
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

fn insert_bounded(map: &Mutex<HashMap<Digest, Arc<Sealed>>>, k: Digest, v: Arc<Sealed>) {
    let mut m = lock(map);
    if m.len() >= MAX_SEALED {
        m.clear();
    }
    m.insert(k, v);
}
