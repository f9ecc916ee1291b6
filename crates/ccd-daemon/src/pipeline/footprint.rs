//! What the daemon keeps in memory per cache entry: measured, not
//! estimated, by counting the heap bytes the test's thread holds (see
//! `crate::alloc_count`). A team's cache holds hundreds of thousands of
//! entries; the daemon must not sit on gigabytes for them.

use std::path::Path;

use ccd_depgraph::Verdict;
use ccd_filestate::Digest;

use super::hash_verify::hash_and_verify;
use super::request::Req;
use super::test_support::{compiled, gnu_context, req, work_dir};
use super::{cached_hit, request_cache, seal};
use crate::alloc_count::held;
use crate::daemon::{Daemon, for_tests};

/// The request of entry `i`, as `bench/scale.py` makes them: a tiny source
/// compiled under its own `-D` value (its own compile context).
fn request(work: &Path, i: usize) -> Req {
    let define = format!("-DN={i}");
    let output = format!("t{}.o", i % 64);
    req(
        work,
        "/usr/bin/gcc",
        &[&define, "-c", "a.c", "-o", &output],
        &[],
    )
}

fn request_key(i: usize) -> Digest {
    Digest(*blake3::hash(format!("request {i}").as_bytes()).as_bytes())
}

/// Stores entry `i` and seals it, as a miss does.
fn fill(d: &Daemon, work: &Path, i: usize) {
    let mut r = request(work, i);
    let (_, ctx) = gnu_context(d, &mut r);
    let entry = compiled(d, &ctx, format!("object {i}").as_bytes(), "").unwrap();
    let delivery = cached_hit::prepare(d, &ctx, &r, &entry.result).unwrap();
    seal::remember(
        d,
        &ctx,
        &r,
        &request_key(i),
        &entry,
        delivery,
        &r.trace_info(),
    );
}

/// Measured: 3,600 bytes per entry before the seals shared their groups,
/// stopped watching stored outputs and dropped their manifests and
/// traces; bench/scale.py's RSS grew 4.7 KB per entry then.
#[test]
fn an_entry_costs_the_daemon_under_a_kibibyte() {
    let t = tempfile::tempdir().unwrap();
    let d = for_tests(t.path(), true);
    let work = work_dir(t.path(), "work", false);
    // The state every entry shares (compiler, directories) comes first.
    for i in 0..100 {
        fill(&d, &work, i);
    }
    let (held_before, counted_before) = (held(), d.memo.memory().0);
    let n = 2000;
    for i in 100..100 + n {
        fill(&d, &work, i);
    }
    let per_entry = (held() - held_before) / n as isize;
    let counted = (d.memo.memory().0 - counted_before) as isize / n as isize;
    eprintln!("{per_entry} bytes held per entry, {counted} counted against max_memory");
    assert!(per_entry <= 1024, "{per_entry} bytes per entry");
    // What `max_memory` is held against is what is really held (the rest
    // is the file state of the entry's stored output, about 100 bytes).
    assert!(
        (per_entry / 2..=per_entry).contains(&counted),
        "{counted} bytes counted per entry, {per_entry} held"
    );
}

/// Under a small `max_memory` the least recently used entries are
/// dropped from memory, and still hit: verified again from the store.
#[test]
fn entries_dropped_under_max_memory_still_hit() {
    let t = tempfile::tempdir().unwrap();
    let d = for_tests(t.path(), true);
    let work = work_dir(t.path(), "work", false);
    let max = 64 << 10;
    d.memo.set_max_memory(max);
    for i in 0..500 {
        fill(&d, &work, i);
    }
    let (used, _) = d.memo.memory();
    assert!(used <= max, "{used} bytes remembered over a limit of {max}");
    assert!(
        d.memo.sealed_requests() < 250,
        "{} requests still sealed",
        d.memo.sealed_requests()
    );
    // The first entries are gone from memory, not from the cache.
    assert!(request_cache::serve(&d, &request_key(0)).is_none());
    for i in [0, 1, 250, 499] {
        let mut r = request(&work, i);
        let (_, ctx) = gnu_context(&d, &mut r);
        let checked = hash_and_verify(&d, &ctx, &r).unwrap();
        assert!(
            matches!(checked.verdict, Verdict::Hit { .. }),
            "entry {i}: {:?}",
            checked.verdict
        );
        let hit = cached_hit::serve(&d, &ctx, &r, &checked).unwrap();
        assert_eq!(
            std::fs::read(work.join(format!("t{}.o", i % 64))).unwrap(),
            format!("object {i}").as_bytes()
        );
        assert_eq!(hit.out.exit_code, 0);
    }
    let (used, _) = d.memo.memory();
    assert!(used <= max, "{used} bytes remembered after the hits");
}
