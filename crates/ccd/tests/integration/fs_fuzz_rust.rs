//! Differential filesystem fuzzer for rustc under cargo (ccd as
//! `RUSTC_WRAPPER`).
//!
//! A small workspace — a library `dep` and a binary `app` using it, each
//! with modules in files (`src/m.rs`, `src/sub/mod.rs`, `src/sub/inner.rs`),
//! `app` with an `include!`d file, an `include_str!` file and an `env!`
//! value — goes through random, seeded sequences of filesystem changes:
//! in-place rewrites, same-size edits with the old mtime restored, files
//! replaced by rename, `rm -rf` and recreation of directories (same or new
//! content, fresh or restored mtimes), renames of one file over another,
//! trees swapped by rename, files and directories turned into symbolic links
//! and retargeted, hard links written through their other name, modules
//! deleted, moved between `sub/mod.rs` and `sub.rs` or shadowed by `m/mod.rs`
//! (compile errors), a changed `env!` value, wiped target directories, the
//! whole project rewritten, and short sleeps in between.
//!
//! Why differential: the property that matters is that ccd never gives a
//! result the real compiler would not give now, and the bare build is the
//! only oracle that knows what that is. After every step the same
//! `cargo build` runs through ccd into one target directory and bare into
//! another (in random order), and everything observable must agree: cargo's
//! exit code, stdout and stderr (which crates it compiled, rustc's
//! diagnostics), every file in `target/debug` and `target/debug/deps` byte
//! for byte (rustc's artifacts do not name the target directory; dep-info
//! files do, and are compared with it replaced), and the binary's output.
//!
//! Why two target directories that share a history rather than a fresh bare
//! build: cargo decides by mtimes what to recompile, and both directories see
//! every step, so its decisions are the same in both (every change is made
//! after the previous step's builds and before this step's). A change cargo
//! cannot see (an old mtime restored, a rename that keeps one, a tree swapped
//! in) is then compiled by neither until something makes cargo run rustc for
//! that crate (a touch, another edit, a new `env!` value, a wiped target) —
//! and then ccd must see it too. Each step's log says how many compiles ccd
//! served from its cache; the test fails if fewer than five were (over 20
//! steps or more), as the fuzzer would then test little of the cache.
//!
//! A failure panics with the seed, the step, every step so far and the
//! command that reruns it. Knobs:
//!
//! - `CCD_FUZZ_SEED=<n>`: run that seed only.
//! - `CCD_FUZZ_STEPS=<n>`: steps per seed (default [`DEFAULT_STEPS`]).
//! - `CCD_FUZZ_SEEDS=<n>`: run `n` seeds from a random base (printed), for a
//!   soak: `CCD_FUZZ_SEEDS=50 CCD_FUZZ_STEPS=200 cargo test -p ccd --test
//!   integration fs_fuzz_rust:: -- --nocapture` (0.3-0.7 s per step), with
//!   `CCD_TEST_WATCH=0` too.
//! - `CCD_FUZZ_LOG=1`: print every seed's steps, also when it passes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use crate::harness::cargo::{artifacts, cargo_cmd, stable_stderr};
use crate::harness::{Env, require_tool};

/// Steps per seed by default: 20-45 s per seed on two busy cores
/// (most steps run two cargo builds of 0.1-0.6 s each).
const DEFAULT_STEPS: usize = 60;
const DEFAULT_SEEDS: &[u64] = &[1, 2];

/// The files of the project as written from scratch; everything else (the
/// spare area, links, shadowing modules) comes and goes.
const LIVE: &[&str] = &[
    "dep/src/lib.rs",
    "dep/src/m.rs",
    "dep/src/sub/mod.rs",
    "dep/src/sub/inner.rs",
    "app/src/main.rs",
    "app/src/m.rs",
    "app/src/sub/mod.rs",
    "app/src/sub/inner.rs",
    "app/data/x.rs",
    "app/data/t.txt",
];

/// Directories that `rm -rf`-and-recreate and symlink steps pick from.
const LIVE_DIRS: &[&str] = &[
    "app",
    "dep",
    "app/src",
    "dep/src",
    "app/src/sub",
    "dep/src/sub",
    "app/data",
    "spare",
];

/// Trees (and files) swapped by three renames; a missing spare side is
/// first made as a copy of the live side with new values.
const SWAPS: &[(&str, &str)] = &[
    ("app/src/sub", "dep/src/sub"),
    ("app/src/sub", "spare/sub_dir"),
    ("dep/src/sub", "spare/sub_dir"),
    ("app/data", "spare/data_dir"),
    ("app/src", "spare/src_app"),
    ("dep/src", "spare/src_dep"),
    ("dep", "spare/dep_copy"),
    ("app/src/m.rs", "dep/src/m.rs"),
    ("app/data/x.rs", "spare/data0.rs"),
    ("app/data/t.txt", "spare/text0.txt"),
];

const ENV_VALUES: &[&str] = &["a", "b", "c"];

const WORKSPACE: &str = "[workspace]\nmembers = [\"app\", \"dep\"]\nresolver = \"2\"\n";
const DEP_MANIFEST: &str = "[package]\nname = \"dep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
const APP_MANIFEST: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndep = { path = \"../dep\" }\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    AppRoot,
    DepRoot,
    SubRoot,
    Module,
    Data,
    Text,
}

impl Kind {
    /// The stem of spare files of this kind.
    fn spare_name(self, i: u32) -> String {
        match self {
            Kind::AppRoot => format!("spare/main{i}.rs"),
            Kind::DepRoot => format!("spare/lib{i}.rs"),
            Kind::SubRoot => format!("spare/subroot{i}.rs"),
            Kind::Module => format!("spare/module{i}.rs"),
            Kind::Data => format!("spare/data{i}.rs"),
            Kind::Text => format!("spare/text{i}.txt"),
        }
    }
}

/// What a file is by its name (live names, spare names, `h<i>_` links);
/// names without an extension are directories.
fn kind_of(path: &str) -> Option<Kind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if !name.ends_with(".rs") && !name.ends_with(".txt") {
        return None;
    }
    let name = match name.split_once('_') {
        Some((h, rest)) if h.starts_with('h') && h[1..].bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => name,
    };
    let starts = |p: &str| name.starts_with(p);
    Some(match name {
        "main.rs" => Kind::AppRoot,
        "lib.rs" => Kind::DepRoot,
        "mod.rs" | "sub.rs" => Kind::SubRoot,
        "m.rs" | "inner.rs" => Kind::Module,
        "x.rs" => Kind::Data,
        "t.txt" => Kind::Text,
        _ if starts("main") => Kind::AppRoot,
        _ if starts("lib") => Kind::DepRoot,
        _ if starts("subroot") => Kind::SubRoot,
        _ if starts("module") => Kind::Module,
        _ if starts("data") => Kind::Data,
        _ if starts("text") => Kind::Text,
        _ => return None,
    })
}

/// A file's content. Every value is four digits (same-size edits swap
/// one for another) from a small pool, so contents come back and ccd has
/// something to hit; `pad` varies the size.
fn content(kind: Kind, v: u32, pad: usize) -> String {
    let body = match kind {
        Kind::AppRoot => format!(
            "mod m;\nmod sub;\ninclude!(\"../data/x.rs\");\nconst TXT: &str = include_str!(\"../data/t.txt\");\nconst V: u32 = {v};\n\nfn main() {{\n    println!(\"app={{V}} m={{}} sub={{:?}} x={{X}} txt={{TXT:?}} env={{}}\", m::V, sub::all(), env!(\"FUZZ_ENV\"));\n    println!(\"dep={{:?}}\", dep::all());\n}}\n"
        ),
        Kind::DepRoot => format!(
            "pub mod m;\npub mod sub;\npub const V: u32 = {v};\n\npub fn all() -> [u32; 4] {{\n    let s = sub::all();\n    [V, m::V, s[0], s[1]]\n}}\n"
        ),
        Kind::SubRoot => format!(
            "pub mod inner;\npub const V: u32 = {v};\n\npub fn all() -> [u32; 2] {{\n    [V, inner::V]\n}}\n"
        ),
        Kind::Module => format!("pub const V: u32 = {v};\n"),
        Kind::Data => format!("pub const X: u32 = {v};\n"),
        Kind::Text => format!("text {v}\n"),
    };
    body + &"// pad\n".repeat(pad)
}

/// One filesystem change. Paths are relative to the work directory.
#[derive(Debug)]
enum Op {
    /// Rewritten in place (same inode; through a symlink, its target);
    /// `keep_mtime` restores the old mtime and atime afterwards.
    Write {
        path: String,
        v: u32,
        pad: usize,
        keep_mtime: bool,
    },
    /// The first value changed to another of the same size, in place, old
    /// mtime and atime restored: only the ctime tells.
    SameSize {
        path: String,
        v: u32,
    },
    /// A new file written next to it and renamed over it (editors).
    Replace {
        path: String,
        v: u32,
        pad: usize,
    },
    /// mtime set to now, content unchanged: cargo runs rustc again.
    Touch {
        path: String,
    },
    Delete {
        path: String,
    },
    /// `rm -rf` and recreate: the same entries (files, links, dirs), with
    /// new values or not, with their old mtimes or fresh ones.
    Recreate {
        dir: String,
        new_values: bool,
        keep_mtimes: bool,
    },
    /// `mv from to`.
    RenameOver {
        from: String,
        to: String,
    },
    /// `a` and `b` exchanged by three renames.
    Swap {
        a: String,
        b: String,
    },
    /// `path` becomes a symlink to `target` (a real directory at `path` is
    /// first moved into the spare area); a missing target is made first.
    Symlink {
        path: String,
        target: String,
        absolute: bool,
    },
    /// `link` becomes another name of `path`, then (maybe) written through.
    HardLink {
        path: String,
        link: String,
        write: Option<(u32, usize)>,
    },
    /// `src/sub/mod.rs` moved to `src/sub.rs` or back.
    FlipSub {
        krate: &'static str,
    },
    /// `src/m/mod.rs` created next to `src/m.rs` (an ambiguous module).
    Shadow {
        krate: &'static str,
        v: u32,
    },
    /// Missing live files written again, shadows removed (the project
    /// builds again unless links point elsewhere).
    Restore,
    SetEnv(&'static str),
    /// Both target directories removed: everything is compiled again.
    WipeTargets,
    /// `app/` and `dep/` removed and written from scratch, with the values
    /// of the last rewrite or new ones.
    Rewrite {
        same: bool,
    },
    Sleep(u64),
}

#[derive(Default, Clone, Copy)]
struct Stats {
    steps: usize,
    /// Steps in which cargo ran rustc through ccd at all.
    compiled: usize,
    hits: u64,
    misses: u64,
    failed_builds: usize,
}

/// One entry of a directory snapshot.
enum Entry {
    Dir,
    File { bytes: Vec<u8>, mtime: SystemTime },
    Link(PathBuf),
}

struct Fuzz {
    env: Env,
    seed: u64,
    rng: fastrand::Rng,
    fuzz_env: &'static str,
    /// Values of the last `Rewrite`, per LIVE file.
    baseline: Vec<(u32, usize)>,
    log: Vec<String>,
    step: usize,
    stats: Stats,
    /// Distinct outputs of the built program (the changes reach it).
    outputs: std::collections::BTreeSet<String>,
}

fn value(rng: &mut fastrand::Rng) -> u32 {
    1000 + rng.u32(0..6)
}

fn pad(rng: &mut fastrand::Rng) -> usize {
    rng.usize(0..3)
}

/// Removes a file, a symlink or a whole tree; missing is fine.
fn remove_all(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
    }
}

fn set_times(p: &Path, mtime: SystemTime, atime: Option<SystemTime>) -> io::Result<()> {
    // Opened read-only: no write event beyond the attribute change.
    let f = fs::File::open(p)?;
    let mut t = fs::FileTimes::new().set_modified(mtime);
    if let Some(a) = atime {
        t = t.set_accessed(a);
    }
    f.set_times(t)
}

/// `dir/rel`, or `dir` itself for an empty `rel` (a snapshot's root).
fn join(dir: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    }
}

/// Every entry under `root` (itself first), not following symlinks.
fn snapshot(root: &Path) -> io::Result<Vec<(PathBuf, Entry)>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Entry)>) -> io::Result<()> {
        let p = join(root, rel);
        let m = fs::symlink_metadata(&p)?;
        if m.file_type().is_symlink() {
            out.push((rel.to_path_buf(), Entry::Link(fs::read_link(&p)?)));
        } else if m.is_dir() {
            out.push((rel.to_path_buf(), Entry::Dir));
            let mut names: Vec<_> = fs::read_dir(&p)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()?;
            names.sort();
            for n in names {
                walk(root, &rel.join(n), out)?;
            }
        } else {
            out.push((
                rel.to_path_buf(),
                Entry::File {
                    bytes: fs::read(&p)?,
                    mtime: m.modified()?,
                },
            ));
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out)?;
    Ok(out)
}

impl Fuzz {
    fn new(seed: u64) -> Fuzz {
        let mut rng = fastrand::Rng::with_seed(seed);
        let baseline = LIVE
            .iter()
            .map(|_| (value(&mut rng), pad(&mut rng)))
            .collect();
        Fuzz {
            env: Env::new(),
            seed,
            rng,
            fuzz_env: ENV_VALUES[0],
            baseline,
            log: Vec::new(),
            step: 0,
            stats: Stats::default(),
            outputs: Default::default(),
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.env.work.join(rel)
    }

    fn target(&self, through_ccd: bool) -> PathBuf {
        self.env.root.path().join(if through_ccd {
            "target-ccd"
        } else {
            "target-bare"
        })
    }

    /// Files (and symlinks that are not directories) under app, dep and
    /// spare, manifests and temporary names left out; sorted.
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for top in ["app", "dep", "spare"] {
            let Ok(snap) = snapshot(&self.p(top)) else {
                continue;
            };
            for (rel, e) in snap {
                let path = Path::new(top).join(&rel);
                let is_file = match e {
                    Entry::Dir => false,
                    Entry::File { .. } => true,
                    Entry::Link(_) => !self.p(&path.to_string_lossy()).is_dir(),
                };
                let s = path.to_string_lossy().into_owned();
                if is_file && !s.ends_with("Cargo.toml") && !s.contains(".fuzz-") {
                    out.push(s);
                }
            }
        }
        out
    }

    /// A file to change: mostly a live one (missing or not), else any.
    fn pick_file(&mut self, files: &[String]) -> String {
        if files.is_empty() || self.rng.u8(0..10) < 6 {
            LIVE[self.rng.usize(0..LIVE.len())].to_string()
        } else {
            files[self.rng.usize(0..files.len())].clone()
        }
    }

    fn broken(&self) -> bool {
        LIVE.iter().any(|p| fs::metadata(self.p(p)).is_err())
            || ["app", "dep"].iter().any(|k| {
                fs::symlink_metadata(self.p(&format!("{k}/src/sub.rs"))).is_ok()
                    || fs::symlink_metadata(self.p(&format!("{k}/src/m"))).is_ok()
            })
    }

    fn choose(&mut self) -> Op {
        let files = self.files();
        let broken = self.broken();
        let r = &mut self.rng;
        let weights: &[(u32, u8)] = &[
            (14, 0),                           // Write
            (10, 1),                           // SameSize
            (6, 2),                            // Replace
            (9, 3),                            // Touch
            (4, 4),                            // Delete
            (8, 5),                            // Recreate
            (5, 6),                            // RenameOver
            (6, 7),                            // Swap
            (7, 8),                            // Symlink
            (5, 9),                            // HardLink
            (3, 10),                           // FlipSub
            (2, 11),                           // Shadow
            (if broken { 30 } else { 0 }, 12), // Restore
            (3, 13),                           // SetEnv
            (3, 14),                           // WipeTargets
            (2, 15),                           // Rewrite
            (4, 16),                           // Sleep
        ];
        let total: u32 = weights.iter().map(|w| w.0).sum();
        let mut x = r.u32(0..total);
        let mut which = 0;
        for &(w, k) in weights {
            if x < w {
                which = k;
                break;
            }
            x -= w;
        }
        let which_crate = if r.bool() { "app" } else { "dep" };
        match which {
            0 => {
                let path = self.pick_file(&files);
                let r = &mut self.rng;
                Op::Write {
                    path,
                    v: value(r),
                    pad: pad(r),
                    keep_mtime: r.u8(0..4) == 0,
                }
            }
            1 => {
                let path = self.pick_file(&files);
                Op::SameSize {
                    path,
                    v: value(&mut self.rng),
                }
            }
            2 => {
                let path = self.pick_file(&files);
                let r = &mut self.rng;
                Op::Replace {
                    path,
                    v: value(r),
                    pad: pad(r),
                }
            }
            3 => {
                // Mostly a crate root: cargo then compiles that crate.
                let path = match self.rng.u8(0..4) {
                    0 => "dep/src/lib.rs".to_string(),
                    1 | 2 => "app/src/main.rs".to_string(),
                    _ => self.pick_file(&files),
                };
                Op::Touch { path }
            }
            4 => Op::Delete {
                path: self.pick_file(&files),
            },
            5 => {
                let r = &mut self.rng;
                Op::Recreate {
                    dir: LIVE_DIRS[r.usize(0..LIVE_DIRS.len())].to_string(),
                    new_values: r.bool(),
                    keep_mtimes: r.bool(),
                }
            }
            6 => {
                // Mostly a spare file of the same kind over a live one.
                let to = LIVE[self.rng.usize(0..LIVE.len())].to_string();
                let from = if self.rng.u8(0..4) == 0 || files.is_empty() {
                    let others: Vec<&&str> = LIVE.iter().filter(|f| **f != to).collect();
                    others[self.rng.usize(0..others.len())].to_string()
                } else {
                    let kind = kind_of(&to).unwrap();
                    let same: Vec<&String> = files
                        .iter()
                        .filter(|f| f.starts_with("spare/") && kind_of(f) == Some(kind))
                        .collect();
                    if same.is_empty() {
                        files[self.rng.usize(0..files.len())].clone()
                    } else {
                        same[self.rng.usize(0..same.len())].clone()
                    }
                };
                Op::RenameOver { from, to }
            }
            7 => {
                let (a, b) = SWAPS[self.rng.usize(0..SWAPS.len())];
                Op::Swap {
                    a: a.to_string(),
                    b: b.to_string(),
                }
            }
            8 => {
                let r = &mut self.rng;
                let absolute = r.bool();
                match r.u8(0..4) {
                    0 => Op::Symlink {
                        path: "app/data".to_string(),
                        target: "spare/data_dir".to_string(),
                        absolute,
                    },
                    1 => Op::Symlink {
                        path: format!("{which_crate}/src/sub"),
                        target: "spare/sub_dir".to_string(),
                        absolute,
                    },
                    _ => {
                        let path = LIVE[r.usize(0..LIVE.len())].to_string();
                        let kind = kind_of(&path).unwrap();
                        Op::Symlink {
                            target: kind.spare_name(r.u32(0..3)),
                            path,
                            absolute,
                        }
                    }
                }
            }
            9 => {
                let r = &mut self.rng;
                let path = LIVE[r.usize(0..LIVE.len())].to_string();
                let name = path.rsplit('/').next().unwrap();
                let link = format!("spare/h{}_{name}", r.u32(0..3));
                let write = r.bool().then(|| (value(r), pad(r)));
                Op::HardLink { path, link, write }
            }
            10 => Op::FlipSub { krate: which_crate },
            11 => Op::Shadow {
                krate: which_crate,
                v: value(&mut self.rng),
            },
            12 => Op::Restore,
            13 => Op::SetEnv(ENV_VALUES[self.rng.usize(0..ENV_VALUES.len())]),
            14 => Op::WipeTargets,
            15 => Op::Rewrite {
                same: self.rng.bool(),
            },
            _ => Op::Sleep([0, 1, 12][self.rng.usize(0..3)]),
        }
    }

    /// Writes `rel` in place, creating its parent directories.
    fn write(&self, rel: &str, text: &str) -> io::Result<()> {
        let p = self.p(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d)?;
        }
        fs::write(p, text)
    }

    fn write_kind(&self, rel: &str, v: u32, pad: usize) -> io::Result<()> {
        match kind_of(rel) {
            Some(k) => self.write(rel, &content(k, v, pad)),
            None => Ok(()),
        }
    }

    /// Recreates `dir` from a snapshot; with `new_values` every file whose
    /// kind its name tells gets new content.
    fn restore_snapshot(
        &mut self,
        dir: &Path,
        snap: &[(PathBuf, Entry)],
        new_values: bool,
        keep_mtimes: bool,
    ) -> io::Result<String> {
        let mut note = String::new();
        for (rel, e) in snap {
            let p = join(dir, rel);
            match e {
                Entry::Dir => fs::create_dir(&p)?,
                Entry::Link(t) => std::os::unix::fs::symlink(t, &p)?,
                Entry::File { bytes, mtime } => {
                    let kind = kind_of(&p.to_string_lossy());
                    match kind {
                        Some(k) if new_values => {
                            let (v, pd) = (value(&mut self.rng), pad(&mut self.rng));
                            let _ = write!(note, " {}={v}", rel.display());
                            fs::write(&p, content(k, v, pd))?;
                        }
                        _ => fs::write(&p, bytes)?,
                    }
                    if keep_mtimes {
                        set_times(&p, *mtime, None)?;
                    }
                }
            }
        }
        Ok(note)
    }

    /// Makes `rel` (a spare file or tree) if it does not exist: a copy of
    /// `like` with new values when given, else a file of its kind, with an
    /// hour-old mtime half of the time (a backup, say: cargo does not see
    /// it when it is moved into place).
    fn ensure_spare(&mut self, rel: &str, like: Option<&str>) -> io::Result<String> {
        let p = self.p(rel);
        if fs::symlink_metadata(&p).is_ok() {
            return Ok(String::new());
        }
        fs::create_dir_all(p.parent().unwrap())?;
        let old = self.rng.bool();
        let note = match like.map(|l| snapshot(&self.p(l))) {
            Some(Ok(snap)) => {
                let n = self.restore_snapshot(&p, &snap, true, false)?;
                format!(" (made {rel} as a copy of {}:{n})", like.unwrap())
            }
            _ => {
                let (v, pd) = (value(&mut self.rng), pad(&mut self.rng));
                match kind_of(rel) {
                    Some(k) => fs::write(&p, content(k, v, pd))?,
                    None => fs::create_dir_all(&p)?,
                }
                format!(" (made {rel} v={v})")
            }
        };
        if old {
            for (r, e) in snapshot(&p)? {
                if let Entry::File { .. } = e {
                    set_times(
                        &join(&p, &r),
                        SystemTime::now() - Duration::from_secs(3600),
                        None,
                    )?;
                }
            }
        }
        Ok(note + if old { " (an hour old)" } else { "" })
    }

    fn rewrite(&mut self, same: bool) -> io::Result<()> {
        if !same {
            let r = &mut self.rng;
            self.baseline = LIVE.iter().map(|_| (value(r), pad(r))).collect();
        }
        remove_all(&self.p("app"))?;
        remove_all(&self.p("dep"))?;
        self.write("Cargo.toml", WORKSPACE)?;
        self.write("dep/Cargo.toml", DEP_MANIFEST)?;
        self.write("app/Cargo.toml", APP_MANIFEST)?;
        for (i, f) in LIVE.iter().enumerate() {
            let (v, pd) = self.baseline[i];
            self.write_kind(f, v, pd)?;
        }
        Ok(())
    }

    /// Applies `op`; a note for the log (values drawn, what happened).
    fn apply(&mut self, op: &Op) -> io::Result<String> {
        match op {
            Op::Write {
                path,
                v,
                pad,
                keep_mtime,
            } => {
                let p = self.p(path);
                let before = fs::metadata(&p).ok();
                self.write_kind(path, *v, *pad)?;
                if let (true, Some(m)) = (*keep_mtime, before) {
                    set_times(&p, m.modified()?, Some(m.accessed()?))?;
                }
                Ok(String::new())
            }
            Op::SameSize { path, v } => {
                let p = self.p(path);
                let m = fs::metadata(&p)?;
                let mut bytes = fs::read(&p)?;
                // The first run of exactly four digits.
                let at = (0..bytes.len().saturating_sub(3)).find(|&i| {
                    bytes[i..i + 4].iter().all(u8::is_ascii_digit)
                        && (i == 0 || !bytes[i - 1].is_ascii_digit())
                        && bytes.get(i + 4).is_none_or(|b| !b.is_ascii_digit())
                });
                let Some(at) = at else {
                    return Ok(" (no value: nothing done)".into());
                };
                let old: u32 = std::str::from_utf8(&bytes[at..at + 4])
                    .unwrap()
                    .parse()
                    .unwrap();
                let new = if *v == old {
                    1000 + (v - 1000 + 1) % 6
                } else {
                    *v
                };
                bytes[at..at + 4].copy_from_slice(new.to_string().as_bytes());
                fs::write(&p, &bytes)?;
                set_times(&p, m.modified()?, Some(m.accessed()?))?;
                Ok(format!(" ({old} -> {new})"))
            }
            Op::Replace { path, v, pad } => {
                let Some(k) = kind_of(path) else {
                    return Ok(String::new());
                };
                let tmp = format!("{path}.fuzz-tmp");
                self.write(&tmp, &content(k, *v, *pad))?;
                fs::rename(self.p(&tmp), self.p(path))?;
                Ok(String::new())
            }
            Op::Touch { path } => {
                set_times(&self.p(path), SystemTime::now(), None)?;
                Ok(String::new())
            }
            Op::Delete { path } => {
                fs::remove_file(self.p(path))?;
                Ok(String::new())
            }
            Op::Recreate {
                dir,
                new_values,
                keep_mtimes,
            } => {
                let p = self.p(dir);
                let snap = snapshot(&p)?;
                remove_all(&p)?;
                self.restore_snapshot(&p, &snap, *new_values, *keep_mtimes)
            }
            Op::RenameOver { from, to } => {
                fs::rename(self.p(from), self.p(to))?;
                Ok(String::new())
            }
            Op::Swap { a, b } => {
                let note = if fs::symlink_metadata(self.p(a)).is_ok() {
                    self.ensure_spare(b, Some(a))?
                } else {
                    String::new()
                };
                let tmp = self.p("spare/swap.fuzz-tmp");
                fs::create_dir_all(tmp.parent().unwrap())?;
                remove_all(&tmp)?;
                fs::rename(self.p(a), &tmp)?;
                fs::rename(self.p(b), self.p(a))?;
                fs::rename(&tmp, self.p(b))?;
                Ok(note)
            }
            Op::Symlink {
                path,
                target,
                absolute,
            } => {
                let p = self.p(path);
                let mut note = String::new();
                // A directory link's missing target is made like the
                // directory it replaces.
                let mut like = kind_of(path).is_none().then(|| path.clone());
                // A real directory moves into the spare area first; it may
                // become the very target.
                if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                    let aside = format!("spare/moved{}", self.rng.u32(0..2));
                    remove_all(&self.p(&aside))?;
                    fs::create_dir_all(self.p("spare"))?;
                    fs::rename(&p, self.p(&aside))?;
                    let _ = write!(note, " (moved {path} to {aside})");
                    if self.rng.bool() {
                        remove_all(&self.p(target))?;
                        fs::rename(self.p(&aside), self.p(target))?;
                        let _ = write!(note, " (then to {target})");
                    } else {
                        like = Some(aside);
                    }
                }
                note += &self.ensure_spare(target, like.as_deref())?;
                let link_text = if *absolute {
                    self.p(target)
                } else {
                    let depth = path.matches('/').count();
                    PathBuf::from(format!("{}{target}", "../".repeat(depth)))
                };
                let tmp = self.p(&format!("{path}.fuzz-link"));
                remove_all(&tmp)?;
                std::os::unix::fs::symlink(&link_text, &tmp)?;
                fs::rename(&tmp, &p)?;
                Ok(note)
            }
            Op::HardLink { path, link, write } => {
                let l = self.p(link);
                fs::create_dir_all(l.parent().unwrap())?;
                remove_all(&l)?;
                fs::hard_link(self.p(path), &l)?;
                if let Some((v, pd)) = write {
                    self.write_kind(link, *v, *pd)?;
                }
                Ok(String::new())
            }
            Op::FlipSub { krate } => {
                let dir = format!("{krate}/src/sub");
                let (modrs, subrs) = (
                    self.p(&format!("{dir}/mod.rs")),
                    self.p(&format!("{dir}.rs")),
                );
                if fs::symlink_metadata(&subrs).is_ok() {
                    fs::create_dir_all(self.p(&dir))?;
                    fs::rename(&subrs, &modrs)?;
                    Ok(" (sub.rs -> sub/mod.rs)".into())
                } else {
                    fs::rename(&modrs, &subrs)?;
                    Ok(" (sub/mod.rs -> sub.rs)".into())
                }
            }
            Op::Shadow { krate, v } => {
                self.write(
                    &format!("{krate}/src/m/mod.rs"),
                    &content(Kind::Module, *v, 0),
                )?;
                Ok(String::new())
            }
            Op::Restore => {
                let mut note = String::new();
                for k in ["app", "dep"] {
                    remove_all(&self.p(&format!("{k}/src/m")))?;
                    let subrs = self.p(&format!("{k}/src/sub.rs"));
                    if fs::symlink_metadata(&subrs).is_ok() {
                        remove_all(&subrs)?;
                        note += &format!(" rm {k}/src/sub.rs");
                    }
                    if fs::metadata(self.p(&format!("{k}/Cargo.toml"))).is_err() {
                        let m = if k == "app" {
                            APP_MANIFEST
                        } else {
                            DEP_MANIFEST
                        };
                        self.write(&format!("{k}/Cargo.toml"), m)?;
                    }
                }
                for (i, f) in LIVE.iter().enumerate() {
                    if fs::metadata(self.p(f)).is_ok() {
                        continue;
                    }
                    // A dangling link on the way is removed.
                    let mut at = PathBuf::new();
                    for c in Path::new(f).components() {
                        at.push(c);
                        let p = self.p(&at.to_string_lossy());
                        if fs::symlink_metadata(&p).is_ok() && fs::metadata(&p).is_err() {
                            fs::remove_file(&p)?;
                        }
                    }
                    let (v, pd) = self.baseline[i];
                    self.write_kind(f, v, pd)?;
                    note += &format!(" {f}");
                }
                Ok(note)
            }
            Op::SetEnv(v) => {
                self.fuzz_env = v;
                Ok(String::new())
            }
            Op::WipeTargets => {
                remove_all(&self.target(true))?;
                remove_all(&self.target(false))?;
                Ok(String::new())
            }
            Op::Rewrite { same } => {
                self.rewrite(*same)?;
                Ok(String::new())
            }
            Op::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(String::new())
            }
        }
    }

    /// `cargo build --offline` with a clean environment (see
    /// [`cargo_cmd`]), through ccd or bare.
    fn cargo_build(&self, through_ccd: bool) -> Output {
        cargo_cmd(&self.env, &self.target(through_ccd), through_ccd)
            .args(["build", "--offline"])
            .env("FUZZ_ENV", self.fuzz_env)
            .output()
            .unwrap()
    }

    fn stable_stderr(&self, out: &Output, through_ccd: bool) -> String {
        stable_stderr(out, &self.target(through_ccd))
    }

    fn artifacts(&self, through_ccd: bool) -> BTreeMap<String, Vec<u8>> {
        artifacts(&self.target(through_ccd))
    }

    /// Runs the built program, if there is one: exit code and stdout.
    fn run_app(&self, through_ccd: bool) -> Option<(Option<i32>, String)> {
        let bin = self.target(through_ccd).join("debug/app");
        if !bin.exists() {
            return None;
        }
        let out = Command::new(&bin).output().unwrap();
        Some((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let watch = std::env::var("CCD_TEST_WATCH").unwrap_or_else(|_| "(default)".into());
        let watch_var = match std::env::var("CCD_TEST_WATCH") {
            Ok(w) => format!("CCD_TEST_WATCH={w} "),
            Err(_) => String::new(),
        };
        panic!(
            "fs_fuzz_rust: seed {} step {} (watch {watch}): {what}\n\nsteps so far:\n{}\n\nrerun: {watch_var}CCD_FUZZ_SEED={} CCD_FUZZ_STEPS={} cargo test -p ccd --test integration fs_fuzz_rust:: -- --nocapture",
            self.seed,
            self.step,
            self.log.join("\n"),
            self.seed,
            self.step,
        );
    }

    /// Builds through ccd and bare, in random order, and compares.
    fn build_and_compare(&mut self) {
        let ccd_first = self.rng.bool();
        let ((ours, bare), m) = self.env.counting(|| {
            if ccd_first {
                let o = self.cargo_build(true);
                (o, self.cargo_build(false))
            } else {
                let b = self.cargo_build(false);
                (self.cargo_build(true), b)
            }
        });
        let (hits, misses) = (m.hits, m.misses);
        self.stats.hits += hits;
        self.stats.misses += misses;
        if hits + misses > 0 {
            self.stats.compiled += 1;
        }
        if !bare.status.success() {
            self.stats.failed_builds += 1;
        }
        let last = self.log.last_mut().unwrap();
        let _ = write!(
            last,
            "\n      built {} first: exit {:?}, through ccd {hits} hit(s) {misses} miss(es)",
            if ccd_first { "through ccd" } else { "bare" },
            bare.status.code()
        );

        let bare_err = self.stable_stderr(&bare, false);
        if ours.status.code() != bare.status.code() {
            self.fail(&format!(
                "cargo's exit code through ccd {:?}, bare {:?}\n--- stderr through ccd:\n{}\n--- bare:\n{bare_err}",
                ours.status.code(),
                bare.status.code(),
                self.stable_stderr(&ours, true)
            ));
        }
        let ours_err = self.stable_stderr(&ours, true);
        if ours_err != bare_err || ours.stdout != bare.stdout {
            self.fail(&format!(
                "cargo's output differs\n--- stderr through ccd:\n{ours_err}\n--- bare:\n{bare_err}"
            ));
        }
        let (a, b) = (self.artifacts(true), self.artifacts(false));
        if a.keys().ne(b.keys()) {
            self.fail(&format!(
                "target/debug holds other files through ccd: {:?}, bare: {:?}",
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>()
            ));
        }
        for (name, bytes) in &b {
            if a[name] != *bytes {
                self.fail(&format!(
                    "{name} differs from the bare build's ({} vs {} bytes)",
                    a[name].len(),
                    bytes.len()
                ));
            }
        }
        let (ra, rb) = (self.run_app(true), self.run_app(false));
        if ra != rb {
            self.fail(&format!(
                "the program's output through ccd: {ra:?}, bare: {rb:?}"
            ));
        }
        if let Some((_, out)) = rb {
            let last = self.log.last_mut().unwrap();
            let _ = write!(last, "; prints {:?}", out.trim_end());
            self.outputs.insert(out);
        }
    }

    fn run(&mut self, steps: usize) {
        let first = self
            .rewrite(true)
            .map(|_| " (the project written)".to_string());
        self.log.push(format!("  0: {first:?}"));
        self.build_and_compare();
        for step in 1..=steps {
            self.step = step;
            let n = 1 + self.rng.usize(0..3);
            let mut line = format!("{step:3}:");
            for _ in 0..n {
                let op = self.choose();
                let res = self.apply(&op);
                match res {
                    Ok(note) => {
                        let _ = write!(line, " {op:?}{note};");
                    }
                    Err(e) => {
                        let _ = write!(line, " {op:?} -> {e};");
                    }
                }
            }
            // The pause before building: ccd also sees inputs written
            // within its timestamp tick.
            let ms = [0, 1, 12][self.rng.usize(0..3)];
            let _ = write!(line, " sleep {ms} ms");
            std::thread::sleep(Duration::from_millis(ms));
            self.log.push(line);
            self.build_and_compare();
            self.stats.steps += 1;
        }
    }
}

fn env_num(key: &str) -> Option<u64> {
    std::env::var(key).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v} is not a number"))
    })
}

#[test]
fn rustc_through_ccd_matches_bare_cargo_under_random_filesystem_changes() {
    require_tool("cargo");
    let steps = env_num("CCD_FUZZ_STEPS").map_or(DEFAULT_STEPS, |n| n as usize);
    let seeds: Vec<u64> = match (env_num("CCD_FUZZ_SEED"), env_num("CCD_FUZZ_SEEDS")) {
        (Some(s), _) => vec![s],
        (None, Some(n)) => {
            let base = fastrand::u64(..u64::MAX / 2);
            eprintln!("fs_fuzz_rust: soak over seeds {base}..{}", base + n);
            (base..base + n).collect()
        }
        (None, None) => DEFAULT_SEEDS.to_vec(),
    };
    let mut total = Stats::default();
    for seed in seeds {
        let start = std::time::Instant::now();
        let mut f = Fuzz::new(seed);
        f.run(steps);
        let s = f.stats;
        eprintln!(
            "fs_fuzz_rust: seed {seed}: {} steps in {:.1} s, rustc ran through ccd in {} ({} hits, {} misses), {} failing builds, {} distinct program outputs",
            s.steps,
            start.elapsed().as_secs_f64(),
            s.compiled,
            s.hits,
            s.misses,
            s.failed_builds,
            f.outputs.len()
        );
        if std::env::var_os("CCD_FUZZ_LOG").is_some() {
            eprintln!("{}", f.log.join("\n"));
        }
        total.steps += s.steps;
        total.hits += s.hits;
        total.misses += s.misses;
        total.compiled += s.compiled;
        // Dropping the environment stops its daemon.
        drop(f);
    }
    // A fuzzer whose compiles all miss tests nothing of the cache.
    if total.steps >= 20 {
        assert!(
            total.hits >= 5,
            "only {} of the rustc compiles through ccd were hits",
            total.hits
        );
    }
}
