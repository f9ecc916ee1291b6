//! The local tier: the cache directory itself.
//!
//! ```text
//! <cache dir>/
//!   blobs/ab/<digest>       output files, named by the BLAKE3 of their bytes
//!   results/ab/<key>        result records: which blobs, streams, depfile
//!   manifests/ab/<key>      per compile context: results and their inputs
//!   compilers/ab/<key>      what was learned about each compiler
//!   tmp/                    files being written (renamed into place)
//! ```
//!
//! Every write goes to `tmp/` first and is renamed into place, so a reader
//! sees a whole file or none. Every directory inside is checked to be a
//! real directory of ours before a file is put in it: a symbolic link
//! planted in its place must not carry a write elsewhere.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ccd_filestate::{Digest, digest_bytes};

use crate::StoreError;
use crate::layout::Layout;
use crate::tier::{Kind, Tier};

/// Number of results and bytes on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    pub size_bytes: u64,
    /// Records written by this process: bytes before and after compression.
    pub records_raw_bytes: u64,
    pub records_stored_bytes: u64,
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

impl Counting {
    fn of(kind: Kind) -> Counting {
        match kind {
            Kind::Result => Counting::Entry,
            Kind::Blob | Kind::Manifest => Counting::Bytes,
        }
    }
}

pub struct LocalTier {
    layout: Layout,
    usage: Mutex<Usage>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Creates `dir` (mode 0700) if needed and checks that it is a real
/// directory owned by the current user.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(dir) {
        Ok(m) => {
            if !m.is_dir() {
                return Err(StoreError::NotADirectory(dir.to_path_buf()));
            }
            if m.uid() != uid() {
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
            let m = fs::symlink_metadata(dir).map_err(io_err(dir))?;
            if !m.is_dir() || m.uid() != uid() {
                return Err(StoreError::ForeignOwner(dir.to_path_buf()));
            }
            Ok(())
        }
        Err(e) => Err(io_err(dir)(e)),
    }
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Makes `dir` a real directory of ours (mode 0700), replacing a symlink or
/// file found in its place. Used for directories inside the cache, where
/// nothing but ccd should create anything.
fn ensure_real_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() && m.uid() == uid() => return Ok(()),
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
            Ok(m) if m.is_dir() && m.uid() == uid() => Ok(()),
            _ => Err(StoreError::NotADirectory(dir.to_path_buf())),
        },
        Err(e) => Err(io_err(dir)(e)),
    }
}

impl LocalTier {
    /// Opens (creating if needed) the cache at `root` and measures it.
    pub fn open(root: &Path) -> Result<LocalTier, StoreError> {
        let layout = Layout::new(root);
        ensure_private_dir(root)?;
        for d in Kind::ALL
            .map(|k| layout.dir(k))
            .iter()
            .chain([&layout.tmp()])
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(io_err(d))?;
        }
        Ok(LocalTier {
            usage: Mutex::new(measure(&layout)),
            layout,
        })
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn usage(&self) -> Usage {
        *self.lock_usage()
    }

    /// Replaces the usage counters (after eviction measured the cache).
    pub(crate) fn set_usage(&self, entries: u64, size_bytes: u64) {
        let mut u = self.lock_usage();
        u.entries = entries;
        u.size_bytes = size_bytes;
    }

    /// Counts a record's bytes before and after compression.
    pub(crate) fn count_record(&self, raw: usize, stored: usize) {
        let mut usage = self.lock_usage();
        usage.records_raw_bytes += raw as u64;
        usage.records_stored_bytes += stored as u64;
    }

    /// The file holding blob `d`. Hits copy (or reflink) it into place and
    /// the file watcher watches it; nothing else should need the path.
    pub fn blob_file(&self, d: &Digest) -> PathBuf {
        self.layout.file(Kind::Blob, d)
    }

    /// Copies the file at `path` into the tier; returns its digest and size.
    pub fn put_blob_from_file(&self, path: &Path) -> Result<(Digest, u64), StoreError> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let d = digest_bytes(&bytes);
        let size = bytes.len() as u64;
        // Same content is already there (and intact, by size): keep it.
        if fs::metadata(self.blob_file(&d)).is_ok_and(|m| m.len() == size) {
            return Ok((d, size));
        }
        self.write_atomically(&self.blob_file(&d), &bytes, 0o400, Counting::Bytes)?;
        Ok((d, size))
    }

    /// Removes a damaged or unreadable object (a directory in its place
    /// too), so the next store can put it back.
    pub fn remove(&self, kind: Kind, key: &Digest) {
        let path = self.layout.file(kind, key);
        let Ok(m) = fs::symlink_metadata(&path) else {
            return;
        };
        if m.is_dir() {
            let _ = fs::remove_dir_all(&path);
            return;
        }
        if fs::remove_file(&path).is_ok() {
            let mut usage = self.lock_usage();
            usage.size_bytes = usage.size_bytes.saturating_sub(m.len());
            if kind == Kind::Result {
                usage.entries = usage.entries.saturating_sub(1);
            }
        }
    }

    /// A fact about a compiler (outside the cache's size and eviction).
    pub fn get_compiler(&self, key: &Digest) -> Option<Vec<u8>> {
        fs::read(self.layout.compiler(key)).ok()
    }

    pub fn put_compiler(&self, key: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_atomically(&self.layout.compiler(key), bytes, 0o600, Counting::None)
    }

    /// Marks objects as just used (their mtimes order eviction).
    pub fn touch_used(&self, used: &[(Kind, Digest)]) {
        let now = fs::FileTimes::new().set_modified(std::time::SystemTime::now());
        for (kind, key) in used {
            if let Ok(f) = fs::File::options()
                .write(true)
                .open(self.layout.file(*kind, key))
            {
                let _ = f.set_times(now);
            }
        }
    }

    /// Removes every object.
    pub fn clear(&self) -> Result<(), StoreError> {
        let mut usage = self.lock_usage();
        for (i, d) in Kind::ALL.map(|k| self.layout.dir(k)).iter().enumerate() {
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

    fn lock_usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Tier for LocalTier {
    fn name(&self) -> String {
        format!("local {}", self.layout.root().display())
    }

    fn get(&self, kind: Kind, key: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.layout.file(kind, key);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    fn put(&self, kind: Kind, key: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        // Blobs are read-only: a hit's reflink or a stray write through a
        // hard link must never change the stored copy.
        let mode = if kind == Kind::Blob { 0o400 } else { 0o600 };
        self.write_atomically(
            &self.layout.file(kind, key),
            bytes,
            mode,
            Counting::of(kind),
        )
    }

    fn contains(&self, kind: Kind, key: &Digest) -> Result<bool, StoreError> {
        match fs::symlink_metadata(self.layout.file(kind, key)) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&self.layout.file(kind, key))(e)),
        }
    }
}

/// Walks the data directories once at start-up.
fn measure(layout: &Layout) -> Usage {
    let mut usage = Usage::default();
    for kind in Kind::ALL {
        let count = kind == Kind::Result;
        for shard in fs::read_dir(layout.dir(kind))
            .into_iter()
            .flatten()
            .flatten()
        {
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

    #[test]
    fn the_local_tier_keeps_the_tier_contract() {
        let t = tempfile::tempdir().unwrap();
        let tier = LocalTier::open(&t.path().join("cache")).unwrap();
        crate::tier::check_contract(&tier);
        // Replacing an object counts its bytes once.
        let u = tier.usage();
        assert_eq!(u.entries, 3, "three results were stored");
        let on_disk: u64 = Kind::ALL
            .iter()
            .flat_map(|k| walk(&tier.layout.dir(*k)))
            .sum();
        assert_eq!(u.size_bytes, on_disk);
        assert_eq!(
            LocalTier::open(&t.path().join("cache"))
                .unwrap()
                .usage()
                .size_bytes,
            on_disk
        );
    }

    fn walk(dir: &Path) -> Vec<u64> {
        let mut v = Vec::new();
        for shard in fs::read_dir(dir).unwrap().flatten() {
            for f in fs::read_dir(shard.path()).unwrap().flatten() {
                v.push(f.metadata().unwrap().len());
            }
        }
        v
    }

    #[test]
    fn planted_symlinks_do_not_redirect_writes() {
        let t = tempfile::tempdir().unwrap();
        let tier = LocalTier::open(&t.path().join("cache")).unwrap();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let obj = t.path().join("a.o");
        fs::write(&obj, b"obj").unwrap();
        let d = digest_bytes(b"obj");
        let shard = tier.blob_file(&d).parent().unwrap().to_path_buf();
        let _ = fs::remove_dir_all(&shard);
        std::os::unix::fs::symlink(&outside, &shard).unwrap();
        fs::remove_dir_all(tier.layout.tmp()).unwrap();
        std::os::unix::fs::symlink(&outside, tier.layout.tmp()).unwrap();
        tier.put_blob_from_file(&obj).unwrap();
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "wrote outside the cache"
        );
        assert!(fs::symlink_metadata(&shard).unwrap().is_dir());
        assert_eq!(fs::read(tier.blob_file(&d)).unwrap(), b"obj");
    }
}
