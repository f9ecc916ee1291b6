use serde::{Deserialize, Serialize};

/// A BLAKE3 content digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..16])
    }
}

pub fn digest_bytes(bytes: &[u8]) -> Digest {
    Digest(*blake3::hash(bytes).as_bytes())
}

/// The digest of everything `r` yields, read in chunks (no buffer the size
/// of the file: tens of megabytes of `cc1plus` would fault in fresh pages).
pub fn digest_reader(r: impl std::io::Read) -> std::io::Result<Digest> {
    let mut h = blake3::Hasher::new();
    h.update_reader(r)?;
    Ok(Digest(*h.finalize().as_bytes()))
}
