//! Phase: the miss. The frontend plans how the compile will tell what it
//! read; the client is asked to run the compiler, and its result awaited.
//!
//! The client runs the compiler (not the daemon) so that signals, the make
//! jobserver, resource limits and the terminal behave exactly as without ccd.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ccd_filestate::{Digest, Prepared, SealPaths, Stamp, now_ns, stat};
use ccd_protocol::{ByteBuf, CompileOutput, Request, Response};

use super::context::Context;
use crate::channel::Channel;
use crate::daemon::Daemon;

/// Where the list of what the compile read comes from afterwards.
pub enum DepSource {
    /// The user's own dependency file (it lists every input: gcc's `-MD`,
    /// rustc's dep-info, which every cached rustc compile emits).
    User(PathBuf),
    /// A private file the compile writes because ccd asked for it (`-MD
    /// -MF`).
    Private(PathBuf),
    /// A dependency-only preprocessor run after the compile: `-MMD` omits
    /// system headers, and clang's `-frecord-command-line` would record any
    /// flag we add in the object.
    Pass,
    /// Not preprocessed (`.s`, `.i`): the source is the only input.
    SourceOnly,
}

pub struct Plan {
    pub extra_args: Vec<Vec<u8>>,
    pub deps: DepSource,
    /// Stamps of the outputs (as in `Context::outputs`) before the compile:
    /// an output counts only if the compile wrote it.
    pub outputs_before: Vec<Option<Stamp>>,
    pub started_ns: i64,
    pub started: Instant,
    /// The source's digest when the compile was planned: a source edited
    /// during the compile is not stored.
    pub source_digest: Digest,
    /// Inputs known before the compile (the source, rustc's `--extern`
    /// crates), hashed before it started. For these, "unchanged during the
    /// compile" is decided by content, not by timestamps (cargo starts a
    /// crate's compile milliseconds after its dependency was written).
    pub known_before: Vec<(PathBuf, Digest)>,
    /// The directories inputs are likely in (the source's, the working
    /// directory, the include directories named on the command line),
    /// watched from this journal clock on: a header written just before
    /// the compile, too recently for its timestamp to say whether it was
    /// before or during (make runs a generator, then the compile at once),
    /// is known unchanged during the compile if no event named it since.
    pub watched: Option<(u64, Prepared)>,
}

impl Plan {
    /// A plan that starts now: the outputs' stamps are taken, and the
    /// source is known by `source_digest`, as are `known_before`.
    pub fn new(
        ctx: &Context,
        source_digest: Digest,
        deps: DepSource,
        extra_args: Vec<Vec<u8>>,
        known_before: Vec<(PathBuf, Digest)>,
        watched: Option<(u64, Prepared)>,
    ) -> Plan {
        let mut known = vec![(ctx.source.clone(), source_digest)];
        known.extend(known_before);
        Plan {
            extra_args,
            deps,
            outputs_before: ctx.outputs.iter().map(|(_, p)| stat(p).ok()).collect(),
            started_ns: now_ns(),
            started: Instant::now(),
            source_digest,
            known_before: known,
            watched,
        }
    }

    /// Whether `path`, now with `digest` and last changed at `changed_ns`,
    /// may have been modified while the compiler ran.
    pub fn maybe_modified_during(
        &self,
        d: &Daemon,
        path: &std::path::Path,
        digest: Digest,
        changed_ns: i64,
    ) -> bool {
        match self.known_before.iter().find(|(p, _)| p == path) {
            Some((_, before)) => *before != digest,
            None => self.maybe_changed_during(d, path, changed_ns),
        }
    }

    /// Whether `path`, last changed at `changed_ns` (by its stamp), may
    /// have changed while the compiler ran: not if it is older than the
    /// compile, nor if the watcher saw nothing name it since the plan.
    pub fn maybe_changed_during(
        &self,
        d: &Daemon,
        path: &std::path::Path,
        changed_ns: i64,
    ) -> bool {
        let too_new = changed_ns >= self.started_ns - ccd_filestate::write_time_slack_ns();
        too_new
            && !self.watched.as_ref().is_some_and(|(clock, prepared)| {
                d.journal.as_ref().is_some_and(|j| {
                    j.untouched_since(*clock, prepared, path.as_os_str().as_bytes())
                })
            })
    }
}

/// Watches `dirs` for [`Plan::watched`] (nothing without the watcher).
pub fn watch_dirs<'a>(
    d: &Daemon,
    dirs: impl IntoIterator<Item = &'a std::path::Path>,
) -> Option<(u64, Prepared)> {
    let j = d.journal.as_ref()?;
    let mut paths = SealPaths::new();
    for dir in dirs {
        paths.add_names(dir.as_os_str().as_bytes(), []);
    }
    let prepared = j.prepare(paths)?;
    Some((j.sync(), prepared))
}

/// Removes the private dependency file, if the plan made one.
pub fn cleanup(plan: &Plan) {
    if let DepSource::Private(p) = &plan.deps {
        let _ = std::fs::remove_file(p);
    }
}

/// Sends the plan to the client and waits (as long as the compile takes)
/// for the compiler's result. `None`: the client went away.
pub fn run_on_client(ch: &mut Channel, plan: &Plan) -> Option<(CompileOutput, Duration)> {
    let run = Response::Run {
        extra_args: plan.extra_args.iter().cloned().map(ByteBuf::from).collect(),
    };
    ch.send(&run).ok()?;
    match ch.recv(None) {
        Ok(Request::CompileFinished(out)) => Some((out, plan.started.elapsed())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::test_support::{gnu_context, req};
    use super::*;
    use crate::daemon::for_tests;

    /// An input known before the compile (rustc's `--extern` crates) is
    /// judged by its content: cargo writes it just before the compile
    /// starts, too recently for its timestamp to tell. Any other input
    /// written that recently counts as maybe changed during the compile.
    #[test]
    fn inputs_known_before_are_judged_by_content() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let w = t.path();
        fs::write(w.join("a.c"), "int a;\n").unwrap();
        fs::write(w.join("dep.rlib"), "dep").unwrap();
        fs::write(w.join("h.h"), "int h;\n").unwrap();
        let mut r = req(w, "/usr/bin/gcc", &["-c", "a.c"], &[]);
        let (_, ctx) = gnu_context(&d, &mut r);
        let digest = |p: &str| d.files.digest(&w.join(p)).unwrap();
        let dep = digest("dep.rlib");
        let plan = Plan::new(
            &ctx,
            digest("a.c").digest,
            DepSource::SourceOnly,
            vec![],
            vec![(w.join("dep.rlib"), dep.digest)],
            None,
        );
        let changed = |p: &str| {
            let h = digest(p);
            plan.maybe_modified_during(&d, &w.join(p), h.digest, h.stamp.changed_ns())
        };
        assert!(!changed("dep.rlib"));
        assert!(!changed("a.c"));
        assert!(changed("h.h"), "written just before the compile started");
        fs::write(w.join("dep.rlib"), "other").unwrap();
        assert!(changed("dep.rlib"));
    }
}
