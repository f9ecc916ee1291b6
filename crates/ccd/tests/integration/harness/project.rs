//! Generated projects and what tests do with files: multi-file C projects
//! built with `make -j8` (bare or through ccd) and their objects compared,
//! the files of the store, checkouts, byte searches, mtimes, and a small
//! reproducible random number generator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::env::{CCD, Env, stderr};

/// A xorshift generator: reproducible from its seed, which tests print.
pub struct Rng(u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        eprintln!("random seed {seed}");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Every regular file (or other non-directory) under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => out.extend(files_under(&p)),
            Ok(_) => out.push(p),
            Err(_) => {}
        }
    }
    out.sort();
    out
}

/// The files of one store area (`blobs`, `results`, `manifests`).
pub fn store_files(env: &Env, area: &str) -> Vec<PathBuf> {
    files_under(&env.cache.join(area))
}

/// The files of the cache directory with their sizes, one per line (for
/// failure messages).
pub fn cache_listing(env: &Env) -> String {
    files_under(&env.cache)
        .iter()
        .map(|p| {
            format!(
                "  {} {}\n",
                p.strip_prefix(&env.cache).unwrap().display(),
                std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
            )
        })
        .collect()
}

/// A C source of moderate size (a few tens of milliseconds at `-O2`) that
/// differs by `i`, so every file has its own object.
pub fn c_source(i: usize) -> String {
    format!(
        r#"#include <stdio.h>
#include <string.h>
#include "common.h"

struct rec{i} {{ char name[24]; int v[8]; }};

static int mix{i}(const struct rec{i} *r, int n) {{
    int acc = {i};
    for (int k = 0; k < n; k++) {{
        for (int j = 0; j < 8; j++)
            acc = SCRAMBLE(acc + r[k].v[j] * (j + {i}));
        acc ^= (int)strlen(r[k].name);
    }}
    return acc;
}}

int entry_{i}(int n) {{
    struct rec{i} recs[16];
    memset(recs, 0, sizeof recs);
    for (int k = 0; k < 16; k++) {{
        snprintf(recs[k].name, sizeof recs[k].name, "item-%d-%d", {i}, k);
        for (int j = 0; j < 8; j++)
            recs[k].v[j] = k * j + n;
    }}
    int r = mix{i}(recs, n < 16 ? n : 16);
    if (r == {i} * 7919)
        printf("lucky %d\n", r);
    return r;
}}
"#
    )
}

pub const COMMON_H: &str = "#define SCRAMBLE(x) (((x) << 5) ^ ((x) >> 3) ^ 0x5bd1e995)\n";

/// A project of `n` generated sources in `src` (with `common.h`).
pub fn write_sources(src: &Path, n: usize) {
    std::fs::create_dir_all(src).unwrap();
    std::fs::write(src.join("common.h"), COMMON_H).unwrap();
    for i in 0..n {
        std::fs::write(src.join(format!("f{i:02}.c")), c_source(i)).unwrap();
    }
}

fn object_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i:02}.o")).collect()
}

/// A build directory whose Makefile compiles every source of `src` from
/// inside `src` (so every build directory asks for the same compiles, only
/// `-o` differs) into the build directory.
pub fn write_makefile(build: &Path, src: &Path, n: usize) {
    std::fs::create_dir_all(build).unwrap();
    let objs = object_names(n).join(" ");
    let makefile = format!(
        "SRC := {src}\nOBJS := {objs}\n\n\
         all: $(OBJS)\n\n\
         %.o: $(SRC)/%.c $(SRC)/common.h\n\tcd $(SRC) && $(CC) -O2 -c $*.c -o $(CURDIR)/$@\n\n\
         clean:\n\trm -f $(OBJS)\n\n.PHONY: all clean\n",
        src = src.display(),
    );
    std::fs::write(build.join("Makefile"), makefile).unwrap();
}

/// `make -j8 CC=<cc_var>` in `build`; through `env`'s cache when given.
pub fn make_cmd(build: &Path, cc_var: &str, env: Option<&Env>) -> Command {
    let mut c = match env {
        Some(env) => env.command("make"),
        None => Command::new("make"),
    };
    c.args(["-j8", "--no-print-directory", &format!("CC={cc_var}")])
        .current_dir(build);
    c
}

pub fn make(build: &Path, cc_var: &str, env: Option<&Env>) -> Output {
    make_cmd(build, cc_var, env).output().unwrap()
}

pub fn make_clean(build: &Path) {
    let out = Command::new("make")
        .arg("clean")
        .current_dir(build)
        .output()
        .unwrap();
    assert!(out.status.success(), "make clean: {}", stderr(&out));
}

/// `"<ccd> <compiler>"`, for `make CC=...`.
pub fn ccd_cc(compiler: &str) -> String {
    format!("{CCD} {compiler}")
}

/// The objects `names` in `build`, with their content.
pub fn read_objects(build: &Path, names: &[String]) -> BTreeMap<String, Vec<u8>> {
    names
        .iter()
        .map(|o| {
            let bytes = std::fs::read(build.join(o))
                .unwrap_or_else(|e| panic!("{}: {e}", build.join(o).display()));
            (o.clone(), bytes)
        })
        .collect()
}

/// Builds the project bare (`make CC=<compiler>`) in `build` and returns
/// the objects.
pub fn bare_build(build: &Path, src: &Path, n: usize, compiler: &str) -> BTreeMap<String, Vec<u8>> {
    write_makefile(build, src, n);
    let out = make(build, compiler, None);
    assert!(out.status.success(), "bare build: {}", stderr(&out));
    read_objects(build, &object_names(n))
}

/// Panics unless every object of `bare` is in `build` with the same bytes.
pub fn assert_objects_equal(build: &Path, bare: &BTreeMap<String, Vec<u8>>, what: &str) {
    let names: Vec<String> = bare.keys().cloned().collect();
    let ours = read_objects(build, &names);
    let differing: Vec<&String> = ours
        .iter()
        .filter(|(name, bytes)| bare.get(*name) != Some(*bytes))
        .map(|(name, _)| name)
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: objects differing from the bare build: {differing:?}"
    );
}

/// Compiles `args` bare in `env`'s work directory and returns the bytes of
/// `obj` (which is then removed).
pub fn bare_object(env: &Env, compiler: &str, args: &[&str], obj: &str) -> Vec<u8> {
    let _ = std::fs::remove_file(env.path(obj));
    let out = env.bare(compiler, args);
    assert!(out.status.success(), "bare {compiler}: {}", stderr(&out));
    let bytes = env.read(obj);
    std::fs::remove_file(env.path(obj)).unwrap();
    bytes
}

/// Whether `needle` occurs in `hay` (what `strings | grep` would find).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// For files created by other means than [`Env::write`] (a precompiled
/// header produced by a compile, say): ccd does not store a compile whose
/// inputs changed just before it started.
pub fn let_age() {
    std::thread::sleep(Duration::from_millis(60));
}

/// Writes `content` to `path` and sets its modification time back to what
/// it was (an editor or tool restoring the old mtime after a same-size
/// edit).
pub fn write_keeping_mtime(path: &Path, content: &str) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

/// A checkout: a directory with a `.git` directory, under the work dir.
pub fn checkout(env: &Env, name: &str) -> PathBuf {
    let root = env.path(name);
    std::fs::create_dir_all(root.join(".git")).unwrap();
    root
}
