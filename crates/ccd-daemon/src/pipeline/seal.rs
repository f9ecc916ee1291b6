//! Sealing a result just served or stored, for the fast paths
//! ([`super::request_cache`], [`super::fast_hit`]). After the client has its
//! answer, every path the result depends on is watched (source, headers,
//! include lookups, compiler files, response files, the checkout root's
//! lookups), the
//! journal clock is taken, and the result is verified again (the first
//! verification happened before the watches existed). From then on, the
//! watcher vouches that none of those paths has changed since.
//!
//! Without the watcher nothing is sealed and every request takes the full
//! path (stat and hash), which is always correct.

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use ccd_depgraph::{Conditions, ManifestEntry, entry_holds};
use ccd_filestate::{Digest, SealPaths};

use super::context::{Context, date_tag};
use super::request::Req;
use super::worktree::find_git_root;
use crate::daemon::Daemon;
use crate::delivery::Delivery;
use crate::memo::Sealed;
use crate::trace::TraceInfo;

/// Whether the watcher still vouches for `sealed` (and `__DATE__` would
/// expand as it did).
pub fn holds(d: &Daemon, sealed: &Sealed) -> bool {
    let Some(j) = &d.journal else { return false };
    j.holds(&sealed.seal)
        && sealed
            .date
            .as_ref()
            .is_none_or(|date| **date == date_tag(sealed.fixed_time))
}

/// Seals `entry`, whose result `delivery` puts in place, for the request
/// `req_key` and the context `ctx`.
pub fn remember(
    d: &Daemon,
    ctx: &Context,
    req: &Req,
    req_key: &Digest,
    entry: &ManifestEntry,
    delivery: Delivery,
    trace: &TraceInfo,
) {
    let Some(j) = &d.journal else { return };
    let started = std::time::Instant::now();
    let Some(compiler_files) = d.memo.compiler_files(&ctx.compiler.path) else {
        return;
    };
    let mut paths = SealPaths::new();
    for i in &entry.inputs {
        paths.add_path(&i.path);
    }
    for p in &entry.probes {
        paths.add_names(&p.dir, p.names.iter().map(|(n, _)| n.as_slice()));
    }
    // The stored outputs are not watched: a watch per entry's blob cost
    // the daemon (and the kernel) about a kilobyte per entry. A hit by
    // request checks them by stat, as every other hit does.
    for p in compiler_files
        .into_iter()
        .chain(req.response_files.iter().cloned())
    {
        paths.add_path(p.as_os_str().as_bytes());
    }
    // A `.git` made or removed where the checkout root was looked for
    // moves the root, and with it the prefix map and the key.
    for dir in &req.root_lookups {
        paths.add_names(dir.as_os_str().as_bytes(), [&b".git"[..]]);
    }
    let Some(mut prepared) = j.prepare(paths) else {
        return;
    };
    let prepared_us = started.elapsed().as_micros() as u64;
    let clock = j.sync();
    // A lookup's name that is a symbolic link is sealed with its target
    // (the target can appear, vanish or change elsewhere, with no event in
    // the lookup's directory). Looked for after the clock: a name that
    // becomes a link later is an event after it, which voids the seal.
    let mut links = SealPaths::new();
    let mut any_link = false;
    for p in &entry.probes {
        for l in d
            .memo
            .listings
            .links_among(&p.dir, p.names.iter().map(|(n, _)| n.as_slice()))
        {
            links.add_path(&l);
            any_link = true;
        }
    }
    if any_link {
        let Some(more) = j.prepare(links) else {
            return;
        };
        prepared.merge(more);
        // The targets' watches are in place before they are verified.
        j.sync();
    }
    let n_dirs = prepared.dirs();

    let Ok(source) = d.files.digest(&ctx.source) else {
        return;
    };
    let cond = Conditions {
        date: &ctx.date_tag,
        stderr_tty: ctx.tty,
        env: Some(&req.env),
    };
    let blobs_intact = delivery
        .blobs()
        .all(|b| d.store.blob_is_intact(b, &d.files));
    if d.memo.compiler_files(&ctx.compiler.path).is_none()
        || (!req.root_lookups.is_empty() && find_git_root(&req.cwd).1 != req.root_lookups)
        || !blobs_intact
        || !entry_holds(
            entry,
            source.digest,
            &d.files,
            cond,
            &mut Default::default(),
        )
    {
        return;
    }
    // Sealed at the first clock: a change since then, while the links were
    // looked for, voids it.
    let Some(seal) = j.seal(clock, prepared) else {
        return;
    };
    let sealed = d.memo.charged(Sealed {
        seal,
        env: entry.env.clone().into_boxed_slice(),
        trace: trace.for_seal(),
        result: entry.result,
        context: ctx.key,
        delivery,
        date: entry.date.as_deref().map(Box::from),
        fixed_time: ctx.fixed_time,
        stderr_for: entry.stderr_for,
        reads: req.reads(),
        charge: None,
    });
    d.memo.seal_by_context(ctx.local_key, Arc::clone(&sealed));
    d.memo.seal_by_request(*req_key, sealed);
    // While the seal holds, the context's manifest is not read: it is
    // read from the store again when the seal breaks.
    d.memo.forget_manifest(&ctx.key);
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        prepared_us,
        dirs = n_dirs,
        "sealed"
    );
}

#[cfg(test)]
mod tests {
    use std::fs;

    use ccd_depgraph::Verdict;

    use super::super::hash_verify::hash_and_verify;
    use super::super::test_support::{compiled, gnu_context, req, work_dir};
    use super::super::{cached_hit, fast_hit, request_cache};
    use super::*;
    use crate::daemon::for_tests;

    /// A result stored, served and sealed: the request-level cache and the
    /// fast hit serve it until the watcher sees its source change.
    #[test]
    fn a_sealed_result_is_served_until_an_input_changes() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), true);
        let work = work_dir(t.path(), "work", false);
        let mut r = req(&work, "/usr/bin/gcc", &["-c", "a.c", "-o", "a.o"], &[]);
        let (_, ctx) = gnu_context(&d, &mut r);
        let entry = compiled(&d, &ctx, b"object", "").unwrap();

        let req_key = Digest([1; 32]);
        let trace = r.trace_info();
        assert!(
            request_cache::serve(&d, &req_key).is_none(),
            "not sealed yet"
        );
        let delivery = cached_hit::prepare(&d, &ctx, &r, &entry.result).unwrap();
        remember(&d, &ctx, &r, &req_key, &entry, delivery, &trace);

        fs::remove_file(work.join("a.o")).unwrap();
        let seen = request_cache::serve(&d, &req_key).expect("served by request");
        assert_eq!(fs::read(work.join("a.o")).unwrap(), b"object");
        assert_eq!(seen.saved_ms, 5);
        let other_key = Digest([2; 32]);
        assert!(fast_hit::serve(&d, &ctx, &r, &other_key, &trace).is_some());
        assert!(
            request_cache::serve(&d, &other_key).is_some(),
            "a fast hit seals its request too"
        );

        fs::write(work.join("a.c"), "int changed;\n").unwrap();
        assert!(request_cache::serve(&d, &req_key).is_none());
        assert!(fast_hit::serve(&d, &ctx, &r, &other_key, &trace).is_none());
        assert!(matches!(
            hash_and_verify(&d, &ctx, &r).unwrap().verdict,
            Verdict::SourceChanged
        ));
    }

    #[test]
    fn nothing_is_sealed_without_the_watcher() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let work = work_dir(t.path(), "work", false);
        let mut r = req(&work, "/usr/bin/gcc", &["-c", "a.c", "-o", "a.o"], &[]);
        let (_, ctx) = gnu_context(&d, &mut r);
        let entry = compiled(&d, &ctx, b"object", "").unwrap();
        let delivery = cached_hit::prepare(&d, &ctx, &r, &entry.result).unwrap();
        remember(
            &d,
            &ctx,
            &r,
            &Digest([1; 32]),
            &entry,
            delivery,
            &r.trace_info(),
        );
        assert!(request_cache::serve(&d, &Digest([1; 32])).is_none());
    }
}
