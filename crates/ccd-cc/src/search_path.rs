//! The preprocessor's include search chain, and the paths a lookup may
//! resolve to.
//!
//! A cached result is only valid while every lookup of the compile would
//! still find the same file. When a file appears earlier in the chain than
//! the one recorded (a new header in an earlier `-I` directory), the compile
//! must run again. The daemon records, for every lookup, the candidates that
//! did not exist; this module lists those candidates in search order.

use crate::invocation::SearchOptions;
use crate::language::Language;
use crate::scan::Lookup;

/// The full search order for one compile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchChain {
    /// `-iquote` directories (searched for `"..."` only, after the
    /// including file's directory).
    pub quote: Vec<Vec<u8>>,
    /// `-I`, `CPATH`, `-isystem`, `*_INCLUDE_PATH`, the compiler's own
    /// directories, then `-idirafter`.
    pub angle: Vec<Vec<u8>>,
}

/// Environment variables that add include directories, by language.
pub fn env_dir_variables(lang: Language) -> (&'static str, &'static str) {
    let lang_var = match lang {
        Language::Cxx | Language::CxxPreprocessed | Language::CxxHeader => "CPLUS_INCLUDE_PATH",
        Language::ObjC => "OBJC_INCLUDE_PATH",
        Language::ObjCxx => "OBJCPLUS_INCLUDE_PATH",
        _ => "C_INCLUDE_PATH",
    };
    ("CPATH", lang_var)
}

impl SearchChain {
    /// Builds the chain. `cpath` and `lang_path` are the values of `CPATH`
    /// and the language's `*_INCLUDE_PATH`; `system` is the compiler's list.
    pub fn new(
        opts: &SearchOptions,
        cpath: Option<&[u8]>,
        lang_path: Option<&[u8]>,
        system: &[Vec<u8>],
    ) -> SearchChain {
        let split = |v: Option<&[u8]>| -> Vec<Vec<u8>> {
            v.map(|v| {
                v.split(|b| *b == b':')
                    .map(|d| {
                        if d.is_empty() {
                            b".".to_vec()
                        } else {
                            d.to_vec()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let mut angle = opts.angle.clone();
        angle.extend(split(cpath));
        angle.extend(opts.system.iter().cloned());
        angle.extend(split(lang_path));
        angle.extend(system.iter().cloned());
        angle.extend(opts.after.iter().cloned());
        SearchChain {
            quote: opts.quote.clone(),
            angle,
        }
    }

    /// Candidate paths for `lookup` made from the file `includer`, in the
    /// order the preprocessor tries them.
    pub fn candidates<'a>(
        &'a self,
        includer: &'a [u8],
        lookup: &'a Lookup,
    ) -> impl Iterator<Item = Vec<u8>> + 'a {
        // Made one at a time: a lookup usually stops at its first or
        // second candidate.
        let absolute = lookup.name.first() == Some(&b'/');
        let own = (!absolute && lookup.quoted && !lookup.next).then(|| parent(includer));
        let quote: &[Vec<u8>] = if !absolute && (lookup.quoted || lookup.next) {
            &self.quote
        } else {
            &[]
        };
        let angle: &[Vec<u8>] = if absolute { &[] } else { &self.angle };
        let dirs = own
            .into_iter()
            .chain(quote.iter().chain(angle).map(Vec::as_slice));
        absolute
            .then(|| lookup.name.clone())
            .into_iter()
            .chain(dirs.map(|d| join(d, &lookup.name)))
    }

    /// What decides the candidates of `lookup` from `includer` (and
    /// whether the lookup stops at the first file found): equal keys, equal
    /// walks.
    pub fn candidates_key<'a>(&self, includer: &'a [u8], lookup: &'a Lookup) -> CandidatesKey<'a> {
        let absolute = lookup.name.first() == Some(&b'/');
        CandidatesKey {
            own: (!absolute && lookup.quoted && !lookup.next).then(|| parent(includer)),
            quote: !absolute && (lookup.quoted || lookup.next),
            next: lookup.next,
            name: &lookup.name,
        }
    }

    /// Candidates for a `-include`/`-imacros` file: the working directory
    /// first, then the `"..."` chain.
    pub fn forced_candidates(&self, name: &[u8]) -> Vec<Vec<u8>> {
        if name.first() == Some(&b'/') {
            return vec![name.to_vec()];
        }
        let mut v = vec![name.to_vec()];
        v.extend(
            self.quote
                .iter()
                .chain(self.angle.iter())
                .map(|d| join(d, name)),
        );
        v
    }
}

/// See [`SearchChain::candidates_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CandidatesKey<'a> {
    own: Option<&'a [u8]>,
    quote: bool,
    next: bool,
    name: &'a [u8],
}

/// The directory part of `path` as the preprocessor spells it ("" for a
/// bare file name, meaning the working directory).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|b| *b == b'/') {
        Some(0) => b"/",
        Some(i) => &path[..i],
        None => b"",
    }
}

/// `dir/name`, or `name` for the working directory.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(quoted: bool, name: &str) -> Lookup {
        Lookup {
            quoted,
            next: false,
            name: name.into(),
        }
    }

    #[test]
    fn chain_order() {
        let opts = SearchOptions {
            quote: vec![b"q".to_vec()],
            angle: vec![b"i1".to_vec(), b"i2".to_vec()],
            system: vec![b"s".to_vec()],
            after: vec![b"late".to_vec()],
            ..Default::default()
        };
        let chain = SearchChain::new(
            &opts,
            Some(b"cp1::cp2"),
            Some(b"lp"),
            &[b"/usr/include".to_vec()],
        );
        let s = |v: &mut dyn Iterator<Item = Vec<u8>>| {
            v.map(|p| String::from_utf8(p).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(
            s(&mut chain.candidates(b"src/a.c", &lookup(true, "x.h"))),
            [
                "src/x.h",
                "q/x.h",
                "i1/x.h",
                "i2/x.h",
                "cp1/x.h",
                "./x.h",
                "cp2/x.h",
                "s/x.h",
                "lp/x.h",
                "/usr/include/x.h",
                "late/x.h"
            ]
        );
        assert_eq!(
            s(&mut chain.candidates(b"a.c", &lookup(false, "sys/y.h")))[0],
            "i1/sys/y.h"
        );
        assert_eq!(
            s(&mut chain.candidates(b"a.c", &lookup(true, "y.h")))[0],
            "y.h"
        );
        assert_eq!(
            s(&mut chain.candidates(b"/abs/a.c", &lookup(true, "/abs/y.h"))),
            ["/abs/y.h"]
        );
        assert_eq!(
            s(&mut chain.forced_candidates(b"pre.h").into_iter())[..2],
            ["pre.h", "q/pre.h"]
        );
    }

    proptest::proptest! {
        /// Lookups with equal keys have equal candidates (and stop alike),
        /// so the daemon may walk each key once.
        #[test]
        fn equal_keys_give_equal_candidates(
            a in (0usize..5, proptest::bool::ANY, proptest::bool::ANY, 0usize..4),
            b in (0usize..5, proptest::bool::ANY, proptest::bool::ANY, 0usize..4),
        ) {
            let includers: [&[u8]; 5] = [b"a.c", b"src/a.c", b"src/b.h", b"/abs/c.h", b"/usr/include/d.h"];
            let names = ["x.h", "sys/x.h", "/abs/x.h", "src/x.h"];
            let chain = SearchChain::new(
                &SearchOptions {
                    quote: vec![b"q".to_vec()],
                    angle: vec![b"i1".to_vec()],
                    ..Default::default()
                },
                None,
                None,
                &[b"/usr/include".to_vec()],
            );
            let make = |(inc, quoted, next, name): (usize, bool, bool, usize)| {
                (includers[inc], Lookup { quoted, next, name: names[name].into() })
            };
            let (ia, la) = make(a);
            let (ib, lb) = make(b);
            if chain.candidates_key(ia, &la) == chain.candidates_key(ib, &lb) {
                proptest::prop_assert_eq!(
                    chain.candidates(ia, &la).collect::<Vec<_>>(),
                    chain.candidates(ib, &lb).collect::<Vec<_>>()
                );
                proptest::prop_assert_eq!(la.next, lb.next);
            }
        }
    }
}
