//! Phase: the miss. Decide how the compile will tell us which headers it
//! read, ask the client to run the compiler, and wait for its result.
//!
//! The client runs the compiler (not the daemon) so that signals, the make
//! jobserver, resource limits and the terminal behave exactly as without ccd.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ccd_cc::{DepKind, Invocation};
use ccd_filestate::{Prepared, SealPaths, Stamp, now_ns, stat};
use ccd_protocol::{ByteBuf, CompileOutput, Request, Response};

use super::context::Context;
use super::request::Req;
use crate::connection::Channel;
use crate::state::Daemon;

/// Where the list of headers comes from after the compile.
pub enum DepSource {
    /// The user's own `-MD` file (it lists every header).
    User(PathBuf),
    /// A private file the compile writes because we added `-MD -MF`.
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
    pub source_digest: ccd_filestate::Digest,
    /// Inputs known before the compile (the source, rustc's `--extern`
    /// crates), hashed before it started. For these, "unchanged during the
    /// compile" is decided by content, not by timestamps (cargo starts a
    /// crate's compile milliseconds after its dependency was written).
    pub known_before: Vec<(std::path::PathBuf, ccd_filestate::Digest)>,
    /// The directories inputs are likely in (the source's, the working
    /// directory, the include directories named on the command line),
    /// watched from this journal clock on: a header written just before
    /// the compile, too recently for its timestamp to say whether it was
    /// before or during (make runs a generator, then the compile at once),
    /// is known unchanged during the compile if no event named it since.
    pub watched: Option<(u64, Prepared)>,
}

impl Plan {
    /// Whether `path`, now with `digest` and last changed at `changed_ns`,
    /// may have been modified while the compiler ran.
    pub fn maybe_modified_during(
        &self,
        d: &Daemon,
        path: &std::path::Path,
        digest: ccd_filestate::Digest,
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

pub fn plan(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    source_digest: ccd_filestate::Digest,
) -> Plan {
    let s = &inv.search;
    let named = [&s.quote, &s.angle, &s.system, &s.after]
        .into_iter()
        .flatten();
    let dirs: Vec<PathBuf> = named
        .map(|p| req.abs(p))
        .chain(ctx.source.parent().map(Into::into))
        .chain([req.cwd.clone()])
        .collect();
    let watched = watch_dirs(d, dirs.iter().map(PathBuf::as_path));
    let mut extra_args: Vec<Vec<u8>> = ctx.root.iter().filter_map(|r| r.inject.clone()).collect();
    let deps = if !inv.language.is_preprocessed_by_compiler() {
        DepSource::SourceOnly
    } else {
        match (inv.deps.kind, &ctx.user_depfile) {
            (Some(DepKind::All), Some(p)) => DepSource::User(p.clone()),
            (Some(_), _) => DepSource::Pass,
            (None, _) if inv.records_command_line => DepSource::Pass,
            (None, _) => {
                let p = d.temp_path(".d");
                extra_args.extend([
                    b"-MD".to_vec(),
                    b"-MF".to_vec(),
                    p.as_os_str().as_bytes().to_vec(),
                ]);
                DepSource::Private(p)
            }
        }
    };
    Plan {
        extra_args,
        deps,
        outputs_before: ctx.outputs.iter().map(|(_, p)| stat(p).ok()).collect(),
        started_ns: now_ns(),
        started: Instant::now(),
        source_digest,
        known_before: vec![(ctx.source.clone(), source_digest)],
        watched,
    }
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
