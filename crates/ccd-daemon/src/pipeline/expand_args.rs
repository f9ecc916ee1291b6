//! Phase: expand `@file` arguments before anything else, as the compiler
//! will (its frontend says how: GNU response files are nested and read
//! the way gcc or clang reads them, rustc's argument files have one
//! argument per line), so that the cache key sees the arguments the
//! compiler will see. The expansion is cached by the files' contents, and
//! the files take part in the fast paths' seals: an edited response file
//! can never reuse a stale hit. The compiler itself still gets the user's
//! original arguments.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccd_cc::response_file::Reader;
use ccd_filestate::Digest;

use super::context::KeyHasher;
use super::request::Req;
use crate::daemon::Daemon;
use crate::lock::lock;

/// Nesting deeper than this is treated as a loop.
const MAX_DEPTH: usize = 16;

/// How a compiler reads `@file` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Response files that may name further ones, read by gcc's or
    /// clang's rules.
    Gnu(Reader),
    /// rustc: one argument per line of a UTF-8 file, not nested.
    Lines,
}

impl Syntax {
    fn tag(self) -> &'static [u8] {
        match self {
            Syntax::Gnu(Reader::Gcc) => b"gcc",
            Syntax::Gnu(Reader::Clang) => b"clang",
            Syntax::Lines => b"lines",
        }
    }
}

pub struct Expanded {
    pub args: Vec<Vec<u8>>,
    /// Every response file read, for sealing.
    pub files: Vec<PathBuf>,
}

/// Expands the request's arguments. `None` if a response file cannot be
/// read (the compiler then gets it as a plain argument and reports it).
pub fn expand(d: &Daemon, req: &Req, syntax: Syntax) -> Option<Expanded> {
    let mut out = Expanded {
        args: Vec::with_capacity(req.args.len()),
        files: Vec::new(),
    };
    if !req.args.iter().any(|a| a.first() == Some(&b'@')) {
        out.args = req.args.clone();
        return Some(out);
    }
    expand_into(d, req, syntax, &req.args, 0, &mut out)?;
    Some(out)
}

fn expand_into(
    d: &Daemon,
    req: &Req,
    syntax: Syntax,
    args: &[Vec<u8>],
    depth: usize,
    out: &mut Expanded,
) -> Option<()> {
    // rustc expands one level: a line that starts with `@` is an argument.
    let nested = depth > 0 && syntax == Syntax::Lines;
    for a in args {
        match a.strip_prefix(b"@") {
            Some(name) if !name.is_empty() && !nested => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let path = req.abs(name);
                let parsed = parse_cached(d, &path, syntax)?;
                out.files.push(path);
                expand_into(d, req, syntax, &parsed, depth + 1, out)?;
            }
            _ => out.args.push(a.clone()),
        }
    }
    Some(())
}

fn parse_cached(d: &Daemon, path: &Path, syntax: Syntax) -> Option<Arc<Vec<Vec<u8>>>> {
    let content = d.files.digest(path).ok()?.digest;
    // One file reads differently for gcc, clang and rustc.
    let key = |content: &Digest| {
        KeyHasher::new("ccd-argfile-v1")
            .field(&content.0)
            .field(syntax.tag())
            .finish()
    };
    if let Some(v) = lock(&d.memo.response_files).get(&key(&content)) {
        return Some(Arc::clone(v));
    }
    let (bytes, h) = d.files.read(path).ok()?;
    let args = match syntax {
        Syntax::Gnu(reader) => ccd_cc::response_file::split(&bytes, reader),
        Syntax::Lines => ccd_rustc::argfile::split(&bytes)?,
    };
    let v = Arc::new(args);
    lock(&d.memo.response_files).insert(key(&h.digest), Arc::clone(&v));
    Some(v)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::test_support::req;
    use super::*;
    use crate::daemon::for_tests;

    #[test]
    fn response_files_expand_nested_and_by_their_content() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let w = t.path();
        fs::write(w.join("outer.rsp"), "-DA @inner.rsp -c").unwrap();
        fs::write(w.join("inner.rsp"), "'-DB=x y'").unwrap();
        let r = req(w, "/usr/bin/gcc", &["@outer.rsp", "a.c"], &[]);
        let gcc = Syntax::Gnu(Reader::Gcc);
        let e = expand(&d, &r, gcc).unwrap();
        assert_eq!(e.args, [&b"-DA"[..], b"-DB=x y", b"-c", b"a.c"]);
        assert_eq!(e.files, [w.join("outer.rsp"), w.join("inner.rsp")]);

        // An edit is seen (the expansion is remembered by content).
        fs::write(w.join("inner.rsp"), "-DC").unwrap();
        let e = expand(&d, &r, gcc).unwrap();
        assert_eq!(e.args, [&b"-DA"[..], b"-DC", b"-c", b"a.c"]);

        // A loop and a missing file: the compiler gets them as they are.
        fs::write(w.join("loop.rsp"), "@loop.rsp").unwrap();
        assert!(expand(&d, &req(w, "/usr/bin/gcc", &["@loop.rsp"], &[]), gcc).is_none());
        assert!(expand(&d, &req(w, "/usr/bin/gcc", &["@gone.rsp"], &[]), gcc).is_none());
    }

    /// One file, read by each compiler's rules: clang keeps a vertical tab
    /// inside an argument, rustc takes each line whole and nests nothing.
    #[test]
    fn each_compiler_reads_its_own_way() {
        let t = tempfile::tempdir().unwrap();
        let d = for_tests(t.path(), false);
        let w = t.path();
        fs::write(w.join("args"), "-DX=1\x0b-DY @more\n-c\n").unwrap();
        fs::write(w.join("more"), "-DZ").unwrap();
        let r = req(w, "/usr/bin/cc", &["@args"], &[]);
        let args = |syntax| expand(&d, &r, syntax).unwrap().args;
        assert_eq!(
            args(Syntax::Gnu(Reader::Gcc)),
            [&b"-DX=1"[..], b"-DY", b"-DZ", b"-c"]
        );
        assert_eq!(
            args(Syntax::Gnu(Reader::Clang)),
            [&b"-DX=1\x0b-DY"[..], b"-DZ", b"-c"]
        );
        assert_eq!(args(Syntax::Lines), [&b"-DX=1\x0b-DY @more"[..], b"-c"]);
        fs::write(w.join("lines"), "@more\n").unwrap();
        let r = req(w, "/usr/bin/rustc", &["@lines"], &[]);
        assert_eq!(expand(&d, &r, Syntax::Lines).unwrap().args, [b"@more"]);
    }
}
