//! Paths inside a cache directory.

use std::path::{Path, PathBuf};

use ccd_filestate::Digest;

use crate::tier::Kind;

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// `<kind>/ab/<rest of the digest's hex>`.
    pub fn file(&self, kind: Kind, d: &Digest) -> PathBuf {
        self.sharded(kind.dir_name(), d)
    }

    /// Facts about compilers (identity digests), so a restarted daemon
    /// need not probe them again.
    pub fn compiler(&self, d: &Digest) -> PathBuf {
        self.sharded("compilers", d)
    }

    pub fn dir(&self, kind: Kind) -> PathBuf {
        self.root.join(kind.dir_name())
    }

    /// The digest a file of this layout is named by (its shard directory
    /// and file name), `None` for any other file.
    pub fn digest_of(path: &Path) -> Option<Digest> {
        let name = path.file_name()?.to_str()?;
        let shard = path.parent()?.file_name()?.to_str()?;
        Digest::from_hex(&format!("{shard}{name}"))
    }

    fn sharded(&self, kind: &str, d: &Digest) -> PathBuf {
        let hex = d.to_hex();
        self.root.join(kind).join(&hex[..2]).join(&hex[2..])
    }
}
