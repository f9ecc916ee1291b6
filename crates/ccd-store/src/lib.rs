//! The cache of ccd: results, their output files and the manifests that
//! find them, by digest, in tiers ([`Tier`]): the local cache directory
//! ([`LocalTier`]) first.
//!
//! Records end with a BLAKE3 checksum and blobs are named by theirs; both
//! are verified before use, so a torn or damaged file is a miss, never a
//! wrong hit.

mod deliver;
mod evict;
mod layout;
mod local;
mod record;
mod result;
mod store;
mod tier;

pub use deliver::{DeliverError, Delivery, deliver, replace};
pub use evict::EvictReport;
pub use local::{LocalTier, Usage, ensure_private_dir};
pub use record::{RecordError, decode_record, encode_record};
pub use result::{OutputRole, StoredDepfile, StoredOutput, StoredResult};
pub use store::{Store, StoreError};
pub use tier::{Kind, Tier};
