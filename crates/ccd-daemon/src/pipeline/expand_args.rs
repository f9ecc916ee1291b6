//! Phase: expand `@file` response files (nested too) before anything else,
//! so that the cache key sees the arguments the compiler will see. The
//! expansion is cached by the files' contents, and the files take part in
//! the fast paths' seals: an edited response file can never reuse a stale
//! hit. The compiler itself still gets the user's original arguments.

use std::path::PathBuf;
use std::sync::Arc;

use ccd_filestate::Digest;

use super::request::Req;
use crate::daemon::Daemon;
use crate::lock::lock;

/// Nesting deeper than this is treated as a loop.
const MAX_DEPTH: usize = 16;

pub struct Expanded {
    pub args: Vec<Vec<u8>>,
    /// Every response file read, for sealing.
    pub files: Vec<PathBuf>,
}

/// Expands the request's arguments. `None` if a response file cannot be
/// read (the compiler then gets it as a plain argument and reports it).
pub fn expand(d: &Daemon, req: &Req) -> Option<Expanded> {
    let mut out = Expanded {
        args: Vec::with_capacity(req.args.len()),
        files: Vec::new(),
    };
    if !req.args.iter().any(|a| a.first() == Some(&b'@')) {
        out.args = req.args.clone();
        return Some(out);
    }
    expand_into(d, req, &req.args, 0, &mut out)?;
    Some(out)
}

fn expand_into(
    d: &Daemon,
    req: &Req,
    args: &[Vec<u8>],
    depth: usize,
    out: &mut Expanded,
) -> Option<()> {
    for a in args {
        match a.strip_prefix(b"@") {
            Some(name) if !name.is_empty() => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let path = req.abs(name);
                let parsed = parse_cached(d, &path)?;
                out.files.push(path);
                expand_into(d, req, &parsed, depth + 1, out)?;
            }
            _ => out.args.push(a.clone()),
        }
    }
    Some(())
}

fn parse_cached(d: &Daemon, path: &std::path::Path) -> Option<Arc<Vec<Vec<u8>>>> {
    let digest: Digest = d.files.digest(path).ok()?.digest;
    if let Some(v) = lock(&d.memo.response_files).get(&digest) {
        return Some(Arc::clone(v));
    }
    let (bytes, h) = d.files.read(path).ok()?;
    let v = Arc::new(ccd_cc::response_file::split(&bytes));
    lock(&d.memo.response_files).insert(h.digest, Arc::clone(&v));
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
        let e = expand(&d, &r).unwrap();
        assert_eq!(e.args, [&b"-DA"[..], b"-DB=x y", b"-c", b"a.c"]);
        assert_eq!(e.files, [w.join("outer.rsp"), w.join("inner.rsp")]);

        // An edit is seen (the expansion is remembered by content).
        fs::write(w.join("inner.rsp"), "-DC").unwrap();
        let e = expand(&d, &r).unwrap();
        assert_eq!(e.args, [&b"-DA"[..], b"-DC", b"-c", b"a.c"]);

        // A loop and a missing file: the compiler gets them as they are.
        fs::write(w.join("loop.rsp"), "@loop.rsp").unwrap();
        assert!(expand(&d, &req(w, "/usr/bin/gcc", &["@loop.rsp"], &[])).is_none());
        assert!(expand(&d, &req(w, "/usr/bin/gcc", &["@gone.rsp"], &[])).is_none());
    }
}
