//! The fast paths in front of the pipeline (seed: `try_request_cache_hit`,
//! `try_fast_hit`). After a result was verified once, the daemon *seals* it:
//! the file watcher vouches that none of the paths the verification looked
//! at (source, headers, include lookups, compiler files, stored blobs) has
//! changed since. A sealed result is then served
//!
//! - by request: the exact request bytes seen before, without parsing or
//!   hashing anything;
//! - by compile context: another request of the same context (another `-o`,
//!   say), without hashing the source or checking the manifest.
//!
//! Without the watcher nothing is sealed and every request takes the full
//! path (stat and hash), which is always correct.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use ccd_depgraph::{Conditions, ManifestEntry, StderrFor, entry_holds};
use ccd_filestate::{Digest, Seal, SealPaths};
use ccd_protocol::CompileOutput;

use super::cached_hit::{self, Delivery};
use super::context::{Context, date_tag};
use super::request::Req;
use super::trace::{self, TraceInfo};
use crate::state::{Daemon, lock};

/// Entries kept per cache before it is emptied and rebuilt on demand.
const MAX_SEALED: usize = 200_000;

pub struct Sealed {
    seal: Seal,
    /// Environment conditions of the entry (rustc's `env!` values): not
    /// files, so not sealed; checked against each request.
    env: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)>,
    trace: TraceInfo,
    result: Digest,
    context: Digest,
    delivery: Arc<Delivery>,
    date: Option<String>,
    fixed_time: bool,
    stderr_for: StderrFor,
}

impl Sealed {
    /// The result this seal serves.
    pub fn result(&self) -> &Digest {
        &self.result
    }

    fn still_valid(&self, d: &Daemon) -> bool {
        let Some(j) = &d.journal else { return false };
        j.holds(&self.seal)
            && self
                .date
                .as_ref()
                .is_none_or(|date| *date == date_tag(self.fixed_time))
    }
}

/// A request seen before, byte for byte, whose inputs are untouched.
pub fn try_request_cache_hit(d: &Daemon, req_key: &Digest) -> Option<CompileOutput> {
    let started = std::time::Instant::now();
    let j = d.journal.as_ref()?;
    let sealed = lock(&d.request_cache).get(req_key).cloned()?;
    j.sync();
    if !sealed.still_valid(d) {
        lock(&d.request_cache).remove(req_key);
        return None;
    }
    match cached_hit::deliver_outputs(d, &sealed.delivery) {
        Ok(out) => {
            d.stats.hit(sealed.delivery.compile_ms);
            d.note_used(&sealed.result, Some(&sealed.context));
            trace::record(
                d,
                &sealed.trace,
                "Hit",
                "request seen before, inputs untouched",
                started.elapsed().as_millis() as u64,
                sealed.delivery.compile_ms,
            );
            Some(out)
        }
        Err(e) => {
            tracing::warn!(error = %e, "sealed hit could not be delivered");
            lock(&d.request_cache).remove(req_key);
            None
        }
    }
}

/// A compile context verified before whose inputs are untouched; returns
/// the streams and the compile time the hit saved.
pub fn try_fast_hit(
    d: &Daemon,
    ctx: &Context,
    req: &Req,
    req_key: &Digest,
    trace: &TraceInfo,
) -> Option<(CompileOutput, u64)> {
    let j = d.journal.as_ref()?;
    let sealed = lock(&d.context_cache).get(&ctx.local_key).cloned()?;
    // Take in every change made before this request, or the seal would be
    // judged against a stale journal.
    j.sync();
    let env_holds = sealed.env.iter().all(|(k, v)| {
        req.env.get(k.as_slice()).map(Vec::as_slice) == v.as_ref().map(|v| v.as_slice())
    });
    if !env_holds {
        return None;
    }
    if !sealed.still_valid(d) || !sealed.stderr_for.accepts(ctx.tty) {
        lock(&d.context_cache).remove(&ctx.local_key);
        return None;
    }
    let delivery = cached_hit::prepare(d, ctx, req, &sealed.result).ok()?;
    let out = cached_hit::deliver_outputs(d, &delivery).ok()?;
    d.stats.hit(delivery.compile_ms);
    d.note_used(&sealed.result, Some(&ctx.key));
    let saved_ms = delivery.compile_ms;
    let by_request = Sealed {
        seal: sealed.seal.clone(),
        env: sealed.env.clone(),
        trace: trace.clone(),
        result: sealed.result,
        context: ctx.key,
        delivery: Arc::new(delivery),
        date: sealed.date.clone(),
        fixed_time: sealed.fixed_time,
        stderr_for: sealed.stderr_for,
    };
    insert(&d.request_cache, *req_key, Arc::new(by_request));
    Some((out, saved_ms))
}

/// Seals a result just served or stored, for the fast paths. Called after
/// the client has its answer: it watches every path the result depends on,
/// takes the journal clock, then verifies again (the first verification
/// happened before the watches existed).
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
    let Some(compiler_files) = d.compilers.current_files(&ctx.compiler.path) else {
        return;
    };
    let mut paths = SealPaths::new();
    for i in &entry.inputs {
        paths.add_path(&i.path);
    }
    for p in &entry.probes {
        paths.add_names(&p.dir, p.names.iter().map(|(n, _)| n.as_slice()));
    }
    for p in compiler_files
        .iter()
        .chain(delivery.blobs.iter())
        .chain(req.response_files.iter())
    {
        paths.add_path(p.as_os_str().as_bytes());
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
    let blobs_intact = delivery.blobs.iter().all(|b| blob_unchanged(d, b));
    if d.compilers.current_files(&ctx.compiler.path).is_none()
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
    let sealed = Arc::new(Sealed {
        seal,
        env: entry.env.clone(),
        trace: trace.clone(),
        result: entry.result,
        context: ctx.key,
        delivery: Arc::new(delivery),
        date: entry.date.clone(),
        fixed_time: ctx.fixed_time,
        stderr_for: entry.stderr_for,
    });
    insert(&d.context_cache, ctx.local_key, Arc::clone(&sealed));
    insert(&d.request_cache, *req_key, sealed);
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        prepared_us,
        dirs = n_dirs,
        "sealed"
    );
}

fn blob_unchanged(d: &Daemon, blob: &Path) -> bool {
    let name = blob.file_name().map(OsStr::as_bytes).unwrap_or_default();
    let shard = blob
        .parent()
        .and_then(|p| p.file_name())
        .map(OsStr::as_bytes)
        .unwrap_or_default();
    // Blobs are named by their digest (two hex digits of shard + the rest).
    d.files
        .digest(blob)
        .is_ok_and(|h| h.digest.to_hex().as_bytes() == [shard, name].concat())
}

fn insert(
    map: &std::sync::Mutex<std::collections::HashMap<Digest, Arc<Sealed>>>,
    k: Digest,
    v: Arc<Sealed>,
) {
    let mut m = lock(map);
    if m.len() >= MAX_SEALED {
        m.clear();
    }
    m.insert(k, v);
}
