//! Phase: classify the invocation (each frontend reads its own family's
//! command lines): cacheable, several sources to split, or passed through
//! with a reason.

use super::request::Req;
use crate::outcome::PassReason;

pub enum Classified<I> {
    Compile(I),
    /// Several sources (`gcc -c a.c b.c`): one argument list per source,
    /// and the sources.
    Split {
        jobs: Vec<Vec<Vec<u8>>>,
        sources: Vec<Vec<u8>>,
    },
    Pass(PassReason),
}

/// Whether the client may split a compile of several sources: not when one
/// is missing. Compilers differ then (gcc compiles the others, clang
/// none), so the compiler itself handles that case.
pub fn may_split(req: &Req, sources: &[Vec<u8>]) -> bool {
    sources
        .iter()
        .all(|s| std::fs::metadata(req.abs(s)).is_ok())
}
