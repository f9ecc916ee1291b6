//! How a C/C++ miss will tell which headers it read: the user's own `-MD`
//! file, a private `-MD -MF` ccd adds, a dependency-only preprocessor run
//! afterwards, or nothing to tell (an unpreprocessed source).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ccd_cc::{DepKind, Invocation};
use ccd_filestate::Digest;

use super::super::context::Context;
use super::super::miss::{DepSource, Plan, watch_dirs};
use super::super::request::Req;
use crate::daemon::Daemon;

pub fn plan(d: &Daemon, ctx: &Context, inv: &Invocation, req: &Req, source_digest: Digest) -> Plan {
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
            // `-MMD` omits system headers, and clang's
            // `-frecord-command-line` would record any flag ccd adds in
            // the object: a dependency-only run after the compile.
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
    Plan::new(ctx, source_digest, deps, extra_args, Vec::new(), watched)
}
