use std::path::{Path, PathBuf};

use ccd_filestate::Digest;

/// Paths inside a cache directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn blob(&self, d: &Digest) -> PathBuf {
        self.sharded("blobs", d)
    }

    pub fn result(&self, d: &Digest) -> PathBuf {
        self.sharded("results", d)
    }

    pub fn manifest(&self, d: &Digest) -> PathBuf {
        self.sharded("manifests", d)
    }

    /// Facts about compilers (identity digests), so a restarted daemon
    /// need not probe them again.
    pub fn compiler(&self, d: &Digest) -> PathBuf {
        self.sharded("compilers", d)
    }

    pub fn data_dirs(&self) -> [PathBuf; 3] {
        ["blobs", "results", "manifests"].map(|d| self.root.join(d))
    }

    fn sharded(&self, kind: &str, d: &Digest) -> PathBuf {
        let hex = d.to_hex();
        self.root.join(kind).join(&hex[..2]).join(&hex[2..])
    }
}
