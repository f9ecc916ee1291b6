//! Keeping the cache under its size limit.
//!
//! Results are evicted least recently used first; a result's record is
//! touched (mtime) when it serves a hit, in batches off the hit path. After
//! dropping results, blobs no result refers to any more are swept, and so
//! are manifests not used for longer than the oldest kept result. An evicted
//! result is simply a miss later: a manifest entry whose result is gone, or
//! a result whose blob is gone, is never served.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::layout::Layout;
use crate::store::Store;

/// Eviction frees down to this share of the limit, so it runs rarely.
const TARGET_PERCENT: u64 = 80;
/// Blobs younger than this may belong to a store still being written.
const BLOB_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EvictReport {
    pub results_removed: u64,
    pub blobs_removed: u64,
    pub manifests_removed: u64,
    pub bytes_after: u64,
}

struct FileInfo {
    path: PathBuf,
    mtime: SystemTime,
    size: u64,
}

fn walk(dir: &Path) -> Vec<FileInfo> {
    let mut v = Vec::new();
    for shard in fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
            if let Ok(m) = f.metadata() {
                v.push(FileInfo {
                    path: f.path(),
                    mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    size: m.len(),
                });
            }
        }
    }
    v
}

/// Marks files as just used (their mtime orders eviction).
pub fn touch_used(paths: &[PathBuf]) {
    let now = fs::FileTimes::new().set_modified(SystemTime::now());
    for p in paths {
        if let Ok(f) = fs::File::options().write(true).open(p) {
            let _ = f.set_times(now);
        }
    }
}

/// Brings the cache under `limit` bytes if it is above it.
pub fn evict(store: &Store, limit: u64) -> EvictReport {
    let layout: &Layout = store.layout();
    let [blobs_dir, results_dir, manifests_dir] = layout.data_dirs();
    let mut results = walk(&results_dir);
    let manifests = walk(&manifests_dir);
    let blobs = walk(&blobs_dir);
    let total: u64 = [&results, &manifests, &blobs]
        .iter()
        .flat_map(|v| v.iter())
        .map(|f| f.size)
        .sum();
    let mut report = EvictReport {
        bytes_after: total,
        ..Default::default()
    };
    if total <= limit {
        store.set_usage(results.len() as u64, total);
        return report;
    }
    let target = limit / 100 * TARGET_PERCENT;
    let started = SystemTime::now();

    // Oldest results first. Each one removed frees its record and, once no
    // other result shares them, its blobs: estimate with its blobs' sizes.
    results.sort_by_key(|f| f.mtime);
    let mut freed = 0u64;
    let mut cut = 0;
    while cut < results.len() && total.saturating_sub(freed) > target {
        let r = &results[cut];
        freed += r.size + store.result_blob_bytes(&r.path);
        if fs::remove_file(&r.path).is_ok() {
            report.results_removed += 1;
        }
        cut += 1;
    }
    let oldest_kept = results.get(cut).map(|f| f.mtime);

    // Sweep: blobs referenced by no remaining result.
    let mut live: HashSet<PathBuf> = HashSet::new();
    for r in &results[cut..] {
        live.extend(store.result_blob_paths(&r.path));
    }
    for b in &blobs {
        let young = started.duration_since(b.mtime).unwrap_or_default() < BLOB_GRACE;
        if !young && !live.contains(&b.path) && fs::remove_file(&b.path).is_ok() {
            report.blobs_removed += 1;
        }
    }
    // Manifests not used since before the oldest kept result point only at
    // evicted results.
    for m in &manifests {
        let stale = match oldest_kept {
            Some(t) => m.mtime < t,
            None => true,
        };
        if stale && fs::remove_file(&m.path).is_ok() {
            report.manifests_removed += 1;
        }
    }
    let after: Vec<FileInfo> = [results_dir, manifests_dir, blobs_dir]
        .iter()
        .flat_map(|d| walk(d))
        .collect();
    report.bytes_after = after.iter().map(|f| f.size).sum();
    store.set_usage((results.len() - cut) as u64, report.bytes_after);
    report
}
