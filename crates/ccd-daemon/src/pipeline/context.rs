//! Phase: build the compile context: its key (everything known before
//! looking at headers) and where the invocation's files are.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use ccd_cc::{Invocation, depfile};
use ccd_filestate::Digest;

use super::compiler_identity::Compiler;
use super::request::Req;
use super::worktree::{Remap, Root};

pub struct Context {
    /// The key of the context's manifest.
    pub key: Digest,
    /// The directory paths in the key are relative to (the working
    /// directory; a checkout's root when paths are remapped).
    pub key_root: PathBuf,
    /// The checkout root when paths are remapped (`CCD_PATH_REMAP=auto`):
    /// stored paths under it are relative to it.
    pub root: Option<Root>,
    /// The key of this context in *this* checkout: what the file watcher
    /// vouches for is always absolute paths.
    pub local_key: Digest,
    pub compiler: Arc<Compiler>,
    pub source: PathBuf,
    /// The main output.
    pub output: PathBuf,
    /// Every output file by role ("object", "dwo", "rlib", ...), the main
    /// output first.
    pub outputs: Vec<(String, PathBuf)>,
    pub user_depfile: Option<PathBuf>,
    /// How to write the user's dependency file for this invocation's target
    /// names (C/C++); `None`: only a verbatim copy can be replayed.
    pub depfile_render: Option<DepRender>,
    /// What `__DATE__` expands to now, coarsely (see [`date_tag`]).
    pub date_tag: String,
    /// Fingerprint of the terminal stderr goes to, if it is one.
    pub tty: Option<u16>,
    /// Digest of the options that decide the depfile's target names.
    pub targets_key: Digest,
    /// `__TIME__` is deterministic (SOURCE_DATE_EPOCH is set).
    pub fixed_time: bool,
}

pub struct DepRender {
    pub family: ccd_cc::Family,
    pub targets: Vec<Vec<u8>>,
    pub phony: bool,
}

/// Length-prefixed fields, so that no two field lists hash alike.
pub struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    pub fn new(domain: &str) -> KeyHasher {
        let mut h = blake3::Hasher::new();
        h.update(domain.as_bytes());
        KeyHasher(h)
    }

    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(&self) -> Digest {
        Digest(*self.0.finalize().as_bytes())
    }
}

pub fn build(compiler: Arc<Compiler>, inv: &Invocation, req: &Req, remap: &Remap) -> Context {
    let root = match remap {
        Remap::Active(r) => Some(r.clone()),
        _ => None,
    };
    // Under path remapping, the checkout root is replaced by a mark in
    // everything that is keyed.
    let k = |b: &[u8]| match &root {
        Some(r) => r.arg_to_key(b),
        None => b.to_vec(),
    };
    let mut h = KeyHasher::new("ccd-context-v1");
    h.field(&compiler.digest.0)
        .field(&k(req.cwd.as_os_str().as_bytes()))
        .field(&k(&inv.source))
        .field(format!("{:?}/{:?}", inv.language, inv.mode).as_bytes());
    h.field(&(inv.key_args.len() as u64).to_le_bytes());
    for a in &inv.key_args {
        h.field(&k(a));
    }
    h.field(format!("deps:{:?}/{}", inv.deps.kind, inv.deps.phony).as_bytes());
    if inv.output_path_is_recorded() {
        h.field(&k(&inv.output_path()));
    }
    for (name, v) in req.keyed_env() {
        h.field(name).field(&k(v));
    }
    // A precompiled header embeds absolute paths no prefix map removes:
    // its results never cross checkouts (zccache issues #474, #489).
    if root.is_some() && inv.uses_or_makes_pch() {
        h.field(b"pch-checkout")
            .field(req.cwd.as_os_str().as_bytes());
    }
    let key = h.finish();
    let key_root = root
        .as_ref()
        .map_or_else(|| req.cwd.clone(), |r| r.root.clone());
    let local_key = local_key(&key, &key_root);

    let mut t = KeyHasher::new("ccd-depfile-targets-v1");
    let targets = depfile::targets_for(compiler.family, inv);
    for target in &targets {
        t.field(&k(target));
    }
    let fixed_time = req.env("SOURCE_DATE_EPOCH").is_some() && compiler.honors_source_date_epoch;
    Context {
        key,
        key_root,
        root,
        local_key,
        source: req.abs(&inv.source),
        output: req.abs(&inv.output_path()),
        outputs: std::iter::once(("object".to_string(), req.abs(&inv.output_path())))
            .chain(
                inv.side_output_paths()
                    .into_iter()
                    .map(|(role, p)| (role.to_string(), req.abs(&p))),
            )
            .collect(),
        user_depfile: inv.user_depfile_path().map(|p| req.abs(&p)),
        depfile_render: Some(DepRender {
            family: compiler.family,
            targets,
            phony: inv.deps.phony,
        }),
        date_tag: date_tag(fixed_time),
        tty: req.stderr_tty.map(|t| t.columns),
        targets_key: t.finish(),
        fixed_time,
        compiler,
    }
}

/// A context's key in one checkout (what the file watcher vouches for is
/// always absolute paths, so fast paths are per checkout).
pub fn local_key(key: &Digest, key_root: &std::path::Path) -> Digest {
    KeyHasher::new("ccd-local-v1")
        .field(&key.0)
        .field(key_root.as_os_str().as_bytes())
        .finish()
}

/// A value that changes at least as often as `__DATE__` in any time zone.
/// Offsets are whole quarter hours, so within one UTC quarter hour every
/// zone sees a single date. With SOURCE_DATE_EPOCH (part of the key) the
/// date is fixed.
pub fn date_tag(fixed: bool) -> String {
    if fixed {
        return "fixed".into();
    }
    let secs = ccd_filestate::now_ns() / 1_000_000_000;
    format!("q{}", secs / 900)
}
