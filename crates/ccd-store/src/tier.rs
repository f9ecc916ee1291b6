//! A storage tier: bytes by kind and digest. The local cache directory is
//! the first tier, and the fastest; a shared tier for a team (Redis, S3, a
//! Bazel remote cache) is another implementation of the same trait, one
//! file each.
//!
//! A tier stores bytes and knows nothing of what they mean. Whoever reads
//! them verifies them before use ([`crate::Store`]: a record's checksum, a
//! blob's digest), so a tier that returns damaged or foreign bytes costs a
//! miss, never a wrong hit.

use ccd_filestate::Digest;

use crate::StoreError;

/// What a stored object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An output file, named by the digest of its bytes.
    Blob,
    /// A result record: which blobs, the streams, the dependency file.
    Result,
    /// A compile context's manifest: its results and their inputs.
    Manifest,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Blob, Kind::Result, Kind::Manifest];

    /// The kind's name in paths and keys (part of the stored layout).
    pub fn dir_name(self) -> &'static str {
        match self {
            Kind::Blob => "blobs",
            Kind::Result => "results",
            Kind::Manifest => "manifests",
        }
    }
}

pub trait Tier: Send + Sync {
    /// How statistics and logs name the tier.
    fn name(&self) -> String;

    /// The bytes stored under `key`, `None` when there are none.
    fn get(&self, kind: Kind, key: &Digest) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `bytes` under `key`, replacing what was there; readers see
    /// all of them or none.
    fn put(&self, kind: Kind, key: &Digest, bytes: &[u8]) -> Result<(), StoreError>;

    fn contains(&self, kind: Kind, key: &Digest) -> Result<bool, StoreError>;
}

/// What every tier must do; each implementation's tests run it.
#[cfg(test)]
pub(crate) fn check_contract(t: &dyn Tier) {
    let a = Digest([0xa1; 32]);
    let b = Digest([0xb2; 32]);
    for kind in Kind::ALL {
        assert_eq!(t.get(kind, &a).unwrap(), None, "{kind:?} absent at first");
        assert!(!t.contains(kind, &a).unwrap());
        t.put(kind, &a, b"first").unwrap();
        assert!(t.contains(kind, &a).unwrap());
        assert_eq!(t.get(kind, &a).unwrap().as_deref(), Some(&b"first"[..]));
        t.put(kind, &a, b"second, longer").unwrap();
        assert_eq!(
            t.get(kind, &a).unwrap().as_deref(),
            Some(&b"second, longer"[..]),
            "{kind:?}: a put replaces"
        );
        assert!(!t.contains(kind, &b).unwrap(), "{kind:?}: keys are apart");
        t.put(kind, &b, b"").unwrap();
        assert_eq!(t.get(kind, &b).unwrap().as_deref(), Some(&b""[..]));
    }
    // Kinds are apart too: a result under a blob's digest is not the blob.
    let c = Digest([0xc3; 32]);
    t.put(Kind::Result, &c, b"record").unwrap();
    assert!(!t.contains(Kind::Blob, &c).unwrap());
    assert!(!t.contains(Kind::Manifest, &c).unwrap());
}
