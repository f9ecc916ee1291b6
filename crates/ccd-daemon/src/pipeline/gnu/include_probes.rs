//! Recording how every header lookup of a compile resolved, so a later hit
//! can tell that a new file would now be found first.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::Arc;

use ccd_cc::scan::ScanResult;
use ccd_cc::search_path::{SearchChain, join, parent};
use ccd_depgraph::{DirListings, Expect, ProbeSet};
use rustc_hash::FxHashSet;

use super::super::request::Req;

/// One input as the compiler named it, with its scan.
pub struct ScannedInput<'a> {
    pub spelled: &'a [u8],
    pub scan: &'a ScanResult,
}

/// The recorded lookups, and precompiled headers that may stand in for
/// headers (the compiler does not list those in its dependency output).
pub struct Lookups {
    pub set: ProbeSet,
    pub pch_files: Vec<Vec<u8>>,
    /// A `.gch` directory was found: too many variants to follow.
    pub pch_dir: bool,
}

/// `inputs[0]` must be the source file.
pub fn record(
    listings: &Arc<DirListings>,
    req: &Req,
    chain: &SearchChain,
    forced: &[Vec<u8>],
    inputs: &[ScannedInput<'_>],
) -> Lookups {
    let mut l = Lookups {
        set: ProbeSet::with_listings(Arc::clone(listings)),
        pch_files: Vec::new(),
        pch_dir: false,
    };
    let abs = |p: &[u8]| req.abs(p).as_os_str().as_bytes().to_vec();
    // The compiler examines every search directory when it starts, whether
    // or not a lookup reaches it: gcc warns about one that is not a
    // directory and fails on one it cannot examine (a symbolic link loop),
    // which ccd once served a hit for.
    for dir in chain.quote.iter().chain(&chain.angle) {
        l.set.observe(&abs(dir));
    }
    for f in forced {
        walk(&mut l, req, chain.forced_candidates(f), false, true);
    }
    // A header named in many files (`<bits/c++config.h>` in most of
    // libstdc++) is walked once per distinct candidate list: walking it
    // again would record nothing new (this was most of a C++ miss's cost).
    let mut walked = FxHashSet::default();
    for (n, input) in inputs.iter().enumerate() {
        for lookup in &input.scan.lookups {
            let key = (chain.candidates_key(input.spelled, lookup), n == 0);
            if !walked.insert(key) {
                continue;
            }
            let candidates = chain.candidates(input.spelled, lookup);
            walk(&mut l, req, candidates, lookup.next, n == 0);
        }
    }
    if inputs.iter().any(|i| i.scan.computed_lookup) {
        record_computed(&mut l.set, chain, inputs, &abs);
    }
    l
}

/// Records the candidates of one lookup up to the file it finds (all of
/// them when `exhaustive`).
fn walk(
    l: &mut Lookups,
    req: &Req,
    candidates: impl IntoIterator<Item = Vec<u8>>,
    exhaustive: bool,
    pch_possible: bool,
) {
    for c in candidates {
        let c = if c.first() == Some(&b'/') {
            c
        } else {
            req.abs(&c).into_os_string().into_vec()
        };
        // A precompiled header `x.h.gch` (or clang's `x.h.pch`) replaces
        // `x.h` for -include files and for includes of the source file
        // itself.
        if pch_possible {
            for ext in [&b".gch"[..], b".pch"] {
                let p = [&c[..], ext].concat();
                match l.set.observe(&p) {
                    Some(Expect::File) => l.pch_files.push(p),
                    Some(Expect::Dir) => l.pch_dir = true,
                    _ => {}
                }
            }
        }
        // `#include_next` continues after the includer's directory, which
        // we do not track: record every candidate instead.
        if l.set.observe(&c) == Some(Expect::File) && !exhaustive {
            break;
        }
    }
}

/// `#include MACRO`: the name is unknown, but the file it found is among
/// the inputs. For every input under a search directory, record its
/// relative name in every directory a lookup could have tried.
fn record_computed(
    set: &mut ProbeSet,
    chain: &SearchChain,
    inputs: &[ScannedInput<'_>],
    abs: &dyn Fn(&[u8]) -> Vec<u8>,
) {
    let mut dirs: Vec<&[u8]> = chain
        .quote
        .iter()
        .chain(chain.angle.iter())
        .map(Vec::as_slice)
        .collect();
    dirs.extend(inputs.iter().map(|i| parent(i.spelled)));
    dirs.sort_unstable();
    dirs.dedup();
    for input in inputs {
        for d in &dirs {
            let rel = if d.is_empty() {
                (input.spelled.first() != Some(&b'/')).then_some(input.spelled)
            } else {
                input
                    .spelled
                    .strip_prefix(*d)
                    .and_then(|r| r.strip_prefix(b"/"))
            };
            let Some(rel) = rel else { continue };
            for e in &dirs {
                set.observe(&abs(&join(e, rel)));
            }
        }
    }
}
