//! Differential filesystem fuzzer: random sequences of filesystem changes to
//! a small C/C++ project, and after every step one compile through ccd and
//! the same compile by the bare compiler, from the same state of the
//! outputs. Exit code, stdout, stderr, the object and the dependency file
//! must be identical every step.
//!
//! The project: `src/main.c` and `src/main.cc` include headers (nested;
//! `"..."`, `<...>`, `#include_next` behind `__has_include_next`) found
//! through `-iquote c -I a -I b -isystem sys`, so a header in an earlier
//! directory shadows a later one; `ext/` is outside the search path
//! (symlink targets, hard links, staging for directory renames) and objects
//! go to `out/`. Every header version defines a variable of its own
//! (`int v_<id> = <value>;`), so an object built from another version is
//! another object. The compile alternates gcc, g++, clang and clang++, with
//! and without `-MD`/`-MMD`, to `out/t.o` or `out/u.o`.
//!
//! The operations: in-place and by-rename rewrites, same-size edits with
//! the old mtime put back, two writes within a clock tick, `rm -rf` and
//! recreate (same or new content, also the whole work directory), a
//! directory replaced by renaming another over it, renames and swaps of
//! files and trees, file and directory symlinks (made, retargeted, left
//! dangling), hard links written through their other name, shadowing
//! headers, deletions (the compile then fails: the failure must match too),
//! a new project, the build directory wiped, and after a failed compile
//! mostly a repair (what a person does next); with sleeps of 0, 1, 5 or
//! 12 ms before and after each, around the kernel's coarse clock tick.
//!
//! By default the two tests (run in parallel) take three seeds of 200
//! steps each: 1200 steps, about a minute on an idle two-core machine (20
//! steps/s), per watcher mode (the suite runs it with the watcher on and
//! with `CCD_TEST_WATCH=0`). A failure panics with the seed, the step,
//! every step done so far and the command that replays it:
//!
//! ```sh
//! CCD_FUZZ_SEED=<seed> CCD_FUZZ_STEPS=<n> cargo test -p ccd --test integration fs_fuzz::<test> -- --nocapture
//! ```
//!
//! Timing matters (what the daemon stores depends on it), so a replay may
//! need a few runs. Also: `CCD_FUZZ_SHRINK=1` replays shorter step lists
//! (a fresh daemon each, for up to 10 minutes) and prints the shortest that
//! still fails; `CCD_FUZZ_KEEP_GOING=1` reports every differing step instead
//! of stopping at the first; `CCD_FUZZ_TRACE=1` prints each step as it
//! runs, with the compiler's exit code and first error. Search directories
//! that became symbolic link loops stay (gcc fails on them), and each
//! operation runs at once, while the daemon may still be storing the last
//! compile: the fuzzer found a wrong hit in each. Soak (steps per seed;
//! `--release` builds ccd optimised):
//!
//! ```sh
//! CCD_FUZZ_STEPS=100000 CCD_FUZZ_SEED=7 cargo test --release -p ccd --test integration fs_fuzz::fuzz_one -- --nocapture
//! CCD_TEST_WATCH=0 CCD_FUZZ_STEPS=100000 CCD_FUZZ_SEED=7 cargo test --release -p ccd --test integration fs_fuzz::fuzz_one -- --nocapture
//! ```

use crate::harness::compare::Difference;
use crate::harness::session::session_start;
use crate::harness::{COMPILERS, Env};

use std::fmt::{self, Write as _};
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Directories a header can be in, in the order a `"..."` include from
/// `src/main.c` searches them.
const HDIRS: [&str; 5] = ["src", "c", "a", "b", "sys"];
const SEARCH: [&str; 8] = ["-iquote", "c", "-I", "a", "-I", "b", "-isystem", "sys"];
const NAMES: [&str; 6] = ["h0.h", "h1.h", "h2.h", "h3.h", "sub/s0.h", "sub/s1.h"];
/// Directories that take part in renames, swaps and directory symlinks.
const DIRS: [&str; 8] = ["c", "a", "b", "sys", "c/sub", "a/sub", "b/sub", "sys/sub"];
/// Outside the search path.
const EXT_NAMES: [&str; 3] = ["ext/x0.h", "ext/x1.h", "ext/x2.h"];
const SLEEPS: [u64; 6] = [0, 0, 0, 1, 5, 12];

/// One version of a header or source.
#[derive(Clone, Debug)]
struct Content {
    id: u32,
    /// Six digits, so that a same-size edit changes only them.
    value: u32,
    incs: Vec<Inc>,
    bad: Bad,
}

#[derive(Clone, Copy, Debug)]
enum Inc {
    Quote(usize),
    Angle(usize),
    Next(usize),
}

/// Compile errors, rare: failed compiles are never stored, so they only
/// check that a failure is not served as a success.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bad {
    No,
    Error,
    Syntax,
    Missing,
}

impl Content {
    fn render(&self, source: bool) -> String {
        let mut s = String::new();
        if !source {
            writeln!(s, "#ifndef G_{0}\n#define G_{0}", self.id).unwrap();
        }
        for inc in &self.incs {
            match *inc {
                Inc::Quote(n) => writeln!(s, "#include \"{}\"", NAMES[n]),
                Inc::Angle(n) => writeln!(s, "#include <{}>", NAMES[n]),
                // Guarded: from the last directory there is no next one.
                Inc::Next(n) => writeln!(
                    s,
                    "#if __has_include_next(\"{0}\")\n#include_next \"{0}\"\n#endif",
                    NAMES[n]
                ),
            }
            .unwrap();
        }
        match self.bad {
            Bad::No => {}
            Bad::Error => writeln!(s, "#error fuzz {}", self.id).unwrap(),
            Bad::Syntax => writeln!(s, "int broken_{} = ;", self.id).unwrap(),
            Bad::Missing => writeln!(s, "#include \"missing_{}.h\"", self.id).unwrap(),
        }
        let var = if source { 'm' } else { 'v' };
        writeln!(s, "int {var}_{} = {};", self.id, self.value).unwrap();
        if !source {
            s.push_str("#endif\n");
        }
        s
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{{#{} ={}", self.id, self.value)?;
        for inc in &self.incs {
            match *inc {
                Inc::Quote(n) => write!(f, " \"{}\"", NAMES[n])?,
                Inc::Angle(n) => write!(f, " <{}>", NAMES[n])?,
                Inc::Next(n) => write!(f, " next\"{}\"", NAMES[n])?,
            }
        }
        match self.bad {
            Bad::No => {}
            Bad::Error => write!(f, " #error")?,
            Bad::Syntax => write!(f, " syntax-error")?,
            Bad::Missing => write!(f, " missing-include")?,
        }
        write!(f, "}}")
    }
}

fn is_source(path: &str) -> bool {
    path.ends_with("main.c") || path.ends_with("main.cc")
}

/// A symlink's target: literal text, or a work-relative path made absolute
/// when applied (the work directory differs between runs).
#[derive(Clone, Debug)]
enum Target {
    Rel(String),
    Abs(String),
}

impl Target {
    fn resolve(&self, work: &Path) -> PathBuf {
        match self {
            Target::Rel(t) => PathBuf::from(t),
            Target::Abs(t) => work.join(t),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Target::Rel(t) => write!(f, "{t}"),
            Target::Abs(t) => write!(f, "$WORK/{t}"),
        }
    }
}

type Files = Vec<(String, Content)>;

/// Operations are plain data, decided when generated, so that a step list
/// replays exactly (the shrinker replays subsets of it).
#[derive(Clone, Debug)]
enum Op {
    /// `rm -rf` the work directory, then a new project.
    Project {
        files: Files,
    },
    Write {
        path: String,
        content: Content,
        by_rename: bool,
    },
    SameSize {
        path: String,
        value: u32,
        keep_mtime: bool,
    },
    /// A write, then a same-size one `gap_ms` later (within one tick).
    Twice {
        path: String,
        content: Content,
        gap_ms: u64,
        value: u32,
    },
    Touch {
        path: String,
    },
    Remove {
        path: String,
    },
    /// `rm -rf dir` and recreate it: its own content (`None`) or new files.
    Recreate {
        dir: String,
        fresh: Option<Files>,
    },
    /// Builds `stage` (a copy of `dir`, or new files), moves `dir` away to
    /// `old` (or removes it) and renames `stage` over it.
    ReplaceDir {
        dir: String,
        stage: String,
        fresh: Option<Files>,
        old: Option<String>,
    },
    /// A directory `to` is removed first (rename cannot replace a
    /// non-empty one).
    Rename {
        from: String,
        to: String,
    },
    Swap {
        a: String,
        b: String,
        tmp: String,
    },
    /// Replaces `path` by a symlink; by renaming one made at `tmp` over it
    /// when given.
    Symlink {
        path: String,
        target: Target,
        tmp: Option<String>,
    },
    /// Moves a directory to `to` and leaves a symlink to it in its place.
    MoveAndLink {
        dir: String,
        to: String,
        target: Target,
    },
    HardLink {
        existing: String,
        link: String,
    },
    /// An in-place write (no create, no rename) through `path`, usually a
    /// hard link's other name.
    WriteThrough {
        path: String,
        content: Content,
    },
    WipeOut {
        recreate: bool,
    },
    /// Fixes a broken build: removes what is in the way of a needed
    /// directory, then writes missing and broken files.
    Repair {
        remove: Vec<String>,
        files: Files,
    },
    Nothing,
}

fn show_files(f: &mut fmt::Formatter, files: &Files) -> fmt::Result {
    for (p, c) in files {
        write!(f, " {p}={c}")?;
    }
    Ok(())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Op::Project { files } => {
                write!(f, "new project:")?;
                show_files(f, files)
            }
            Op::Write {
                path,
                content,
                by_rename,
            } => {
                let how = if *by_rename { "by rename" } else { "in place" };
                write!(f, "write {path} {how} {content}")
            }
            Op::SameSize {
                path,
                value,
                keep_mtime,
            } => {
                let m = if *keep_mtime {
                    ", old mtime put back"
                } else {
                    ""
                };
                write!(f, "same-size edit of {path} to ={value}{m}")
            }
            Op::Twice {
                path,
                content,
                gap_ms,
                value,
            } => write!(
                f,
                "write {path} {content}, {gap_ms} ms later same-size edit to ={value}"
            ),
            Op::Touch { path } => write!(f, "touch {path}"),
            Op::Remove { path } => write!(f, "rm -rf {path}"),
            Op::Recreate { dir, fresh: None } => {
                write!(f, "rm -rf {dir} and recreate it with the same content")
            }
            Op::Recreate {
                dir,
                fresh: Some(files),
            } => {
                write!(f, "rm -rf {dir} and recreate it with")?;
                show_files(f, files)
            }
            Op::ReplaceDir {
                dir,
                stage,
                fresh,
                old,
            } => {
                match fresh {
                    None => write!(f, "copy {dir} to {stage}")?,
                    Some(files) => {
                        write!(f, "make {stage} with")?;
                        show_files(f, files)?;
                    }
                }
                match old {
                    Some(o) => write!(f, ", mv {dir} {o}")?,
                    None => write!(f, ", rm -rf {dir}")?,
                }
                write!(f, ", mv {stage} {dir}")
            }
            Op::Rename { from, to } => write!(f, "mv -T {from} {to}"),
            Op::Swap { a, b, tmp } => write!(
                f,
                "swap {a} and {b} (mv {a} {tmp}; mv {b} {a}; mv {tmp} {b})"
            ),
            Op::Symlink { path, target, tmp } => match tmp {
                Some(t) => write!(f, "ln -s {target} {t}; mv {t} {path}"),
                None => write!(f, "rm -rf {path}; ln -s {target} {path}"),
            },
            Op::MoveAndLink { dir, to, target } => {
                write!(f, "mv {dir} {to}; ln -s {target} {dir}")
            }
            Op::HardLink { existing, link } => write!(f, "ln -f {existing} {link}"),
            Op::WriteThrough { path, content } => {
                write!(f, "write through {path} in place {content}")
            }
            Op::WipeOut { recreate: true } => write!(f, "rm -rf out; mkdir out"),
            Op::WipeOut { recreate: false } => write!(f, "rm -rf out"),
            Op::Repair { remove, files } => {
                write!(f, "repair:")?;
                for r in remove {
                    write!(f, " rm {r}")?;
                }
                show_files(f, files)
            }
            Op::Nothing => write!(f, "nothing"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Compile {
    /// Index into [`compilers`].
    cc: usize,
    /// `out/u.o` instead of `out/t.o`: the same compile context, another
    /// request.
    other_obj: bool,
    /// 0: none, 1: `-MD`, 2: `-MMD` (leaves out `sys/` headers).
    dep: u8,
}

/// Each of COMPILERS for C and its C++ driver for C++: (driver, source).
fn compilers() -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for &c in COMPILERS {
        let cxx = match c {
            "gcc" => "g++",
            "clang" => "clang++",
            other => panic!("no C++ driver known for {other}"),
        };
        v.push((c, "src/main.c"));
        v.push((cxx, "src/main.cc"));
    }
    v
}

impl Compile {
    fn obj(&self) -> &'static str {
        if self.other_obj { "out/u.o" } else { "out/t.o" }
    }

    fn depfile(&self) -> &'static str {
        if self.other_obj { "out/u.d" } else { "out/t.d" }
    }

    fn args(&self) -> Vec<&'static str> {
        let (_, src) = compilers()[self.cc];
        let mut a = vec!["-c", src, "-o", self.obj()];
        a.extend(SEARCH);
        match self.dep {
            1 => a.push("-MD"),
            2 => a.push("-MMD"),
            _ => {}
        }
        a
    }

    fn driver(&self) -> &'static str {
        compilers()[self.cc].0
    }
}

impl fmt::Display for Compile {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}", self.driver(), self.args().join(" "))
    }
}

#[derive(Clone, Debug)]
struct Step {
    pre_ms: u64,
    op: Op,
    post_ms: u64,
    compile: Compile,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.pre_ms > 0 {
            write!(f, "sleep {} ms; ", self.pre_ms)?;
        }
        write!(f, "{}", self.op)?;
        if self.post_ms > 0 {
            write!(f, "; sleep {} ms", self.post_ms)?;
        }
        write!(f, "; {}", self.compile)
    }
}

// ---------------------------------------------------------------------------
// Applying operations. Errors are counted, not fatal: a shrunk step list
// replays operations in states they were not made for.

/// `rm -rf` without following a symlink.
fn rm_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn write_new(p: &Path, text: &str) -> io::Result<()> {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d)?;
    }
    fs::write(p, text)
}

/// Opens an existing file for writing without creating or renaming it (the
/// same inode, whatever name it is reached by).
fn write_in_place(p: &Path, text: &[u8]) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).truncate(true).open(p)?;
    f.write_all(text)
}

/// A tree as read: symlinks are kept as symlinks (only the root is
/// followed), so that it can be planted again.
enum Node {
    File(Vec<u8>),
    Link(PathBuf),
    Dir(Vec<(String, Node)>),
}

fn snapshot(p: &Path, root: bool) -> io::Result<Node> {
    let m = if root {
        fs::metadata(p)?
    } else {
        fs::symlink_metadata(p)?
    };
    if m.file_type().is_symlink() {
        return Ok(Node::Link(fs::read_link(p)?));
    }
    if !m.is_dir() {
        return Ok(Node::File(fs::read(p)?));
    }
    let mut names: Vec<String> = fs::read_dir(p)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut v = Vec::new();
    for n in names {
        v.push((n.clone(), snapshot(&p.join(&n), false)?));
    }
    Ok(Node::Dir(v))
}

fn plant(p: &Path, n: &Node) -> io::Result<()> {
    match n {
        Node::File(b) => fs::write(p, b),
        Node::Link(t) => std::os::unix::fs::symlink(t, p),
        Node::Dir(v) => {
            fs::create_dir(p)?;
            for (name, c) in v {
                plant(&p.join(name), c)?;
            }
            Ok(())
        }
    }
}

fn plant_files(dir: &Path, files: &Files) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for (rel, c) in files {
        write_new(&dir.join(rel), &c.render(is_source(rel)))?;
    }
    Ok(())
}

/// The last `= dddddd;` of a rendered file, with six new digits.
fn with_value(text: &[u8], value: u32) -> Option<Vec<u8>> {
    let at = (0..text.len().saturating_sub(8)).rev().find(|&i| {
        text[i..i + 2] == *b"= "
            && text[i + 2..i + 8].iter().all(u8::is_ascii_digit)
            && text[i + 8] == b';'
    })?;
    let mut out = text.to_vec();
    out[at + 2..at + 8].copy_from_slice(format!("{value:06}").as_bytes());
    Some(out)
}

fn same_size(p: &Path, value: u32, keep_mtime: bool) -> io::Result<()> {
    let old = fs::metadata(p)?;
    let text = fs::read(p)?;
    let new = with_value(&text, value).ok_or_else(|| io::Error::other("no value to edit"))?;
    let mut f = fs::OpenOptions::new().write(true).truncate(true).open(p)?;
    f.write_all(&new)?;
    if keep_mtime {
        f.set_times(fs::FileTimes::new().set_modified(old.modified()?))?;
    }
    Ok(())
}

fn sleep_ms(ms: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn apply(work: &Path, op: &Op) -> io::Result<()> {
    let p = |rel: &str| work.join(rel);
    match op {
        Op::Project { files } => {
            rm_any(work)?;
            plant_files(work, files)?;
            for d in ["c", "a", "b", "sys", "ext", "out"] {
                fs::create_dir_all(p(d))?;
            }
            Ok(())
        }
        Op::Write {
            path,
            content,
            by_rename,
        } => {
            let text = content.render(is_source(path));
            if *by_rename {
                let tmp = p(&format!("{path}.tmp"));
                write_new(&tmp, &text)?;
                fs::rename(tmp, p(path))
            } else {
                write_new(&p(path), &text)
            }
        }
        Op::SameSize {
            path,
            value,
            keep_mtime,
        } => same_size(&p(path), *value, *keep_mtime),
        Op::Twice {
            path,
            content,
            gap_ms,
            value,
        } => {
            write_new(&p(path), &content.render(is_source(path)))?;
            sleep_ms(*gap_ms);
            same_size(&p(path), *value, false)
        }
        Op::Touch { path } => fs::File::options()
            .write(true)
            .open(p(path))?
            .set_modified(std::time::SystemTime::now()),
        Op::Remove { path } => rm_any(&p(path)),
        Op::Recreate { dir, fresh } => {
            let d = p(dir);
            match fresh {
                None => {
                    let tree = snapshot(&d, true)?;
                    rm_any(&d)?;
                    plant(&d, &tree)
                }
                Some(files) => {
                    rm_any(&d)?;
                    plant_files(&d, files)
                }
            }
        }
        Op::ReplaceDir {
            dir,
            stage,
            fresh,
            old,
        } => {
            let (d, s) = (p(dir), p(stage));
            rm_any(&s)?;
            match fresh {
                None => plant(&s, &snapshot(&d, true)?)?,
                Some(files) => plant_files(&s, files)?,
            }
            match old {
                Some(o) => {
                    rm_any(&p(o))?;
                    fs::rename(&d, p(o))?;
                }
                None => rm_any(&d)?,
            }
            fs::rename(s, d)
        }
        Op::Rename { from, to } => {
            let (f, t) = (p(from), p(to));
            if let Some(parent) = t.parent() {
                fs::create_dir_all(parent)?;
            }
            if fs::symlink_metadata(&t).is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(&t)?;
            }
            fs::rename(f, t)
        }
        Op::Swap { a, b, tmp } => {
            rm_any(&p(tmp))?;
            fs::rename(p(a), p(tmp))?;
            fs::rename(p(b), p(a))?;
            fs::rename(p(tmp), p(b))
        }
        Op::Symlink { path, target, tmp } => {
            let t = target.resolve(work);
            match tmp {
                Some(tmp) => {
                    rm_any(&p(tmp))?;
                    std::os::unix::fs::symlink(t, p(tmp))?;
                    // A symlink cannot be renamed over a directory.
                    if fs::symlink_metadata(p(path)).is_ok_and(|m| m.is_dir()) {
                        fs::remove_dir_all(p(path))?;
                    }
                    fs::rename(p(tmp), p(path))
                }
                None => {
                    rm_any(&p(path))?;
                    if let Some(parent) = p(path).parent() {
                        fs::create_dir_all(parent)?;
                    }
                    std::os::unix::fs::symlink(t, p(path))
                }
            }
        }
        Op::MoveAndLink { dir, to, target } => {
            rm_any(&p(to))?;
            fs::rename(p(dir), p(to))?;
            std::os::unix::fs::symlink(target.resolve(work), p(dir))
        }
        Op::HardLink { existing, link } => {
            rm_any(&p(link))?;
            if let Some(parent) = p(link).parent() {
                fs::create_dir_all(parent)?;
            }
            fs::hard_link(p(existing), p(link))
        }
        Op::WriteThrough { path, content } => {
            write_in_place(&p(path), content.render(is_source(path)).as_bytes())
        }
        Op::WipeOut { recreate } => {
            rm_any(&p("out"))?;
            if *recreate {
                fs::create_dir(p("out"))?;
            }
            Ok(())
        }
        Op::Repair { remove, files } => {
            for r in remove {
                rm_any(&p(r))?;
            }
            plant_files(work, files)?;
            for d in ["c", "a", "b", "sys", "ext", "out"] {
                fs::create_dir_all(p(d))?;
            }
            Ok(())
        }
        Op::Nothing => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Generating steps from the seed and the project as it is now.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    File,
    Link,
    Dir,
}

struct Entry {
    rel: String,
    kind: Kind,
    nlink: u64,
}

struct Gen {
    rng: fastrand::Rng,
    work: PathBuf,
    next_id: u32,
    last: Compile,
    out_missing: bool,
    /// The last compile failed (the bare compiler's result, which depends
    /// on the steps only).
    failed: bool,
}

/// `../` enough to reach the work directory from the directory of `rel`.
fn up(rel: &str) -> String {
    "../".repeat(rel.matches('/').count())
}

impl Gen {
    fn new(seed: u64, work: &Path) -> Gen {
        Gen {
            rng: fastrand::Rng::with_seed(seed),
            work: work.to_path_buf(),
            next_id: 0,
            last: Compile {
                cc: 0,
                other_obj: false,
                dep: 0,
            },
            out_missing: false,
            failed: false,
        }
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.u32(0..100) < percent
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.rng.usize(0..v.len())]
    }

    fn content(&mut self, source: bool) -> Content {
        let n = if source {
            self.rng.usize(2..=4)
        } else {
            self.rng.usize(0..=2)
        };
        let mut incs = Vec::new();
        for _ in 0..n {
            // Mostly the top-level names: `sub/` ones break more often.
            let h = if self.chance(80) {
                self.rng.usize(0..4)
            } else {
                self.rng.usize(4..NAMES.len())
            };
            incs.push(match self.rng.u32(0..20) {
                0..=11 => Inc::Quote(h),
                12 if !source => Inc::Next(h),
                _ => Inc::Angle(h),
            });
        }
        let bad = match self.rng.u32(0..200) {
            0 => Bad::Error,
            1 => Bad::Syntax,
            2 => Bad::Missing,
            _ => Bad::No,
        };
        Content {
            id: self.id(),
            value: self.rng.u32(100_000..1_000_000),
            incs,
            bad,
        }
    }

    fn files_for(&mut self, dir: &str) -> Files {
        let mut files = Vec::new();
        if dir == "src" {
            for s in ["main.c", "main.cc"] {
                let c = self.content(true);
                files.push((s.to_string(), c));
            }
        }
        let sub = dir.ends_with("sub");
        let percent = if dir == "src" { 10 } else { 50 };
        for name in NAMES {
            let name = if sub {
                match name.strip_prefix("sub/") {
                    Some(n) => n,
                    None => continue,
                }
            } else {
                name
            };
            if self.chance(percent) {
                let c = self.content(false);
                files.push((name.to_string(), c));
            }
        }
        files
    }

    fn project(&mut self) -> Files {
        let mut files = Vec::new();
        for d in HDIRS {
            for (rel, c) in self.files_for(d) {
                files.push((format!("{d}/{rel}"), c));
            }
        }
        // Every name somewhere late in the search path, so that most
        // compiles succeed from the start.
        for name in NAMES {
            let found = ["b", "sys"]
                .iter()
                .any(|d| files.iter().any(|(p, _)| *p == format!("{d}/{name}")));
            if !found {
                let d = *self.pick(&["b", "sys"]);
                let c = self.content(false);
                files.push((format!("{d}/{name}"), c));
            }
        }
        for x in EXT_NAMES {
            let c = self.content(false);
            files.push((x.to_string(), c));
        }
        files
    }

    fn walk(&self, rel: &str, depth: u32, out: &mut Vec<Entry>) {
        let Ok(rd) = fs::read_dir(self.work.join(rel)) else {
            return;
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let r = format!("{rel}/{n}");
            let Ok(m) = fs::symlink_metadata(self.work.join(&r)) else {
                continue;
            };
            let kind = if m.file_type().is_symlink() {
                Kind::Link
            } else if m.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            let is_dir = fs::metadata(self.work.join(&r)).is_ok_and(|m| m.is_dir());
            out.push(Entry {
                rel: r.clone(),
                kind,
                nlink: m.nlink(),
            });
            if is_dir && depth > 0 {
                self.walk(&r, depth - 1, out);
            }
        }
    }

    fn entries(&self) -> Vec<Entry> {
        let mut v = Vec::new();
        for d in HDIRS.iter().chain(&["ext"]) {
            self.walk(d, 2, &mut v);
        }
        v
    }

    /// A header path that may not exist yet.
    fn header_path(&mut self) -> String {
        if self.chance(15) {
            return self.pick(&EXT_NAMES).to_string();
        }
        let d = *self.pick(&HDIRS);
        let n = *self.pick(&NAMES);
        format!("{d}/{n}")
    }

    /// An existing file or symlink (headers mostly), else a new header path.
    /// Mostly one in the search path: `ext/` fills up with old trees.
    fn existing_file(&mut self, es: &[Entry], sources: bool) -> String {
        let outside = self.chance(25);
        let v: Vec<&Entry> = es
            .iter()
            .filter(|e| e.kind != Kind::Dir && e.rel.starts_with("ext/") == outside)
            .filter(|e| e.rel.ends_with(".h") || (sources && is_source(&e.rel)))
            .collect();
        if v.is_empty() {
            return self.header_path();
        }
        v[self.rng.usize(0..v.len())].rel.clone()
    }

    fn content_for(&mut self, path: &str) -> Content {
        self.content(is_source(path))
    }

    fn target(&mut self, link: &str, to: &str) -> Target {
        if self.chance(30) {
            Target::Abs(to.to_string())
        } else {
            Target::Rel(format!("{}{to}", up(link)))
        }
    }

    fn dir_files(&mut self, dir: &str) -> Option<Files> {
        if self.chance(50) {
            None
        } else {
            Some(self.files_for(dir))
        }
    }

    fn is_dir(&self, rel: &str) -> bool {
        self.work.join(rel).is_dir()
    }

    fn is_file(&self, rel: &str) -> bool {
        self.work.join(rel).is_file()
    }

    /// Exists, maybe as a dangling symlink.
    fn is_there(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.work.join(rel)).is_ok()
    }

    /// What a person does when the build broke: makes the search
    /// directories directories again, puts back every header name late in
    /// the search path, and rewrites broken files and symlinks.
    fn repair(&mut self, es: &[Entry]) -> Op {
        let mut remove = Vec::new();
        let mut files = Vec::new();
        let mut dirs: Vec<String> = ["src", "c", "a", "b", "sys", "ext", "out"]
            .iter()
            .map(|d| d.to_string())
            .collect();
        dirs.extend(HDIRS.iter().map(|d| format!("{d}/sub")));
        for d in dirs {
            if self.is_there(&d) && !self.is_dir(&d) {
                remove.push(d);
            }
        }
        for src in ["src/main.c", "src/main.cc"] {
            if !self.is_file(src) {
                if self.is_there(src) {
                    remove.push(src.to_string());
                }
                let c = self.content(true);
                files.push((src.to_string(), c));
            }
        }
        for name in NAMES {
            if !["a", "b", "sys"]
                .iter()
                .any(|d| self.is_file(&format!("{d}/{name}")))
            {
                let d = *self.pick(&["b", "sys"]);
                let path = format!("{d}/{name}");
                if self.is_there(&path) {
                    remove.push(path.clone());
                }
                let c = self.content(false);
                files.push((path, c));
            }
        }
        for e in es {
            if e.kind == Kind::Dir || e.rel.starts_with("ext/") {
                continue;
            }
            let text = fs::read_to_string(self.work.join(&e.rel)).unwrap_or_default();
            let broken = text.is_empty()
                || text.contains("#error")
                || text.contains("= ;")
                || text.contains("missing_");
            if broken && !files.iter().any(|(p, _)| *p == e.rel) {
                remove.push(e.rel.clone());
                let c = self.content_for(&e.rel);
                files.push((e.rel.clone(), c));
            }
        }
        Op::Repair { remove, files }
    }

    fn op(&mut self) -> Op {
        if self.out_missing && self.chance(70) {
            self.out_missing = false;
            return Op::WipeOut { recreate: true };
        }
        let es = self.entries();
        if self.failed && self.chance(80) {
            return self.repair(&es);
        }
        match self.rng.u32(0..100) {
            0..=11 => {
                let path = if self.chance(20) {
                    self.pick(&["src/main.c", "src/main.cc"]).to_string()
                } else {
                    self.existing_file(&es, false)
                };
                let content = self.content_for(&path);
                let by_rename = self.chance(35);
                Op::Write {
                    path,
                    content,
                    by_rename,
                }
            }
            12..=20 => {
                let path = self.existing_file(&es, true);
                let value = self.rng.u32(100_000..1_000_000);
                let keep_mtime = self.chance(80);
                Op::SameSize {
                    path,
                    value,
                    keep_mtime,
                }
            }
            21..=23 => {
                let path = self.existing_file(&es, true);
                let content = self.content_for(&path);
                let gap_ms = *self.pick(&[0, 1, 2]);
                let value = self.rng.u32(100_000..1_000_000);
                Op::Twice {
                    path,
                    content,
                    gap_ms,
                    value,
                }
            }
            24..=25 => Op::Touch {
                path: self.existing_file(&es, true),
            },
            26..=31 => {
                // A shadow: a name that is found somewhere, written into a
                // directory searched before it.
                let n = self.rng.usize(0..NAMES.len());
                let found = HDIRS
                    .iter()
                    .rposition(|d| self.work.join(d).join(NAMES[n]).exists())
                    .unwrap_or(HDIRS.len());
                let d = HDIRS[self.rng.usize(0..found.max(1))];
                let path = format!("{d}/{}", NAMES[n]);
                let content = self.content(false);
                Op::Write {
                    path,
                    content,
                    by_rename: self.chance(30),
                }
            }
            32..=36 => Op::Remove {
                path: self.existing_file(&es, false),
            },
            37..=43 => {
                let dir = match self.rng.u32(0..10) {
                    0 => ".".to_string(),
                    1 => "src".to_string(),
                    _ => self.pick(&DIRS).to_string(),
                };
                let fresh = if dir == "." {
                    None
                } else {
                    self.dir_files(&dir)
                };
                Op::Recreate { dir, fresh }
            }
            44..=49 => {
                let dir = if self.chance(10) {
                    "src".to_string()
                } else {
                    self.pick(&DIRS).to_string()
                };
                let fresh = self.dir_files(&dir);
                let id = self.id();
                let old = self.chance(50).then(|| format!("ext/old{id}"));
                Op::ReplaceDir {
                    dir,
                    stage: format!("ext/stage{id}"),
                    fresh,
                    old,
                }
            }
            50..=55 => {
                let from = self.existing_file(&es, false);
                let to = if self.chance(60) {
                    self.existing_file(&es, false)
                } else {
                    self.header_path()
                };
                if from == to {
                    Op::Nothing
                } else {
                    Op::Rename { from, to }
                }
            }
            56..=58 => {
                let from = self.pick(&DIRS).to_string();
                let to = if self.chance(70) {
                    self.pick(&DIRS).to_string()
                } else {
                    let id = self.id();
                    format!("ext/d{id}")
                };
                let nested = |x: &str, y: &str| x.starts_with(&format!("{y}/"));
                if from == to || nested(&to, &from) || nested(&from, &to) {
                    Op::Nothing
                } else {
                    Op::Rename { from, to }
                }
            }
            59..=62 => {
                let id = self.id();
                let tmp = format!("ext/swap{id}");
                let (a, b) = if self.chance(70) {
                    let a = self.rng.usize(0..4);
                    let b = (a + self.rng.usize(1..4)) % 4;
                    let sub = if self.chance(30) { "/sub" } else { "" };
                    (format!("{}{sub}", DIRS[a]), format!("{}{sub}", DIRS[b]))
                } else {
                    (
                        self.existing_file(&es, false),
                        self.existing_file(&es, false),
                    )
                };
                if a == b {
                    Op::Nothing
                } else {
                    Op::Swap { a, b, tmp }
                }
            }
            63..=70 => {
                let links: Vec<&Entry> = es.iter().filter(|e| e.kind == Kind::Link).collect();
                let path = if !links.is_empty() && self.chance(40) {
                    links[self.rng.usize(0..links.len())].rel.clone()
                } else {
                    self.existing_file(&es, false)
                };
                let to = if self.chance(10) {
                    "ext/nowhere.h".to_string()
                } else {
                    self.existing_file(&es, false)
                };
                let target = self.target(&path, &to);
                let id = self.id();
                let tmp = self.chance(50).then(|| format!("{path}.ln{id}"));
                Op::Symlink { path, target, tmp }
            }
            71..=75 => {
                let dir = self.pick(&DIRS).to_string();
                if self.chance(50) {
                    let id = self.id();
                    let to = format!("ext/d{id}");
                    let target = self.target(&dir, &to);
                    Op::MoveAndLink { dir, to, target }
                } else {
                    let mut dirs: Vec<String> = es
                        .iter()
                        .filter(|e| e.kind == Kind::Dir)
                        .map(|e| e.rel.clone())
                        .collect();
                    dirs.extend(DIRS.iter().map(|d| d.to_string()));
                    dirs.retain(|d| *d != dir);
                    let to = self.pick(&dirs).clone();
                    let target = self.target(&dir, &to);
                    let id = self.id();
                    let tmp = self.chance(50).then(|| format!("{dir}.ln{id}"));
                    Op::Symlink {
                        path: dir,
                        target,
                        tmp,
                    }
                }
            }
            76..=79 => {
                let existing = self.existing_file(&es, true);
                let link = if self.chance(75) {
                    let id = self.id();
                    format!("ext/hl{id}.h")
                } else {
                    self.header_path()
                };
                if existing == link {
                    Op::Nothing
                } else {
                    Op::HardLink { existing, link }
                }
            }
            80..=86 => {
                let linked: Vec<&Entry> = es
                    .iter()
                    .filter(|e| e.kind == Kind::File && e.nlink > 1)
                    .collect();
                let path = if linked.is_empty() {
                    self.existing_file(&es, true)
                } else {
                    linked[self.rng.usize(0..linked.len())].rel.clone()
                };
                if self.chance(30) {
                    let value = self.rng.u32(100_000..1_000_000);
                    Op::SameSize {
                        path,
                        value,
                        keep_mtime: self.chance(50),
                    }
                } else {
                    let content = self.content_for(&path);
                    Op::WriteThrough { path, content }
                }
            }
            87 => Op::Project {
                files: self.project(),
            },
            88..=89 => {
                let recreate = self.chance(80);
                self.out_missing = !recreate;
                Op::WipeOut { recreate }
            }
            _ => Op::Nothing,
        }
    }

    fn compile(&mut self) -> Compile {
        if self.chance(60) {
            return self.last;
        }
        let c = Compile {
            cc: self.rng.usize(0..compilers().len()),
            other_obj: self.chance(20),
            dep: *self.pick(&[0, 0, 0, 1, 2]),
        };
        self.last = c;
        c
    }

    fn step(&mut self, first: bool) -> Step {
        let op = if first {
            Op::Project {
                files: self.project(),
            }
        } else {
            self.op()
        };
        Step {
            pre_ms: *self.pick(&SLEEPS),
            op,
            post_ms: *self.pick(&SLEEPS),
            compile: self.compile(),
        }
    }
}

// ---------------------------------------------------------------------------
// Running and comparing.

#[derive(Default)]
struct Stats {
    op_errors: u64,
    failed_compiles: u64,
}

/// A daemon for the fuzzer, with a session whose journal says what each
/// compile was (read when a step differs).
fn fuzz_env() -> Env {
    let env = Env::new();
    let journal = env.root.path().join("journal.jsonl");
    let id = session_start(&env, Some(&journal));
    env.set_var("CCD_SESSION_ID", &id);
    env
}

/// The verdict and reason of the last compile, from the session journal.
fn last_verdict(env: &Env) -> String {
    // Waits for stores in progress, whose journal lines come last.
    let _ = env.status();
    let text = fs::read_to_string(env.root.path().join("journal.jsonl")).unwrap_or_default();
    let Some(line) = text.lines().last() else {
        return "not in the journal".to_string();
    };
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    format!("{} ({})", v["verdict"], v["reason"])
}

/// The variables of header and source versions an object defines (the
/// symbol names `v_<id>` and `m_<id>`), to say what a wrong object was
/// built from.
fn versions(obj: &[u8]) -> String {
    let mut found = Vec::new();
    let mut i = 1;
    while i + 2 < obj.len() {
        if obj[i - 1] == 0 && (obj[i] == b'v' || obj[i] == b'm') && obj[i + 1] == b'_' {
            let mut j = i + 2;
            while j < obj.len() && obj[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 2 && j < obj.len() && obj[j] == 0 {
                found.push(String::from_utf8_lossy(&obj[i..j]).into_owned());
            }
            i = j;
        }
        i += 1;
    }
    found.sort();
    found.dedup();
    found.join(" ")
}

fn describe(name: &str, ours: &Option<Vec<u8>>, bare: &Option<Vec<u8>>) -> String {
    match (ours, bare) {
        (None, Some(_)) => format!("{name}: ccd left none, the compiler wrote one"),
        (Some(_), None) => format!("{name}: ccd left one, the compiler wrote none"),
        (Some(o), Some(b)) if name.ends_with(".d") => format!(
            "{name} differs:\n--- ccd\n{}\n--- compiler\n{}",
            String::from_utf8_lossy(o),
            String::from_utf8_lossy(b)
        ),
        (Some(o), Some(b)) => {
            let (vo, vb) = (versions(o), versions(b));
            let note = if vo == vb {
                " (the same versions: a value differs)"
            } else {
                ""
            };
            format!(
                "{name} differs ({} vs {} bytes); ccd's defines [{vo}], the compiler's [{vb}]{note}",
                o.len(),
                b.len()
            )
        }
        (None, None) => unreachable!(),
    }
}

/// Compiles through ccd, then bare from the same state of the outputs;
/// `Err` says what differs.
fn compare(env: &Env, c: &Compile, stats: &mut Stats) -> Result<bool, String> {
    let (r, diffs) = env
        .like_bare(c.driver(), &c.args(), &[c.obj(), c.depfile()])
        .keep_outputs()
        .differences();
    if !r.bare.status.success() {
        stats.failed_compiles += 1;
    }
    if std::env::var_os("CCD_FUZZ_TRACE").is_some() {
        let err = String::from_utf8_lossy(&r.bare.stderr);
        let line = err.lines().find(|l| l.contains("error")).unwrap_or("");
        eprintln!("  -> {:?} {line}", r.bare.status.code());
    }
    if diffs.is_empty() {
        return Ok(!r.bare.status.success());
    }
    let diffs: Vec<String> = diffs
        .iter()
        .map(|d| match d {
            Difference::File { name, ours, bare } => describe(name, ours, bare),
            other => other.to_string(),
        })
        .collect();
    let what = last_verdict(env);
    Err(format!("ccd's verdict: {what}\n{}", diffs.join("\n")))
}

/// `Ok(true)` when the compile failed (alike).
fn run_step(env: &Env, step: &Step, stats: &mut Stats) -> Result<bool, String> {
    // No wait for the daemon to finish storing the last compile (it does
    // after answering): a change made meanwhile must not be stored as
    // that compile's input (a header renamed into an earlier search
    // directory once was).
    sleep_ms(step.pre_ms);
    if let Err(e) = apply(&env.work, &step.op) {
        stats.op_errors += 1;
        if std::env::var_os("CCD_FUZZ_TRACE").is_some() {
            eprintln!("  (operation failed: {e})");
        }
    }
    sleep_ms(step.post_ms);
    compare(env, &step.compile, stats)
}

/// Replays `steps` with a fresh daemon: the first step that differs, and
/// how.
fn replay(steps: &[Step]) -> Option<(usize, String)> {
    let env = fuzz_env();
    let mut stats = Stats::default();
    steps
        .iter()
        .enumerate()
        .find_map(|(i, s)| run_step(&env, s, &mut stats).err().map(|d| (i, d)))
}

/// Removes chunks of steps (halving their size) while the rest still
/// fails, within a time budget.
fn shrink(mut steps: Vec<Step>) -> Vec<Step> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut chunk = steps.len().div_ceil(2);
    while chunk >= 1 && Instant::now() < deadline {
        let mut i = 0;
        while i < steps.len() && Instant::now() < deadline {
            let mut cand = steps.clone();
            cand.drain(i..(i + chunk).min(cand.len()));
            match replay(&cand) {
                Some((at, _)) => {
                    cand.truncate(at + 1);
                    eprintln!("fs_fuzz: shrunk to {} steps", cand.len());
                    steps = cand;
                }
                None => i += chunk,
            }
        }
        chunk /= 2;
    }
    steps
}

fn list(steps: &[Step]) -> String {
    let mut s = String::new();
    for (i, st) in steps.iter().enumerate() {
        writeln!(s, "  {i:4}: {st}").unwrap();
    }
    s
}

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v} is not a number"))
    })
}

/// The steps that differed (only with `CCD_FUZZ_KEEP_GOING`: otherwise the
/// first one panics).
fn fuzz_seed(test: &str, seed: u64, steps: u64) -> Vec<u64> {
    let env = fuzz_env();
    let mut g = Gen::new(seed, &env.work);
    let mut done: Vec<Step> = Vec::new();
    let mut stats = Stats::default();
    let start = Instant::now();
    let keep_going = std::env::var_os("CCD_FUZZ_KEEP_GOING").is_some();
    let mut differed = Vec::new();
    for i in 0..steps {
        let step = g.step(i == 0);
        if std::env::var_os("CCD_FUZZ_TRACE").is_some() {
            eprintln!("{i:4}: {step}");
        }
        done.push(step.clone());
        let res = run_step(&env, &step, &mut stats);
        if let Ok(failed) = res {
            g.failed = failed;
        }
        if let Err(diff) = res {
            let watch = match std::env::var("CCD_TEST_WATCH") {
                Ok(w) => format!("CCD_TEST_WATCH={w} "),
                Err(_) => String::new(),
            };
            let mut msg = format!(
                "fs_fuzz {test}: seed {seed}, step {i}: ccd differs from the bare compiler\n\
                 {diff}\nsteps (each: sleep, operation, sleep, compile):\n{}\
                 rerun: {watch}CCD_FUZZ_SEED={seed} CCD_FUZZ_STEPS={} \
                 cargo test -p ccd --test integration fs_fuzz::{test} -- --nocapture\n",
                list(&done),
                i + 1
            );
            if keep_going {
                eprintln!(
                    "fs_fuzz {test}: seed {seed}, step {i}: {}\n{diff}",
                    done[i as usize]
                );
                differed.push(i);
                continue;
            }
            if std::env::var_os("CCD_FUZZ_SHRINK").is_some() {
                env.stop();
                let short = shrink(done);
                let runs: Vec<_> = (0..3).map(|_| replay(&short)).collect();
                let fails = runs.iter().filter(|r| r.is_some()).count();
                let diff = runs.into_iter().flatten().next().map(|(_, d)| d);
                write!(
                    msg,
                    "shrunk to {} steps, failing {fails} of 3 replays:\n{}{}\n",
                    short.len(),
                    list(&short),
                    diff.unwrap_or_default()
                )
                .unwrap();
            }
            panic!("{msg}");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let counts = env.counts();
    eprintln!(
        "fs_fuzz {test}: seed {seed}: {steps} steps in {secs:.1} s ({:.1} steps/s); \
         {} failed compiles, {} failed operations; ccd {} hits, {} misses",
        steps as f64 / secs,
        stats.failed_compiles,
        stats.op_errors,
        counts.hits,
        counts.misses
    );
    env.stop();
    differed
}

/// Runs `seeds` (or `CCD_FUZZ_SEED`) for `steps` each (or `CCD_FUZZ_STEPS`).
fn fuzz(test: &str, seeds: &[u64], steps: u64) {
    let steps = env_u64("CCD_FUZZ_STEPS").unwrap_or(steps);
    let seeds = match env_u64("CCD_FUZZ_SEED") {
        Some(seed) => vec![seed],
        None => seeds.to_vec(),
    };
    let mut differed = Vec::new();
    for seed in seeds {
        let d = fuzz_seed(test, seed, steps);
        if !d.is_empty() {
            differed.push(format!("seed {seed} at steps {d:?}"));
        }
    }
    assert!(
        differed.is_empty(),
        "fs_fuzz {test}: ccd differed from the compiler: {}",
        differed.join("; ")
    );
}

#[test]
fn fuzz_one() {
    fuzz("fuzz_one", &[1, 2, 5], 200);
}

#[test]
fn fuzz_two() {
    fuzz("fuzz_two", &[3, 4, 6], 200);
}
