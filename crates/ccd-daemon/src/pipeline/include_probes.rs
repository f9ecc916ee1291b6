//! Recording how every header lookup of a compile resolved, so a later hit
//! can tell that a new file would now be found first.

use std::os::unix::ffi::OsStrExt;

use ccd_cc::scan::ScanResult;
use ccd_cc::search_path::{SearchChain, join, parent};
use ccd_depgraph::{Expect, ProbeSet};

use super::request::Req;

/// One input as the compiler named it, with its scan.
pub struct ScannedInput<'a> {
    pub spelled: &'a [u8],
    pub scan: &'a ScanResult,
}

pub fn record(
    req: &Req,
    chain: &SearchChain,
    forced: &[Vec<u8>],
    inputs: &[ScannedInput<'_>],
) -> ProbeSet {
    let mut set = ProbeSet::new();
    let abs = |p: &[u8]| req.abs(p).as_os_str().as_bytes().to_vec();
    let walk = |set: &mut ProbeSet, candidates: Vec<Vec<u8>>, exhaustive: bool| {
        for c in candidates {
            // `#include_next` continues after the includer's directory,
            // which we do not track: record every candidate instead.
            if set.observe(&abs(&c)) == Some(Expect::File) && !exhaustive {
                break;
            }
        }
    };
    for f in forced {
        walk(&mut set, chain.forced_candidates(f), false);
    }
    for input in inputs {
        for lookup in &input.scan.lookups {
            walk(
                &mut set,
                chain.candidates(input.spelled, lookup),
                lookup.next,
            );
        }
    }
    if inputs.iter().any(|i| i.scan.computed_lookup) {
        record_computed(&mut set, chain, inputs, &abs);
    }
    set
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
