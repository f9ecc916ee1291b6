//! The dependency graph of ccd.
//!
//! A *compile context* is everything about a compile that is known before
//! looking at any header: compiler, arguments, working directory, relevant
//! environment and source path. Each context has a [`Manifest`]: the results
//! it produced so far, each with the inputs (source and headers, with their
//! digests) and include lookups (paths that must still not exist) it was made
//! from. A result is served only if every input still has its digest and
//! every lookup would still resolve the same way.

mod listing;
mod manifest;
mod probe;
mod verify;

pub use listing::DirListings;
pub use manifest::{Input, MAX_ENTRIES, Manifest, ManifestEntry, ResultKey, StderrFor};
pub use probe::{DirProbe, Expect, ProbeSet};
pub use verify::{Conditions, Verdict, entry_holds, verify};
