//! Keeping the cache under its size limit.
//!
//! Results are evicted least recently used first; a result's record is
//! touched (mtime) when it serves a hit, in batches off the hit path. After
//! dropping results, blobs no result refers to any more are swept, and so
//! are manifests not used for longer than the oldest kept result. An evicted
//! result is simply a miss later: a manifest entry whose result is gone, or
//! a result whose blob is gone, is never served.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ccd_filestate::Digest;

use crate::layout::Layout;
use crate::local::LocalTier;
use crate::store::{manifest_results, result_blobs};
use crate::tier::Kind;

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
    /// The results evicted.
    pub removed: Vec<Digest>,
}

struct FileInfo {
    path: PathBuf,
    digest: Option<Digest>,
    mtime: SystemTime,
    size: u64,
}

fn walk(dir: &Path) -> Vec<FileInfo> {
    let mut v = Vec::new();
    for shard in fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
            if let Ok(m) = f.metadata() {
                let path = f.path();
                v.push(FileInfo {
                    digest: Layout::digest_of(&path),
                    path,
                    mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    size: m.len(),
                });
            }
        }
    }
    v
}

/// Brings the cache under `limit` bytes if it is above it.
///
/// The unit of eviction is a compile context: its manifest (touched when
/// it serves a hit), the results it lists, and the blobs only they use.
/// Results no manifest lists are unreachable and go first.
pub(crate) fn evict(tier: &LocalTier, limit: u64) -> EvictReport {
    let layout = tier.layout();
    let results = walk(&layout.dir(Kind::Result));
    let manifests = walk(&layout.dir(Kind::Manifest));
    let blobs = walk(&layout.dir(Kind::Blob));
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
        tier.set_usage(results.len() as u64, total);
        return report;
    }
    let target = limit / 100 * TARGET_PERCENT;
    let started = SystemTime::now();
    let young = |f: &FileInfo| started.duration_since(f.mtime).unwrap_or_default() < BLOB_GRACE;

    let size_of = |files: &[FileInfo]| -> HashMap<Digest, u64> {
        files
            .iter()
            .filter_map(|f| Some((f.digest?, f.size)))
            .collect()
    };
    let result_size = size_of(&results);
    let blob_size = size_of(&blobs);
    let read = |f: &FileInfo| fs::read(&f.path).unwrap_or_default();
    let blobs_of: HashMap<Digest, Vec<Digest>> = results
        .iter()
        .filter_map(|r| Some((r.digest?, result_blobs(&read(r)))))
        .collect();
    let mut blob_refs: HashMap<Digest, usize> = HashMap::new();
    for b in blobs_of.values().flatten() {
        *blob_refs.entry(*b).or_default() += 1;
    }
    let listed: Vec<Vec<Digest>> = manifests
        .iter()
        .map(|m| manifest_results(&read(m)))
        .collect();
    let reachable: HashSet<&Digest> = listed.iter().flatten().collect();

    let mut projected = total;
    let mut doomed_results: HashSet<Digest> = HashSet::new();
    let mut freed_blobs: HashSet<Digest> = HashSet::new();
    let mut drop_result = |r: &Digest, projected: &mut u64| {
        let Some(size) = result_size.get(r) else {
            return;
        };
        if !doomed_results.insert(*r) {
            return;
        }
        *projected = projected.saturating_sub(*size);
        for b in blobs_of.get(r).into_iter().flatten() {
            let n = blob_refs.entry(*b).or_default();
            *n = n.saturating_sub(1);
            if *n == 0 {
                *projected = projected.saturating_sub(blob_size.get(b).copied().unwrap_or(0));
                freed_blobs.insert(*b);
            }
        }
    };
    for r in results.iter().filter_map(|r| r.digest) {
        if !reachable.contains(&r) {
            drop_result(&r, &mut projected);
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
    for r in &results {
        let Some(d) = r.digest.filter(|d| doomed_results.contains(d)) else {
            continue;
        };
        if fs::remove_file(&r.path).is_ok() {
            report.results_removed += 1;
            report.removed.push(d);
        }
    }
    // Blobs whose last user went, and orphans old enough not to belong to
    // a store still being written.
    for b in &blobs {
        let used = b
            .digest
            .is_some_and(|d| blob_refs.get(&d).copied().unwrap_or(0) > 0);
        let freed = b.digest.is_some_and(|d| freed_blobs.contains(&d));
        if (freed || (!used && !young(b))) && fs::remove_file(&b.path).is_ok() {
            report.blobs_removed += 1;
        }
    }
    let left: Vec<FileInfo> = Kind::ALL
        .iter()
        .flat_map(|k| walk(&layout.dir(*k)))
        .collect();
    report.bytes_after = left.iter().map(|f| f.size).sum();
    let entries = walk(&layout.dir(Kind::Result)).len() as u64;
    tier.set_usage(entries, report.bytes_after);
    report
}
