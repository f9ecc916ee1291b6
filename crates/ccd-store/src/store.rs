//! The store as the daemon sees it: typed records and blobs by digest, over
//! its tiers (today the local one). Whatever a tier returns is verified
//! before use: a record by its checksum, a blob by its digest. A damaged
//! object is dropped and reported as absent: a miss, never a wrong hit.

use std::io;
use std::path::{Path, PathBuf};

use ccd_depgraph::Manifest;
use ccd_filestate::{Digest, FileState};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::local::{LocalTier, Usage};
use crate::record::{decode_record, encode_record};
use crate::result::StoredResult;
use crate::tier::{Kind, Tier};
use crate::{DeliverError, Delivery, EvictReport};

const KIND_RESULT: u8 = 1;
const KIND_MANIFEST: u8 = 2;
const KIND_COMPILER: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// (Not a `source`: the message holds the cause once, and anyhow's
    /// chain would print it twice.)
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("cache directory {0} belongs to another user; refusing to use it")]
    ForeignOwner(PathBuf),
    #[error("cache directory {0} is a symlink or not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot encode record: {0}")]
    Encode(#[from] postcard::Error),
}

impl StoreError {
    /// What kind of failure it was (a full disk and a permission problem
    /// are told apart in the statistics).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            StoreError::Io { error, .. } => error.kind(),
            StoreError::ForeignOwner(_) | StoreError::NotADirectory(_) => {
                io::ErrorKind::PermissionDenied
            }
            StoreError::Encode(_) => io::ErrorKind::InvalidData,
        }
    }
}

pub struct Store {
    local: LocalTier,
}

impl Store {
    /// Opens (creating if needed) the cache at `root` and measures it.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            local: LocalTier::open(root)?,
        })
    }

    pub fn usage(&self) -> Usage {
        self.local.usage()
    }

    /// Copies the file at `path` into the store; returns its digest and size.
    pub fn put_blob_from_file(&self, path: &Path) -> Result<(Digest, u64), StoreError> {
        self.local.put_blob_from_file(path)
    }

    /// Whether blob `d` is present and its content still has digest `d`.
    /// Uses `files` so an unchanged blob is not re-read on every hit; a
    /// damaged or unreadable one is dropped.
    pub fn blob_is_intact(&self, d: &Digest, files: &FileState) -> bool {
        match files.digest(&self.local.blob_file(d)) {
            Ok(h) if h.digest == *d => true,
            Ok(_) => {
                tracing::warn!(blob = %d.to_hex(), "stored output is damaged; dropping it");
                self.local.remove(Kind::Blob, d);
                false
            }
            Err(_) => {
                if self.local.contains(Kind::Blob, d).unwrap_or(true) {
                    tracing::warn!(blob = %d.to_hex(), "stored output is unreadable; dropping it");
                }
                self.local.remove(Kind::Blob, d);
                false
            }
        }
    }

    /// Writes blob `d` to `dest` with permission bits `mode` (see
    /// [`crate::deliver`]).
    pub fn deliver_blob(
        &self,
        d: &Digest,
        dest: &Path,
        mode: u32,
    ) -> Result<Delivery, DeliverError> {
        crate::deliver(&self.local.blob_file(d), dest, mode)
    }

    pub fn put_result(&self, key: &Digest, r: &StoredResult) -> Result<(), StoreError> {
        self.put_record(Kind::Result, KIND_RESULT, key, r)
    }

    /// The result stored under `key`; a damaged record is removed and
    /// reported as absent.
    pub fn get_result(&self, key: &Digest) -> Option<StoredResult> {
        self.get_record(Kind::Result, KIND_RESULT, key)
    }

    pub fn put_manifest(&self, key: &Digest, m: &Manifest) -> Result<(), StoreError> {
        self.put_record(Kind::Manifest, KIND_MANIFEST, key, m)
    }

    pub fn get_manifest(&self, key: &Digest) -> Option<Manifest> {
        self.get_record(Kind::Manifest, KIND_MANIFEST, key)
    }

    /// Stores a compiler's identity record (any serialisable value), kept
    /// on this machine only: it describes files here.
    pub fn put_compiler<T: Serialize>(&self, key: &Digest, value: &T) -> Result<(), StoreError> {
        let (bytes, _) = encode_record(KIND_COMPILER, value)?;
        self.local.put_compiler(key, &bytes)
    }

    pub fn get_compiler<T: DeserializeOwned>(&self, key: &Digest) -> Option<T> {
        decode_record(KIND_COMPILER, &self.local.get_compiler(key)?).ok()
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.local.clear()
    }

    /// Marks results and manifests as just used: eviction goes least
    /// recently used first.
    pub fn touch_used(&self, used: &[(Kind, Digest)]) {
        self.local.touch_used(used);
    }

    /// Brings the cache under `limit` bytes if it is above it.
    pub fn evict(&self, limit: u64) -> EvictReport {
        crate::evict::evict(&self.local, limit)
    }

    fn put_record<T: Serialize>(
        &self,
        kind: Kind,
        tag: u8,
        key: &Digest,
        value: &T,
    ) -> Result<(), StoreError> {
        let (bytes, raw_len) = encode_record(tag, value)?;
        self.local.put(kind, key, &bytes)?;
        self.local.count_record(raw_len, bytes.len());
        Ok(())
    }

    fn get_record<T: DeserializeOwned>(&self, kind: Kind, tag: u8, key: &Digest) -> Option<T> {
        let bytes = self.local.get(kind, key).ok()??;
        match decode_record(tag, &bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(key = %key.to_hex(), kind = ?kind, error = %e, "damaged cache record; dropping it");
                self.local.remove(kind, key);
                None
            }
        }
    }
}

/// The blobs a result record refers to (none if it is unreadable).
pub(crate) fn result_blobs(bytes: &[u8]) -> Vec<Digest> {
    decode_record::<StoredResult>(KIND_RESULT, bytes)
        .map(|r| r.outputs.iter().map(|o| o.blob).collect())
        .unwrap_or_default()
}

/// The results a manifest lists (none if it is unreadable).
pub(crate) fn manifest_results(bytes: &[u8]) -> Vec<Digest> {
    decode_record::<Manifest>(KIND_MANIFEST, bytes)
        .map(|m| m.entries.iter().map(|e| e.result).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;
    use crate::result::{OutputRole, StoredOutput};

    fn result(blob: Digest) -> StoredResult {
        StoredResult {
            outputs: vec![StoredOutput {
                role: OutputRole::Object,
                blob,
                size: 3,
                executable: false,
            }],
            depfile: None,
            stdout: b"out".to_vec(),
            stderr: vec![],
            compile_ms: 5,
            exit_code: 0,
        }
    }

    #[test]
    fn store_roundtrip_damage_and_clear() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cache");
        let store = Store::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        let obj = t.path().join("a.o");
        fs::write(&obj, b"obj").unwrap();
        let (d, size) = store.put_blob_from_file(&obj).unwrap();
        assert_eq!(size, 3);
        let files = FileState::new();
        assert!(store.blob_is_intact(&d, &files));
        let key = Digest([5; 32]);
        store.put_result(&key, &result(d)).unwrap();
        assert_eq!(store.get_result(&key), Some(result(d)));
        assert_eq!(store.usage().entries, 1);
        // Re-opening measures the same usage.
        let u = store.usage();
        let again = Store::open(&root).unwrap().usage();
        assert_eq!((again.entries, again.size_bytes), (u.entries, u.size_bytes));

        // A damaged record is a miss, and is removed (and no longer
        // counted).
        let rp = store.local.layout().file(Kind::Result, &key);
        let mut bytes = fs::read(&rp).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 1;
        fs::set_permissions(&rp, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&rp, &bytes).unwrap();
        assert_eq!(store.get_result(&key), None);
        assert!(!rp.exists());
        assert_eq!(store.usage().entries, 0);

        // A damaged blob is detected (same size, other bytes) and dropped.
        let bp = store.local.blob_file(&d);
        fs::set_permissions(&bp, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&bp, b"OBJ").unwrap();
        assert!(!store.blob_is_intact(&d, &files));
        assert!(!bp.exists());

        store.put_result(&key, &result(d)).unwrap();
        store.clear().unwrap();
        assert_eq!((store.usage().entries, store.usage().size_bytes), (0, 0));
        assert_eq!(store.get_result(&key), None);
    }

    #[test]
    fn storage_failures_keep_their_kind() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("cache")).unwrap();
        let missing = store.put_blob_from_file(&t.path().join("no-such.o"));
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
