//! Phase: the compile context, built by each family's frontend: its key
//! (everything known before looking at what the source includes) and
//! where the invocation's files are. This module holds what every family's
//! context has in common.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccd_filestate::Digest;
use ccd_store::OutputRole;

use super::worktree::Root;
use crate::compiler::Compiler;
use crate::trace::TraceInfo;

pub struct Context {
    /// The key of the context's manifest.
    pub key: Digest,
    /// The directory paths in the key are relative to (the working
    /// directory; a checkout's root when paths are remapped).
    pub key_root: PathBuf,
    /// The checkout root when paths are remapped (`CCD_PATH_REMAP=auto`):
    /// stored paths under it are relative to it.
    pub root: Option<Root>,
    /// Whether results may serve another checkout (not a precompiled
    /// header's: it embeds absolute paths no prefix map removes, so its
    /// key holds the working directory).
    pub crosses_checkouts: bool,
    /// The key of this context in *this* checkout: what the file watcher
    /// vouches for is always absolute paths.
    pub local_key: Digest,
    pub compiler: Arc<Compiler>,
    pub source: PathBuf,
    /// Every output file by role, the main output first.
    pub outputs: Vec<(OutputRole, PathBuf)>,
    /// The dependency file the user asked for, replayed by hits.
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

impl Context {
    /// The main output.
    pub fn output(&self) -> &Path {
        self.outputs.first().map_or(Path::new(""), |(_, p)| p)
    }

    /// Every file the compile writes (its outputs and the user's
    /// dependency file).
    pub fn written(&self) -> impl Iterator<Item = &Path> {
        let outputs = self.outputs.iter().map(|(_, p)| p.as_path());
        outputs.chain(self.user_depfile.as_deref())
    }

    /// Names the compile in its trace.
    pub fn describe(&self, info: &mut TraceInfo) {
        info.source = Some(self.source.clone());
        info.output = Some(self.output().to_path_buf());
        info.key_root = self.key_root.clone();
    }
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

/// A context's key in one checkout (what the file watcher vouches for is
/// always absolute paths, so fast paths are per checkout).
pub fn local_key(key: &Digest, key_root: &Path) -> Digest {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed() {
        let ab = KeyHasher::new("d").field(b"ab").field(b"c").finish();
        let a_bc = KeyHasher::new("d").field(b"a").field(b"bc").finish();
        assert_ne!(ab, a_bc);
        assert_ne!(ab, KeyHasher::new("e").field(b"ab").field(b"c").finish());
    }

    #[test]
    fn a_fixed_date_is_the_same_whenever() {
        assert_eq!(date_tag(true), "fixed");
        assert!(date_tag(false).starts_with('q'));
    }
}
