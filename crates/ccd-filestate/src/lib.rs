//! File state for the daemon: a stat stamp per path and the content digest
//! that goes with it. A digest is recomputed only when the stamp changes,
//! and never trusted for a file modified so recently that a second edit
//! could share its timestamp (the "racy git" problem: filesystem clocks tick
//! in milliseconds, so two edits within one tick leave the same mtime).

mod digest;
mod journal;
mod stamp;
mod state;

pub use digest::{Digest, digest_bytes, digest_reader};
pub use journal::{Journal, Prepared, Seal, SealPaths};
pub use stamp::{Stamp, now_ns, stat, stat_nofollow, write_time_slack_ns};
pub use state::{FileState, Hashed, RACY_WINDOW_NS};
