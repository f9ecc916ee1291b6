//! Phase: hash the source and check the context's manifest against the
//! file system: Hit, SourceChanged, HeadersChanged or Cold.

use std::io;
use std::sync::Arc;

use ccd_depgraph::{Conditions, Manifest, Verdict, verify};
use ccd_filestate::Hashed;

use super::context::Context;
use super::request::Req;
use super::worktree::from_key;
use crate::daemon::Daemon;

pub struct Checked {
    pub source: Hashed,
    pub manifest: Arc<Manifest>,
    pub verdict: Verdict,
}

pub fn hash_and_verify(d: &Daemon, ctx: &Context, req: &Req) -> io::Result<Checked> {
    let source = d.files.digest(&ctx.source)?;
    let mut manifest = d.manifest(&ctx.key);
    if let Some(root) = &ctx.root {
        // Paths under the checkout root are stored relative to it.
        let root = root.root.clone();
        manifest = Arc::new(manifest.map_paths(&|p| from_key(Some(&root), p)));
    }
    let verdict = verify(
        &manifest,
        source.digest,
        &d.files,
        Conditions {
            date: &ctx.date_tag,
            stderr_tty: ctx.tty,
            env: Some(&req.env),
        },
    );
    Ok(Checked {
        source,
        manifest,
        verdict,
    })
}
