//! Keeping the cache under its size limit.
//!
//! Results are evicted least recently used first; a result's record is
//! touched (mtime) when it serves a hit, in batches off the hit path. After
//! dropping results, blobs no result refers to any more are swept, and so
//! are manifests not used for longer than the oldest kept result. An evicted
//! result is simply a miss later: a manifest entry whose result is gone, or
//! a result whose blob is gone, is never served.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::layout::Layout;
use crate::store::Store;

/// Eviction frees down to this share of the limit, so it runs rarely.
const TARGET_PERCENT: u64 = 80;
/// A blob younger than this and referenced by no result may belong to a
/// store whose result record is still to be written: the daemon stores a
/// miss's outputs first, answers the client, and writes the result after
/// hashing the inputs (it waits at most 10 s for such a store).
const BLOB_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EvictReport {
    pub results_removed: u64,
    pub blobs_removed: u64,
    pub manifests_removed: u64,
    pub bytes_after: u64,
    /// The results evicted (their keys, as file names).
    pub removed: Vec<String>,
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
///
/// The unit of eviction is a compile context: its manifest (touched when
/// it serves a hit), the results it lists, and the blobs only they use.
/// Results no manifest lists are unreachable and go first.
pub fn evict(store: &Store, limit: u64) -> EvictReport {
    let layout: &Layout = store.layout();
    let [blobs_dir, results_dir, manifests_dir] = layout.data_dirs();
    let results = walk(&results_dir);
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
    let young = |f: &FileInfo| started.duration_since(f.mtime).unwrap_or_default() < BLOB_GRACE;

    let size_of: HashMap<&Path, u64> = results
        .iter()
        .chain(&blobs)
        .map(|f| (f.path.as_path(), f.size))
        .collect();
    let blobs_of: HashMap<&Path, Vec<PathBuf>> = results
        .iter()
        .map(|r| (r.path.as_path(), store.result_blob_paths(&r.path)))
        .collect();
    let mut blob_refs: HashMap<PathBuf, usize> = HashMap::new();
    for b in blobs_of.values().flatten() {
        *blob_refs.entry(b.clone()).or_default() += 1;
    }
    let listed: Vec<Vec<PathBuf>> = manifests
        .iter()
        .map(|m| store.manifest_result_paths(&m.path))
        .collect();
    let reachable: std::collections::HashSet<&Path> =
        listed.iter().flatten().map(PathBuf::as_path).collect();

    let mut projected = total;
    let mut doomed_results: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut freed_blobs: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut drop_result = |r: &Path, projected: &mut u64| {
        let Some(size) = size_of.get(r) else { return };
        if !doomed_results.insert(r.to_path_buf()) {
            return;
        }
        *projected = projected.saturating_sub(*size);
        for b in blobs_of.get(r).into_iter().flatten() {
            let n = blob_refs.entry(b.clone()).or_default();
            *n = n.saturating_sub(1);
            if *n == 0 {
                *projected =
                    projected.saturating_sub(size_of.get(b.as_path()).copied().unwrap_or(0));
                freed_blobs.insert(b.clone());
            }
        }
    };
    for r in &results {
        if !reachable.contains(r.path.as_path()) {
            drop_result(&r.path, &mut projected);
        }
    }
    // Least recently used contexts first.
    let mut order: Vec<usize> = (0..manifests.len()).collect();
    order.sort_by_key(|&i| manifests[i].mtime);
    let mut doomed_manifests = Vec::new();
    for &i in &order {
        if projected <= target {
            break;
        }
        projected = projected.saturating_sub(manifests[i].size);
        doomed_manifests.push(&manifests[i].path);
        for r in &listed[i] {
            drop_result(r, &mut projected);
        }
    }

    for m in doomed_manifests {
        if fs::remove_file(m).is_ok() {
            report.manifests_removed += 1;
        }
    }
    for r in &doomed_results {
        if fs::remove_file(r).is_ok() {
            report.results_removed += 1;
            let shard = r.parent().and_then(|p| p.file_name());
            if let Some(name) = r.file_name() {
                report.removed.push(format!(
                    "{}{}",
                    shard.map(|s| s.to_string_lossy()).unwrap_or_default(),
                    name.to_string_lossy()
                ));
            }
        }
    }
    // Blobs whose last user went, and orphans old enough not to belong to
    // a store still being written.
    for b in &blobs {
        let used = blob_refs.get(&b.path).copied().unwrap_or(0) > 0;
        if (freed_blobs.contains(&b.path) || (!used && !young(b)))
            && fs::remove_file(&b.path).is_ok()
        {
            report.blobs_removed += 1;
        }
    }
    let left: Vec<FileInfo> = [&results_dir, &manifests_dir, &blobs_dir]
        .iter()
        .flat_map(|d| walk(d))
        .collect();
    report.bytes_after = left.iter().map(|f| f.size).sum();
    let entries = walk(&results_dir).len() as u64;
    store.set_usage(entries, report.bytes_after);
    report
}
