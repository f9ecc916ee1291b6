//! Phase: store a successful compile. Its outputs are taken into the
//! store before the client is answered ([`take_outputs`]); once its
//! frontend has learned what it read, the result record and the manifest
//! entry are written ([`store`]).
//!
//! Anything uncertain means "do not store": the compile already produced
//! the right outputs, so not storing can cost a later hit, never
//! correctness.

use std::os::unix::ffi::OsStrExt;

use ccd_depgraph::{DirProbe, Input, ManifestEntry, StderrFor};
use ccd_filestate::{Digest, stat};
use ccd_protocol::CompileOutput;
use ccd_store::{StoredDepfile, StoredOutput, StoredResult};
use serde_bytes::ByteBuf;

use super::context::{Context, KeyHasher};
use super::miss::Plan;
use super::worktree::keyed_inputs;
use crate::daemon::Daemon;
use crate::outcome::NotStored;

/// What a frontend learned about a compile: what the result depends on.
#[derive(Default)]
pub struct Learned {
    /// Every file the compile read (absolute paths), the source first,
    /// with its digest.
    pub inputs: Vec<Input>,
    /// Lookups whose outcome must not change (include directories
    /// searched, module files that must stay absent).
    pub probes: Vec<DirProbe>,
    /// For sources that use `__DATE__`: the date tag then.
    pub date: Option<String>,
    /// Files whose mtimes the compiler itself checks.
    pub mtimes: Vec<(ByteBuf, i64)>,
    /// Environment variables the compile read, with their values then.
    pub env: Vec<(ByteBuf, Option<ByteBuf>)>,
    /// The user's dependency file, as it is to be replayed.
    pub depfile: Option<StoredDepfile>,
}

/// Copies every output the compile wrote into the store; the main output
/// must be one. An output that names the checkout's path cannot be shared
/// with another checkout (a path in a `-D` value, say).
pub fn take_outputs(
    d: &Daemon,
    ctx: &Context,
    plan: &Plan,
) -> Result<Vec<StoredOutput>, NotStored> {
    let mut outputs = Vec::new();
    for (i, ((role, p), before)) in ctx.outputs.iter().zip(&plan.outputs_before).enumerate() {
        let written = stat(p).ok().filter(|s| s.is_file() && Some(*s) != *before);
        let Some(written) = written else {
            if i == 0 {
                return Err(NotStored::NoOutput);
            }
            continue;
        };
        let (blob, size) = d.store.put_blob_from_file(p)?;
        outputs.push(StoredOutput {
            role: *role,
            blob,
            size,
            executable: written.mode & 0o100 != 0,
        });
    }
    if let Some(r) = ctx.root.as_ref().filter(|_| ctx.crosses_checkouts) {
        let root = r.root.as_os_str().as_bytes();
        let named = ctx
            .outputs
            .iter()
            .any(|(_, p)| std::fs::read(p).is_ok_and(|b| memchr::memmem::find(&b, root).is_some()));
        if named {
            return Err(NotStored::OutputNamesCheckout);
        }
    }
    Ok(outputs)
}

/// Writes the result and its manifest entry; returns the entry.
pub fn store(
    d: &Daemon,
    ctx: &Context,
    out: &CompileOutput,
    outputs: Vec<StoredOutput>,
    learned: Learned,
    compile_ms: u64,
) -> Result<ManifestEntry, NotStored> {
    // Another checkout gets this result: its own root goes where this
    // one's is in the streams (a NUL byte marks it; real output has none).
    let (stdout, stderr) = match &ctx.root {
        None => (out.stdout.to_vec(), out.stderr.to_vec()),
        Some(_) if out.stdout.contains(&0) || out.stderr.contains(&0) => {
            return Err(NotStored::StreamsHoldNul);
        }
        Some(r) => (r.arg_to_key(&out.stdout), r.arg_to_key(&out.stderr)),
    };
    let stderr_for = StderrFor::for_result(out.stderr.is_empty(), ctx.tty);
    let keyed = keyed_inputs(ctx.root.as_ref(), &learned.inputs);
    let key = result_key(ctx, &keyed, &learned, stderr_for);
    let result = StoredResult {
        outputs,
        depfile: learned.depfile,
        stdout,
        stderr,
        compile_ms,
        exit_code: out.exit_code,
    };
    d.store.put_result(&key, &result)?;
    let entry = ManifestEntry {
        inputs: learned.inputs,
        probes: learned.probes,
        date: learned.date,
        stderr_for,
        mtimes: learned.mtimes,
        env: learned.env,
        result: key,
    };
    let entry = match &ctx.root {
        Some(r) => entry.map_paths(&|p| r.to_key(p)),
        None => entry,
    };
    d.update_manifest(&ctx.key, |m| m.insert(entry.clone()))?;
    Ok(entry)
}

/// The address of a result: its context and everything it was made from.
/// (Only manifests lead to results, so changing how this is computed
/// orphans no cache entry.)
fn result_key(ctx: &Context, inputs: &[Input], learned: &Learned, stderr_for: StderrFor) -> Digest {
    let mut h = KeyHasher::new("ccd-result-v2");
    h.field(&ctx.key.0);
    for i in inputs {
        h.field(&i.path).field(&i.digest.0);
    }
    h.field(b"date")
        .field(learned.date.as_deref().unwrap_or_default().as_bytes())
        .field(&[u8::from(learned.date.is_some())]);
    h.field(b"stderr").field(&stderr_tag(stderr_for));
    for (k, v) in &learned.env {
        h.field(k).field(&[u8::from(v.is_some())]);
        h.field(v.as_deref().map_or(&[][..], |v| v.as_slice()));
    }
    h.finish()
}

/// Where the stderr may be replayed, as bytes of the key.
fn stderr_tag(s: StderrFor) -> [u8; 3] {
    match s {
        StderrFor::Any => [0, 0, 0],
        StderrFor::Pipe => [1, 0, 0],
        StderrFor::Terminal(c) => {
            let [a, b] = c.to_le_bytes();
            [2, a, b]
        }
    }
}
