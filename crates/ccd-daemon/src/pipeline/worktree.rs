//! Phase: worktree root and effective arguments.
//!
//! With `CCD_PATH_REMAP=auto`, two checkouts of one repository share cache
//! entries: ccd finds the checkout root (the nearest directory with a `.git`
//! file or directory above the working directory, or `CCD_WORKTREE_ROOT`),
//! adds `-ffile-prefix-map=<root>=.` so the outputs name no absolute path
//! of either checkout, and keys every path under the root relative to it.
//! Content is still keyed in full, so different files never share.
//!
//! Sharing is refused (and the session log says why) when no root is found,
//! the working directory is outside it, or the root appears in an argument
//! that is not a path (a `-D` value would end up in the object).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::request::Req;

/// Marks a path stored relative to the checkout root: a NUL byte cannot
/// occur in a real path.
pub const ROOT_MARK: u8 = 0;

/// Options whose value is a path (joined or as the next argument).
const PATH_OPTIONS: &[&str] = &[
    "-I",
    "-isystem",
    "-iquote",
    "-idirafter",
    "-include",
    "-imacros",
    "--sysroot",
    "-isysroot",
    "-L",
    "-o",
    "-MF",
];

/// Options of the form `-f...-prefix-map=OLD=NEW`.
const PREFIX_MAPS: &[&str] = &[
    "-ffile-prefix-map=",
    "-fdebug-prefix-map=",
    "-fmacro-prefix-map=",
    "-fprofile-prefix-map=",
    "-fcoverage-prefix-map=",
];

#[derive(Debug, Clone)]
pub enum Remap {
    Off,
    /// Requested, but this compile cannot be shared; the reason is logged.
    Unshared(String),
    Active(Root),
}

#[derive(Debug, Clone)]
pub struct Root {
    pub root: PathBuf,
    /// The prefix map ccd adds, unless the build already maps the root.
    pub inject: Option<Vec<u8>>,
}

impl Remap {
    /// How the session log describes it.
    pub fn describe(&self) -> String {
        match self {
            Remap::Off => "off".into(),
            Remap::Unshared(why) => format!("auto, not shared: {why}"),
            Remap::Active(r) => format!("auto, root {}", r.root.display()),
        }
    }

    /// The root, when paths are remapped.
    pub fn active(&self) -> Option<&Root> {
        match self {
            Remap::Active(r) => Some(r),
            _ => None,
        }
    }
}

/// How a family spells its prefix map, and which of its arguments are
/// paths.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `-ffile-prefix-map=OLD=NEW` (gcc, clang).
    Gnu,
    /// `--remap-path-prefix=OLD=NEW`.
    Rustc,
}

/// Decides remapping for a request whose response files are expanded.
pub fn resolve(req: &mut Req, dialect: Dialect) -> Remap {
    match req.env("CCD_PATH_REMAP") {
        Some(b"auto") | Some(b"1") | Some(b"on") => {}
        _ => return Remap::Off,
    }
    let root = match req.env("CCD_WORKTREE_ROOT") {
        Some(r) if r.first() == Some(&b'/') => Some(PathBuf::from(OsStr::from_bytes(r))),
        _ => {
            let (root, looked) = find_git_root(&req.cwd);
            req.root_lookups = looked;
            root
        }
    };
    let Some(root) = root else {
        return Remap::Unshared("no checkout root (.git) above the working directory".into());
    };
    if !req.cwd.starts_with(&root) {
        return Remap::Unshared(format!("working directory outside {}", root.display()));
    }
    let root_bytes = root.as_os_str().as_bytes();
    let mut mapped = false;
    let mut prev: &[u8] = b"";
    for a in &req.args {
        let a = a.as_slice();
        let map = match dialect {
            Dialect::Gnu => PREFIX_MAPS
                .iter()
                .find_map(|p| a.strip_prefix(p.as_bytes())),
            Dialect::Rustc => a
                .strip_prefix(b"--remap-path-prefix=")
                .or_else(|| (prev == b"--remap-path-prefix").then_some(a)),
        };
        if let Some(map) = map {
            let old = map.split(|b| *b == b'=').next().unwrap_or_default();
            if old == root_bytes {
                mapped = true;
            }
        } else if contains_root(a, root_bytes) {
            let is_path = match dialect {
                Dialect::Gnu => is_path_arg(prev, a),
                Dialect::Rustc => is_rustc_path_arg(prev, a),
            };
            if !is_path {
                return Remap::Unshared(format!(
                    "the checkout path appears in {}",
                    String::from_utf8_lossy(a)
                ));
            }
        }
        prev = a;
    }
    let inject = (!mapped).then(|| match dialect {
        Dialect::Gnu => [&b"-ffile-prefix-map="[..], root_bytes, b"=."].concat(),
        Dialect::Rustc => [&b"--remap-path-prefix="[..], root_bytes, b"=."].concat(),
    });
    Remap::Active(Root { root, inject })
}

/// rustc options whose value is a path (`-L dependency=DIR`,
/// `--extern name=PATH` included).
const RUSTC_PATH_OPTIONS: &[&str] = &["--out-dir", "-L", "--extern", "-o", "--sysroot", "--emit"];

fn is_rustc_path_arg(prev: &[u8], arg: &[u8]) -> bool {
    let is = |a: &[u8]| RUSTC_PATH_OPTIONS.iter().any(|o| a == o.as_bytes());
    if arg.first() != Some(&b'-') {
        // An option's value, or the source file.
        return is(prev) || !prev.starts_with(b"-") || prev.is_empty() || !is_rustc_valued(prev);
    }
    RUSTC_PATH_OPTIONS.iter().any(|o| {
        arg.strip_prefix(o.as_bytes())
            .is_some_and(|v| v.first() == Some(&b'=') || (o.len() == 2 && !v.is_empty()))
    })
}

/// rustc options that take the next argument as their value.
fn is_rustc_valued(opt: &[u8]) -> bool {
    matches!(
        opt,
        b"--cfg"
            | b"--check-cfg"
            | b"--crate-type"
            | b"--crate-name"
            | b"--edition"
            | b"--print"
            | b"--target"
            | b"--cap-lints"
            | b"-C"
            | b"--codegen"
            | b"--error-format"
            | b"--json"
            | b"--color"
            | b"-A"
            | b"-W"
            | b"-D"
            | b"-F"
            | b"-l"
            | b"--crate-attr"
    )
}

/// The nearest directory with a `.git` at or above `cwd`, and every
/// directory looked in on the way (the root last).
pub fn find_git_root(cwd: &Path) -> (Option<PathBuf>, Vec<PathBuf>) {
    let mut looked = Vec::new();
    for d in cwd.ancestors() {
        looked.push(d.to_path_buf());
        if d.join(".git").exists() {
            return (Some(d.to_path_buf()), looked);
        }
    }
    (None, looked)
}

fn contains_root(arg: &[u8], root: &[u8]) -> bool {
    !root.is_empty() && memchr::memmem::find(arg, root).is_some()
}

/// Options whose value never reaches the outputs' contents (targets and
/// output places); the root may appear in them.
const UNKEYED_OPTIONS: &[&str] = &["-MT", "-MQ"];

/// Options that take the next argument as a value that is not a path.
const VALUE_OPTIONS: &[&str] = &[
    "-D",
    "-U",
    "-Xclang",
    "-Xpreprocessor",
    "-Xassembler",
    "-Xlinker",
    "-mllvm",
    "-x",
    "-target",
    "-arch",
    "-A",
    "--param",
    "-u",
    "-z",
    "-T",
    "-e",
    "-l",
];

/// Whether `arg` (preceded by `prev`) is a path (or a place ccd does not
/// key): an input file, a path option's value, or a path option with its
/// value joined.
fn is_path_arg(prev: &[u8], arg: &[u8]) -> bool {
    let is = |list: &[&str], a: &[u8]| list.iter().any(|o| a == o.as_bytes());
    if arg.first() != Some(&b'-') {
        // The value of the previous option, or an input file.
        return is(PATH_OPTIONS, prev) || is(UNKEYED_OPTIONS, prev) || !is(VALUE_OPTIONS, prev);
    }
    PATH_OPTIONS.iter().chain(UNKEYED_OPTIONS).any(|o| {
        arg.strip_prefix(o.as_bytes())
            .is_some_and(|v| v.first() == Some(&b'/') || v.first() == Some(&b'='))
    })
}

/// Inputs with their paths as stored: relative to the root where under it.
pub fn keyed_inputs(
    root: Option<&Root>,
    inputs: &[ccd_depgraph::Input],
) -> Vec<ccd_depgraph::Input> {
    inputs
        .iter()
        .map(|i| ccd_depgraph::Input {
            path: root.map_or_else(|| i.path.clone(), |r| r.to_key(&i.path)),
            digest: i.digest,
        })
        .collect()
}

impl Root {
    /// `path` relative to the root, marked, when it lies under the root.
    pub fn to_key(&self, path: &[u8]) -> Vec<u8> {
        let root = self.root.as_os_str().as_bytes();
        match path.strip_prefix(root) {
            Some(rest) if rest.is_empty() || rest.first() == Some(&b'/') => {
                let mut v = vec![ROOT_MARK];
                v.extend_from_slice(rest.strip_prefix(b"/").unwrap_or(rest));
                v
            }
            _ => path.to_vec(),
        }
    }

    /// Every occurrence of the root *as a path* in an argument replaced by
    /// the mark: where a path can start (the argument's start, after `=`,
    /// `:` or `,`, or after an option name such as `-I`) and followed by
    /// `/`, `=`, `:` or the end. `/x/proj` in `/x/proj-deps` or `/y/x/proj`
    /// is another path and stays.
    pub fn arg_to_key(&self, arg: &[u8]) -> Vec<u8> {
        let root = self.root.as_os_str().as_bytes();
        let mut out = Vec::with_capacity(arg.len());
        let mut i = 0;
        while i < arg.len() {
            if arg[i..].starts_with(root)
                && path_starts_at(arg, i)
                && path_ends_at(arg, i + root.len())
            {
                out.push(ROOT_MARK);
                i += root.len();
            } else {
                out.push(arg[i]);
                i += 1;
            }
        }
        out
    }
}

fn path_starts_at(arg: &[u8], i: usize) -> bool {
    i == 0
        || matches!(arg[i - 1], b'=' | b':' | b',' | b' ' | b'"' | b'\n')
        || (arg[0] == b'-' && !arg[..i].contains(&b'/'))
}

fn path_ends_at(arg: &[u8], end: usize) -> bool {
    matches!(
        arg.get(end),
        None | Some(b'/' | b'=' | b':' | b' ' | b'"' | b'\n' | b',')
    )
}

/// A stored byte string with every mark replaced by `root` (for verbatim
/// dependency files).
pub fn bytes_from_key(root: Option<&Path>, bytes: &[u8]) -> Vec<u8> {
    let Some(root) = root else {
        return bytes.to_vec();
    };
    let root = root.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == ROOT_MARK {
            out.extend_from_slice(root);
        } else {
            out.push(b);
        }
    }
    out
}

/// A stored entry with its paths resolved under `root`; without a root it
/// is returned as it is (mapping would copy every recorded lookup).
pub fn entry_from_key(
    root: Option<&Path>,
    entry: ccd_depgraph::ManifestEntry,
) -> ccd_depgraph::ManifestEntry {
    match root {
        Some(r) => entry.map_paths(&|p| from_key(Some(r), p)),
        None => entry,
    }
}

/// A stored path back to an absolute one for the checkout at `root`.
pub fn from_key(root: Option<&Path>, path: &[u8]) -> Vec<u8> {
    match (path.first(), root) {
        (Some(&ROOT_MARK), Some(root)) => {
            let mut v = root.as_os_str().as_bytes().to_vec();
            if path.len() > 1 {
                v.push(b'/');
                v.extend_from_slice(&path[1..]);
            }
            v
        }
        _ => path.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Root {
        Root {
            root: PathBuf::from("/work/clone1"),
            inject: None,
        }
    }

    #[test]
    fn paths_round_trip_through_keys() {
        let r = root();
        assert_eq!(r.to_key(b"/work/clone1/src/a.h"), b"\0src/a.h");
        assert_eq!(r.to_key(b"/work/clone10/a.h"), b"/work/clone10/a.h");
        assert_eq!(r.to_key(b"/usr/include/stdio.h"), b"/usr/include/stdio.h");
        assert_eq!(
            from_key(Some(Path::new("/w/c2")), b"\0src/a.h"),
            b"/w/c2/src/a.h"
        );
        assert_eq!(from_key(Some(Path::new("/w/c2")), b"\0"), b"/w/c2");
        assert_eq!(r.arg_to_key(b"-I/work/clone1/inc"), b"-I\0/inc");
        assert_eq!(
            r.arg_to_key(b"-I/work/clone1-deps/inc"),
            b"-I/work/clone1-deps/inc"
        );
        assert_eq!(
            r.arg_to_key(b"-I/y/work/clone1/inc"),
            b"-I/y/work/clone1/inc"
        );
        assert_eq!(
            r.arg_to_key(b"-ffile-prefix-map=/work/clone1=."),
            b"-ffile-prefix-map=\0=."
        );
        assert_eq!(r.arg_to_key(b"/a:/work/clone1/inc"), b"/a:\0/inc");
    }

    #[test]
    fn path_arguments() {
        assert!(is_path_arg(b"-I", b"/work/clone1/inc"));
        assert!(is_path_arg(b"", b"-I/work/clone1/inc"));
        assert!(is_path_arg(b"", b"--sysroot=/work/clone1/sr"));
        assert!(!is_path_arg(b"", br#"-DDIR="/work/clone1""#));
        assert!(!is_path_arg(b"-D", b"DIR=/work/clone1"));
        assert!(is_path_arg(b"-c", b"/work/clone1/a.c"));
    }
}
