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

#[cfg(test)]
mod tests {
    use std::fs;

    use ccd_depgraph::Verdict;

    use super::super::hash_verify::hash_and_verify;
    use super::super::request::Req;
    use super::super::test_support::{compiled, gnu_context, plan, req, work_dir};
    use super::super::{cached_hit, worktree};
    use super::*;
    use crate::daemon::for_tests;

    #[test]
    fn a_stored_result_is_verified_and_delivered_until_its_source_changes() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let work = work_dir(t.path(), "work", false);
        let mut r = req(&work, "/usr/bin/gcc", &["-c", "a.c", "-o", "a.o"], &[]);
        let (_, ctx) = gnu_context(&d, &mut r);
        assert!(matches!(
            hash_and_verify(&d, &ctx, &r).unwrap().verdict,
            Verdict::Cold
        ));

        let entry = compiled(&d, &ctx, b"object bytes", "warning: w\n").unwrap();
        let checked = hash_and_verify(&d, &ctx, &r).unwrap();
        let Verdict::Hit { result, .. } = checked.verdict else {
            panic!("{:?}", checked.verdict)
        };
        assert_eq!(result, entry.result);

        fs::remove_file(work.join("a.o")).unwrap();
        let delivery = cached_hit::prepare(&d, &ctx, &r, &result).unwrap();
        let streams = cached_hit::write(&d, &delivery).unwrap();
        assert_eq!(fs::read(work.join("a.o")).unwrap(), b"object bytes");
        assert_eq!(streams.stderr.as_slice(), b"warning: w\n");

        // Another content of the source (the racy window aside: the
        // digest is recomputed when the stamp changes).
        fs::write(work.join("a.c"), "int a, b;\n").unwrap();
        assert!(matches!(
            hash_and_verify(&d, &ctx, &r).unwrap().verdict,
            Verdict::SourceChanged
        ));
    }

    #[test]
    fn a_compile_that_wrote_no_output_is_not_stored() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let work = work_dir(t.path(), "work", false);
        fs::write(work.join("a.o"), "old object").unwrap();
        let mut r = req(&work, "/usr/bin/gcc", &["-c", "a.c"], &[]);
        let (_, ctx) = gnu_context(&d, &mut r);
        // The output existed before the plan and nothing wrote it since.
        let plan = plan(&d, &ctx);
        assert_eq!(
            take_outputs(&d, &ctx, &plan).unwrap_err(),
            NotStored::NoOutput
        );
    }

    /// A miss of `gcc -c a.c -o a.o` in the checkout `name`, with sharing on.
    fn shared(
        d: &Daemon,
        root: &std::path::Path,
        name: &str,
    ) -> (std::path::PathBuf, Req, Context) {
        let co = work_dir(root, name, true);
        let remap = [("CCD_PATH_REMAP", "auto")];
        let mut r = req(&co, "/usr/bin/gcc", &["-c", "a.c", "-o", "a.o"], &remap);
        let (_, ctx) = gnu_context(d, &mut r);
        (co, r, ctx)
    }

    #[test]
    fn a_shared_result_names_the_checkout_it_is_replayed_in() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let (one, _, ctx1) = shared(&d, t.path(), "one");
        let (two, r2, ctx2) = shared(&d, t.path(), "two");
        assert_eq!(ctx1.key, ctx2.key, "two checkouts share one context");
        let warning = format!("{}/inc/h.h:1: warning: w\n", one.display());
        compiled(&d, &ctx1, b"object", &warning).unwrap();

        let checked = hash_and_verify(&d, &ctx2, &r2).unwrap();
        let Verdict::Hit { result, .. } = checked.verdict else {
            panic!("{:?}", checked.verdict)
        };
        let delivery = cached_hit::prepare(&d, &ctx2, &r2, &result).unwrap();
        let expected = format!("{}/inc/h.h:1: warning: w\n", two.display());
        assert_eq!(String::from_utf8_lossy(&delivery.stderr), expected);
        let entry = checked.manifest.entries[0].clone();
        let here = worktree::entry_from_key(Some(&two), entry);
        assert!(here.inputs[0].path.starts_with(two.as_os_str().as_bytes()));
    }

    #[test]
    fn an_output_that_names_the_checkout_is_not_shared() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let (co, _, ctx) = shared(&d, t.path(), "co");
        let named = format!("built in {}", co.display());
        assert_eq!(
            compiled(&d, &ctx, named.as_bytes(), "").unwrap_err(),
            NotStored::OutputNamesCheckout
        );
    }
}
