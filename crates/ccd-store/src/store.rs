use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ccd_depgraph::Manifest;
use ccd_filestate::{Digest, FileState, digest_bytes};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::layout::Layout;
use crate::record::{decode_record, encode_record};
use crate::result::StoredResult;

const KIND_RESULT: u8 = 1;
const KIND_MANIFEST: u8 = 2;
const KIND_COMPILER: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cache directory {0} belongs to another user; refusing to use it")]
    ForeignOwner(PathBuf),
    #[error("cache directory {0} is a symlink or not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot encode record: {0}")]
    Encode(#[from] postcard::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a write adds to the usage counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// A result: one entry and its bytes.
    Entry,
    /// Blobs and manifests: bytes.
    Bytes,
    /// Facts about compilers: outside the cache's size.
    None,
}

/// Number of results and bytes on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    pub size_bytes: u64,
    /// Records written by this process: bytes before and after compression.
    pub records_raw_bytes: u64,
    pub records_stored_bytes: u64,
}

pub struct Store {
    layout: Layout,
    usage: Mutex<Usage>,
}

/// Creates `dir` (mode 0700) if needed and checks that it is a real
/// directory owned by the current user.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(dir) {
        Ok(m) => {
            if !m.is_dir() {
                return Err(StoreError::NotADirectory(dir.to_path_buf()));
            }
            // SAFETY: getuid cannot fail.
            if m.uid() != unsafe { libc::getuid() } {
                return Err(StoreError::ForeignOwner(dir.to_path_buf()));
            }
            if m.mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir))?;
            // `recursive` applies the mode only to the last component on some
            // systems; set it explicitly.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
            ensure_private_dir_checked(dir)
        }
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Makes `dir` a real directory of ours (mode 0700), replacing a symlink or
/// file found in its place. Used for directories inside the cache, where
/// nothing but ccd should create anything.
fn ensure_real_dir(dir: &Path) -> Result<(), StoreError> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() && m.uid() == uid => return Ok(()),
        Ok(m) if m.is_dir() => return Err(StoreError::ForeignOwner(dir.to_path_buf())),
        Ok(_) => {
            tracing::warn!(path = %dir.display(), "replacing a non-directory inside the cache");
            fs::remove_file(dir).map_err(io_err(dir))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(dir)(e)),
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        // Created concurrently by another writer: check it again.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() && m.uid() == uid => Ok(()),
            _ => Err(StoreError::NotADirectory(dir.to_path_buf())),
        },
        Err(e) => Err(io_err(dir)(e)),
    }
}

fn ensure_private_dir_checked(dir: &Path) -> Result<(), StoreError> {
    let m = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    // SAFETY: getuid cannot fail.
    if !m.is_dir() || m.uid() != unsafe { libc::getuid() } {
        return Err(StoreError::ForeignOwner(dir.to_path_buf()));
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the cache at `root` and measures it.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let layout = Layout::new(root);
        ensure_private_dir(root)?;
        for d in layout.data_dirs().iter().chain([&layout.tmp()]) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(io_err(d))?;
        }
        let store = Store {
            usage: Mutex::new(measure(&layout)),
            layout,
        };
        Ok(store)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn usage(&self) -> Usage {
        *self.lock_usage()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.layout.blob(d)
    }

    /// Copies the file at `path` into the store; returns its digest and size.
    pub fn put_blob_from_file(&self, path: &Path) -> Result<(Digest, u64), StoreError> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let d = digest_bytes(&bytes);
        let dest = self.layout.blob(&d);
        // Same content is already there (and intact, by size): keep it.
        if fs::metadata(&dest).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok((d, bytes.len() as u64));
        }
        self.write_atomically(&dest, &bytes, 0o400, Counting::Bytes)?;
        Ok((d, bytes.len() as u64))
    }

    /// Whether blob `d` is present and its content still has digest `d`.
    /// Uses `files` so an unchanged blob is not re-read on every hit.
    pub fn blob_is_intact(&self, d: &Digest, files: &FileState) -> bool {
        let path = self.layout.blob(d);
        match files.digest(&path) {
            Ok(h) if h.digest == *d => true,
            Ok(_) => {
                tracing::warn!(blob = %d.to_hex(), "stored output is damaged; dropping it");
                self.remove(&path);
                false
            }
            Err(_) => {
                // Unreadable: whatever is there (a directory, say) goes, so
                // the next store can put the blob back.
                if let Ok(m) = fs::symlink_metadata(&path) {
                    tracing::warn!(blob = %d.to_hex(), "stored output is unreadable; dropping it");
                    if m.is_dir() {
                        let _ = fs::remove_dir_all(&path);
                    } else {
                        self.remove(&path);
                    }
                }
                false
            }
        }
    }

    pub fn put_result(&self, key: &Digest, r: &StoredResult) -> Result<(), StoreError> {
        self.put_record(&self.layout.result(key), KIND_RESULT, r, Counting::Entry)
    }

    /// The result stored under `key`; a damaged record is removed and
    /// reported as absent.
    pub fn get_result(&self, key: &Digest) -> Option<StoredResult> {
        self.get_record(&self.layout.result(key), KIND_RESULT, true)
    }

    pub fn put_manifest(&self, key: &Digest, m: &Manifest) -> Result<(), StoreError> {
        self.put_record(
            &self.layout.manifest(key),
            KIND_MANIFEST,
            m,
            Counting::Bytes,
        )
    }

    pub fn get_manifest(&self, key: &Digest) -> Option<Manifest> {
        self.get_record(&self.layout.manifest(key), KIND_MANIFEST, false)
    }

    /// Stores a compiler's identity record (any serialisable value).
    pub fn put_compiler<T: Serialize>(&self, key: &Digest, value: &T) -> Result<(), StoreError> {
        self.put_record(
            &self.layout.compiler(key),
            KIND_COMPILER,
            value,
            Counting::None,
        )
    }

    pub fn get_compiler<T: DeserializeOwned>(&self, key: &Digest) -> Option<T> {
        self.get_record(&self.layout.compiler(key), KIND_COMPILER, false)
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), StoreError> {
        let mut usage = self.lock_usage();
        for (i, d) in self.layout.data_dirs().iter().enumerate() {
            // Rename first so a concurrent reader never sees a half-deleted
            // tree, then delete at leisure.
            let trash = self.layout.tmp().join(format!(
                "trash-{}-{}-{i}",
                std::process::id(),
                ccd_filestate::now_ns()
            ));
            if fs::rename(d, &trash).is_ok() {
                let _ = fs::remove_dir_all(&trash);
            }
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(io_err(d))?;
        }
        usage.entries = 0;
        usage.size_bytes = 0;
        Ok(())
    }

    /// The blob files a stored result record refers to (empty if the record
    /// is unreadable).
    pub fn result_blob_paths(&self, record: &Path) -> Vec<PathBuf> {
        let Ok(bytes) = fs::read(record) else {
            return Vec::new();
        };
        match decode_record::<StoredResult>(KIND_RESULT, &bytes) {
            Ok(r) => r
                .outputs
                .iter()
                .map(|o| self.layout.blob(&o.blob))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The result records a manifest refers to (empty if unreadable).
    pub fn manifest_result_paths(&self, manifest: &Path) -> Vec<PathBuf> {
        let Ok(bytes) = fs::read(manifest) else {
            return Vec::new();
        };
        match decode_record::<Manifest>(KIND_MANIFEST, &bytes) {
            Ok(m) => m
                .entries
                .iter()
                .map(|e| self.layout.result(&e.result))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Bytes of the blobs a result record refers to.
    pub fn result_blob_bytes(&self, record: &Path) -> u64 {
        let Ok(bytes) = fs::read(record) else {
            return 0;
        };
        decode_record::<StoredResult>(KIND_RESULT, &bytes)
            .map(|r| r.outputs.iter().map(|o| o.size).sum())
            .unwrap_or(0)
    }

    /// Replaces the usage counters (after eviction measured the cache).
    pub fn set_usage(&self, entries: u64, size_bytes: u64) {
        let mut u = self.lock_usage();
        u.entries = entries;
        u.size_bytes = size_bytes;
    }

    /// The record file of result `key` (for last-use bookkeeping).
    pub fn result_path(&self, key: &Digest) -> PathBuf {
        self.layout.result(key)
    }

    pub fn manifest_path(&self, key: &Digest) -> PathBuf {
        self.layout.manifest(key)
    }

    fn put_record<T: Serialize>(
        &self,
        path: &Path,
        kind: u8,
        value: &T,
        counting: Counting,
    ) -> Result<(), StoreError> {
        let (bytes, raw_len) = encode_record(kind, value)?;
        self.write_atomically(path, &bytes, 0o600, counting)?;
        let mut usage = self.lock_usage();
        usage.records_raw_bytes += raw_len as u64;
        usage.records_stored_bytes += bytes.len() as u64;
        Ok(())
    }

    fn get_record<T: DeserializeOwned>(&self, path: &Path, kind: u8, is_entry: bool) -> Option<T> {
        let bytes = fs::read(path).ok()?;
        match decode_record(kind, &bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "damaged cache record; dropping it");
                if is_entry {
                    let mut usage = self.lock_usage();
                    usage.entries = usage.entries.saturating_sub(1);
                }
                self.remove(path);
                None
            }
        }
    }

    fn write_atomically(
        &self,
        dest: &Path,
        bytes: &[u8],
        mode: u32,
        counting: Counting,
    ) -> Result<(), StoreError> {
        let tmp_dir = self.layout.tmp();
        ensure_real_dir(&tmp_dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix("w-")
            .tempfile_in(&tmp_dir)
            .map_err(io_err(&tmp_dir))?;
        tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).map_err(io_err(dest))?;
        // `kind/ab/`: both levels must be our own directories, never a
        // symlink that would carry the rename elsewhere.
        let shard = dest.parent().unwrap_or(dest);
        if let Some(kind) = shard.parent() {
            ensure_real_dir(kind)?;
        }
        ensure_real_dir(shard)?;
        // Checking what is there and replacing it happen under the usage
        // lock, so two writers of one key cannot both count it as new.
        let mut usage = self.lock_usage();
        let old = fs::symlink_metadata(dest).ok();
        if old.as_ref().is_some_and(|m| m.is_dir()) {
            // Damage: a directory where a file belongs. It is ours to remove.
            fs::remove_dir_all(dest).map_err(io_err(dest))?;
        }
        let old_len = old.filter(|m| !m.is_dir()).map(|m| m.len());
        // rename(2) replaces whatever is at `dest` (even a planted symlink)
        // instead of writing through it.
        tmp.persist(dest).map_err(|e| io_err(dest)(e.error))?;
        if counting != Counting::None {
            usage.size_bytes =
                (usage.size_bytes + bytes.len() as u64).saturating_sub(old_len.unwrap_or(0));
            if counting == Counting::Entry && old_len.is_none() {
                usage.entries += 1;
            }
        }
        Ok(())
    }

    fn remove(&self, path: &Path) {
        if let Ok(m) = fs::symlink_metadata(path)
            && fs::remove_file(path).is_ok()
        {
            let mut usage = self.lock_usage();
            usage.size_bytes = usage.size_bytes.saturating_sub(m.len());
        }
    }

    fn lock_usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Walks the data directories once at start-up.
fn measure(layout: &Layout) -> Usage {
    let mut usage = Usage::default();
    let [blobs, results, manifests] = layout.data_dirs();
    for (dir, count) in [(blobs, false), (results, true), (manifests, false)] {
        for shard in fs::read_dir(&dir).into_iter().flatten().flatten() {
            for f in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                if let Ok(m) = f.metadata() {
                    usage.size_bytes += m.len();
                    usage.entries += u64::from(count);
                }
            }
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::StoredOutput;

    fn result(blob: Digest) -> StoredResult {
        StoredResult {
            outputs: vec![StoredOutput {
                role: "object".into(),
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
    fn planted_symlinks_do_not_redirect_writes() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cache");
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let store = Store::open(&root).unwrap();
        let obj = t.path().join("a.o");
        fs::write(&obj, b"obj").unwrap();
        let d = digest_bytes(b"obj");
        let shard = store.blob_path(&d).parent().unwrap().to_path_buf();
        let _ = fs::remove_dir_all(&shard);
        std::os::unix::fs::symlink(&outside, &shard).unwrap();
        fs::remove_dir_all(store.layout().tmp()).unwrap();
        std::os::unix::fs::symlink(&outside, store.layout().tmp()).unwrap();
        store.put_blob_from_file(&obj).unwrap();
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "wrote outside the cache"
        );
        assert!(fs::symlink_metadata(&shard).unwrap().is_dir());
        assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"obj");
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

        // A damaged record is a miss, and is removed.
        let rp = store.layout().result(&key);
        let mut bytes = fs::read(&rp).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 1;
        fs::set_permissions(&rp, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&rp, &bytes).unwrap();
        assert_eq!(store.get_result(&key), None);
        assert!(!rp.exists());

        // A damaged blob is detected (same size, other bytes).
        let bp = store.blob_path(&d);
        fs::set_permissions(&bp, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&bp, b"OBJ").unwrap();
        assert!(!store.blob_is_intact(&d, &files));

        store.put_result(&key, &result(d)).unwrap();
        store.clear().unwrap();
        assert_eq!((store.usage().entries, store.usage().size_bytes), (0, 0));
        assert_eq!(store.get_result(&key), None);
    }
}
