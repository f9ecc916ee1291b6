//! A real autoconf `configure`: jemalloc's, as shipped in the
//! `tikv-jemalloc-sys` crate, run five times with `CC="ccd gcc"` in a build
//! directory wiped and recreated at the same path before each run. Every
//! run must conclude what a bare `CC=gcc` run in that path concludes: the
//! same `checking ...` results, the same `*_cv_*` cache variables in
//! config.log and byte-identical generated headers and files.
//!
//! Configure is a hard case for a cache: hundreds of tiny `conftest.c`
//! compiled at the same path, deleted and rewritten with other contents, in
//! a directory that itself comes and goes, and every verdict hangs on a
//! compile's exit code. A stale hit turns a "no" into a "yes" (a watcher
//! that missed the directory's recreation once made this very script
//! decide "checking whether compiler is cray... yes").
//!
//! The test fetches the crate itself (`cargo fetch` in a throw-away
//! project, as `lua_build` does), so it works on a fresh machine with
//! access to crates.io.

use crate::harness::cargo::fetch_crate;
use crate::harness::{CCD, Env, require_tool};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CRATE: &str = "tikv-jemalloc-sys";
const CRATE_VERSION: &str = "=0.7.1";
const CCD_RUNS: usize = 5;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// What a configure run concluded, with the ccd command line written back
/// to plain `gcc` so a ccd run compares with the bare one.
struct Outcome {
    stdout: String,
    /// The `*_cv_*=` lines of config.log.
    cache_vars: Vec<String>,
    /// Every file configure left in the build directory but config.log
    /// (which holds temporary file names) and config.status (which splits
    /// the long CC line where it pleases; what it generates is compared),
    /// by relative path.
    files: BTreeMap<String, Vec<u8>>,
}

/// Writes `cc` (the ccd command line) back to `gcc`, in every quoting
/// configure gives it.
fn normalize(bytes: &[u8], cc: &str) -> Vec<u8> {
    let s = String::from_utf8_lossy(bytes);
    s.replace(&format!("'\\''CC={cc}'\\''"), "CC=gcc")
        .replace(&format!("'CC={cc}'"), "CC=gcc")
        .replace(&format!("'{cc}'"), "gcc")
        .replace(cc, "gcc")
        .into_bytes()
}

fn collect_files(root: &Path, dir: &Path, cc: &str, files: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        if e.file_type().unwrap().is_dir() {
            collect_files(root, &path, cc, files);
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel != "config.log" && rel != "config.status" {
            files.insert(rel, normalize(&std::fs::read(&path).unwrap(), cc));
        }
    }
}

/// A cache variable's line in config.log: `ac_cv_...=` (autoconf's) or
/// `je_cv_...=` (jemalloc's own, `je_cv_cray` among them).
fn is_cache_var(line: &str) -> bool {
    line.split_once('=').is_some_and(|(name, _)| {
        name.split_once("_cv_")
            .is_some_and(|(pre, _)| !pre.is_empty() && pre.chars().all(|c| c.is_ascii_lowercase()))
    })
}

/// Wipes `build` (same path again), runs `src/configure` in it with `cc`
/// and returns what it concluded. `env`: through ccd, with its daemon.
fn configure(env: Option<&Env>, src: &Path, build: &Path, cc: &str, version: &str) -> Outcome {
    if build.exists() {
        std::fs::remove_dir_all(build).unwrap();
    }
    std::fs::create_dir(build).unwrap();
    // Through ccd: the environment's settings (private cache, CCD_WATCH
    // from CCD_TEST_WATCH).
    let mut c = match env {
        Some(env) => env.command("sh"),
        None => Command::new("sh"),
    };
    // The options tikv-jemalloc-sys's build script passes.
    c.arg(src.join("configure"))
        .arg(format!("--with-version={version}"))
        .args(["--disable-cxx", "--enable-doc=no", "--enable-shared=no"])
        .env("CC", cc)
        .current_dir(build);
    // Output to files, not pipes: a daemon the first compile starts keeps
    // configure's descriptor 6 (its stdout), and reading a pipe to its end
    // would wait for the daemon to exit.
    let out_path = build.with_extension("stdout");
    let err_path = build.with_extension("stderr");
    let status = c
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    let out = std::fs::read(&out_path).unwrap();
    let log = std::fs::read(build.join("config.log")).unwrap_or_default();
    assert!(
        status.success(),
        "configure with CC={cc} failed: {}\n{}\n--- end of config.log:\n{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()),
        String::from_utf8_lossy(&log[log.len().saturating_sub(4000)..])
    );
    let stdout = String::from_utf8(normalize(&out, cc)).unwrap();
    let cache_vars = String::from_utf8(normalize(&log, cc))
        .unwrap()
        .lines()
        .filter(|l| is_cache_var(l))
        .map(str::to_string)
        .collect();
    let mut files = BTreeMap::new();
    collect_files(build, build, cc, &mut files);
    Outcome {
        stdout,
        cache_vars,
        files,
    }
}

/// The lines only `bare` has and the lines only `ours` has (at most 10
/// each), empty when the two are the same text.
fn line_diffs(bare: &str, ours: &str) -> Vec<String> {
    if bare == ours {
        return Vec::new();
    }
    // Lines of `a` that `b` lacks, counting repeats, in `a`'s order.
    fn only_in<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
        let mut left: BTreeMap<&str, usize> = BTreeMap::new();
        for l in b.lines() {
            *left.entry(l).or_default() += 1;
        }
        a.lines()
            .filter(|l| match left.get_mut(l) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .collect()
    }
    let mut v: Vec<String> = only_in(bare, ours)
        .into_iter()
        .take(10)
        .map(|l| format!("  bare only: {l}"))
        .collect();
    v.extend(
        only_in(ours, bare)
            .into_iter()
            .take(10)
            .map(|l| format!("  ccd only:  {l}")),
    );
    if v.is_empty() {
        v.push("  same lines in another order".into());
    }
    v
}

/// How `ours` differs from `bare`, empty when it does not.
fn differences(bare: &Outcome, ours: &Outcome) -> Vec<String> {
    let mut v = Vec::new();
    let d = line_diffs(&bare.stdout, &ours.stdout);
    if !d.is_empty() {
        v.push(format!("configure's output:\n{}", d.join("\n")));
    }
    let d = line_diffs(&bare.cache_vars.join("\n"), &ours.cache_vars.join("\n"));
    if !d.is_empty() {
        v.push(format!("cache variables in config.log:\n{}", d.join("\n")));
    }
    let names: std::collections::BTreeSet<&String> =
        bare.files.keys().chain(ours.files.keys()).collect();
    for name in names {
        match (bare.files.get(name), ours.files.get(name)) {
            (Some(b), Some(o)) if b == o => {}
            (Some(b), Some(o)) => v.push(format!(
                "{name}:\n{}",
                line_diffs(&String::from_utf8_lossy(b), &String::from_utf8_lossy(o)).join("\n")
            )),
            (b, _) => v.push(format!(
                "{name}: {}",
                if b.is_some() { "missing" } else { "extra" }
            )),
        }
    }
    v
}

#[test]
fn configure_five_times_in_a_recreated_dir_equals_bare() {
    require_tool("gcc");
    let sh = Command::new("sh").args(["-c", "exit 0"]).status();
    assert!(
        sh.is_ok_and(|s| s.success()),
        "sh is required by the test suite but does not run"
    );
    let (root, crate_version) = fetch_crate(CRATE, CRATE_VERSION);
    // "0.7.1+5.3.1-0-g<commit>": jemalloc's version after the `+`.
    let version = crate_version
        .split_once('+')
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no jemalloc version in {CRATE} {crate_version}"));

    let env = Env::new();
    // The crate keeps the generated script apart from the sources; put it
    // back in place as the crate's build script does.
    let src = env.path("jemalloc");
    copy_tree(&root.join("jemalloc"), &src);
    std::fs::copy(root.join("configure/configure"), src.join("configure")).unwrap();
    let build = env.path("build");

    let t = Instant::now();
    let bare = configure(None, &src, &build, "gcc", version);
    eprintln!("bare configure: {:.1?}", t.elapsed());
    let header = "include/jemalloc/internal/jemalloc_internal_defs.h";
    assert!(bare.files.contains_key(header), "no {header}");
    assert!(
        bare.stdout
            .contains("checking whether compiler is cray... no"),
        "bare run: {}",
        bare.stdout
    );
    assert!(
        bare.cache_vars.iter().any(|l| l == "je_cv_cray=no"),
        "bare run's cache variables: {:?}",
        bare.cache_vars
    );

    let cc = format!("{CCD} gcc");
    let mut failures = Vec::new();
    for run in 1..=CCD_RUNS {
        let t = Instant::now();
        let ours = configure(Some(&env), &src, &build, &cc, version);
        let counts = env.counts();
        eprintln!("ccd run {run}: {:.1?}, {counts:?}", t.elapsed());
        let d = differences(&bare, &ours);
        if !d.is_empty() {
            failures.push(format!("run {run} of {CCD_RUNS}:\n{}", d.join("\n")));
        }
        if run == 2 {
            assert!(
                counts.hits > 0,
                "no hits after two identical configure runs: {counts:?}"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "configure through ccd concluded otherwise than bare:\n{}",
        failures.join("\n\n")
    );
}
