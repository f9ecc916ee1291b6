//! The on-disk cache of ccd.
//!
//! ```text
//! <cache dir>/
//!   blobs/ab/<digest>       output files, named by the BLAKE3 of their bytes
//!   results/ab/<key>        result records: which blobs, streams, depfile
//!   manifests/ab/<key>      per compile context: results and their inputs
//!   tmp/                    files being written (renamed into place)
//! ```
//!
//! Every write goes to `tmp/` first and is renamed into place, so a reader
//! sees a whole file or none. Records end with a BLAKE3 checksum and blobs
//! are named by theirs; both are verified before use, so a torn or damaged
//! file is a miss, never a wrong hit.

mod deliver;
mod evict;
mod layout;
mod record;
mod result;
mod store;

pub use deliver::{DeliverError, Delivery, deliver, replace};
pub use evict::{EvictReport, evict, touch_used};
pub use layout::Layout;
pub use record::{RecordError, decode_record, encode_record};
pub use result::{StoredDepfile, StoredOutput, StoredResult};
pub use store::{Store, StoreError, Usage, ensure_private_dir};
