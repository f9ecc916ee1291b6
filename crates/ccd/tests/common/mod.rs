//! Test harness: a private cache directory (hence a private daemon), a work
//! directory, and helpers to compile through ccd and bare, side by side.
//!
//! Tests drive the real gcc and clang; a missing compiler fails the test
//! loudly (CI installs them through the README's test command).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const CCD: &str = env!("CARGO_BIN_EXE_ccd");

/// Which compilers every test runs against.
pub const COMPILERS: &[&str] = &["gcc", "clang"];

pub struct Env {
    pub root: tempfile::TempDir,
    pub cache: PathBuf,
    pub work: PathBuf,
    last_write: std::cell::Cell<Option<Instant>>,
    /// Variables set (`Some`) or removed (`None`) for every command this
    /// environment runs, through ccd and bare alike.
    vars: std::cell::RefCell<Vec<(String, Option<String>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub non_cacheable: u64,
    pub errors: u64,
}

/// What a compile through ccd turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Passthrough,
}

pub fn require_tool(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is required by the test suite but is not installed (run the README's test command)"
    );
}

impl Env {
    pub fn new() -> Env {
        for c in COMPILERS {
            require_tool(c);
        }
        let root = tempfile::Builder::new()
            .prefix("ccd-test")
            .tempdir()
            .unwrap();
        let cache = root.path().join("cache");
        let work = root.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        Env {
            root,
            cache,
            work,
            last_write: std::cell::Cell::new(None),
            vars: std::cell::RefCell::new(Vec::new()),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    /// Writes a file under the work directory (creating directories).
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        self.last_write.set(Some(Instant::now()));
    }

    /// Writes an executable file (a script) under the work directory, in
    /// place (same inode when it exists, as most editors do).
    pub fn write_exec(&self, rel: &str, content: &str) {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, content);
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Sets `key` for every command this environment runs (ccd and bare).
    pub fn set_var(&self, key: &str, value: &str) {
        self.vars
            .borrow_mut()
            .push((key.to_string(), Some(value.to_string())));
    }

    /// Removes `key` from every command this environment runs.
    pub fn remove_var(&self, key: &str) {
        self.vars.borrow_mut().push((key.to_string(), None));
    }

    fn apply_vars(&self, c: &mut Command) {
        for (k, v) in self.vars.borrow().iter() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// ccd does not store a compile whose inputs changed within a few
    /// milliseconds of its start (it cannot tell before from during); like a
    /// person who edits and then builds, let fresh writes age a little.
    pub fn settle(&self) {
        if let Some(t) = self.last_write.get() {
            let min = Duration::from_millis(40);
            let e = t.elapsed();
            if e < min {
                std::thread::sleep(min - e);
            }
        }
    }

    /// A `ccd` command with this environment's cache, run in the work dir.
    pub fn ccd(&self) -> Command {
        let mut c = Command::new(CCD);
        c.env("CCD_DIR", &self.cache)
            .env("CCD_IDLE_TIMEOUT", "120")
            .env_remove("CCD_DISABLE")
            .current_dir(&self.work);
        // The whole suite also runs with the file watcher off
        // (CCD_TEST_WATCH=0): every layer must be correct without it.
        if let Ok(w) = std::env::var("CCD_TEST_WATCH") {
            c.env("CCD_WATCH", w);
        }
        self.apply_vars(&mut c);
        c
    }

    /// `ccd <compiler> args...` in the work directory.
    pub fn cc(&self, compiler: &str, args: &[&str]) -> Output {
        self.cc_in(&self.work, compiler, args)
    }

    /// `ccd <compiler> args...` in `dir`.
    pub fn cc_in(&self, dir: &Path, compiler: &str, args: &[&str]) -> Output {
        self.settle();
        self.ccd()
            .current_dir(dir)
            .arg(compiler)
            .args(args)
            .output()
            .unwrap()
    }

    /// The compiler alone, same directory.
    pub fn bare(&self, compiler: &str, args: &[&str]) -> Output {
        self.bare_in(&self.work, compiler, args)
    }

    /// The compiler alone, in `dir`.
    pub fn bare_in(&self, dir: &Path, compiler: &str, args: &[&str]) -> Output {
        let mut c = Command::new(compiler);
        c.args(args).current_dir(dir);
        self.apply_vars(&mut c);
        c.output().unwrap()
    }

    /// The pid of this environment's daemon (started if not running).
    pub fn daemon_pid(&self) -> u32 {
        let s = self.status();
        s["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("status lacks pid: {s}")) as u32
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.ccd().args(["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "ccd status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn counts(&self) -> Counts {
        let s = self.status();
        let n = |k: &str| {
            s[k].as_u64()
                .unwrap_or_else(|| panic!("status lacks {k}: {s}"))
        };
        Counts {
            hits: n("hits"),
            misses: n("misses"),
            non_cacheable: n("non_cacheable"),
            errors: n("errors"),
        }
    }

    /// Compiles through ccd and checks how the daemon handled it.
    pub fn cc_expect(&self, expect: Outcome, compiler: &str, args: &[&str]) -> Output {
        self.cc_expect_in(expect, &self.work, compiler, args)
    }

    /// [`Env::cc_expect`] with `dir` as the working directory.
    pub fn cc_expect_in(
        &self,
        expect: Outcome,
        dir: &Path,
        compiler: &str,
        args: &[&str],
    ) -> Output {
        let before = self.counts();
        let out = self.cc_in(dir, compiler, args);
        let after = self.counts();
        check_outcome(expect, before, after, compiler, args, &out);
        out
    }

    /// Runs the compile through ccd and bare, and asserts identical exit
    /// code, stdout, stderr and `files` (paths relative to the work dir).
    pub fn assert_same_as_bare(&self, compiler: &str, args: &[&str], files: &[&str]) -> Output {
        self.same_as_bare(None, &self.work, compiler, args, files)
    }

    /// [`Env::assert_same_as_bare`], also checking how the daemon handled
    /// the compile through ccd.
    pub fn assert_same_as_bare_expect(
        &self,
        expect: Outcome,
        compiler: &str,
        args: &[&str],
        files: &[&str],
    ) -> Output {
        self.same_as_bare(Some(expect), &self.work, compiler, args, files)
    }

    /// [`Env::assert_same_as_bare_expect`] with `dir` as the working
    /// directory; `files` are relative to `dir`.
    pub fn assert_same_as_bare_expect_in(
        &self,
        expect: Outcome,
        dir: &Path,
        compiler: &str,
        args: &[&str],
        files: &[&str],
    ) -> Output {
        self.same_as_bare(Some(expect), dir, compiler, args, files)
    }

    fn same_as_bare(
        &self,
        expect: Option<Outcome>,
        dir: &Path,
        compiler: &str,
        args: &[&str],
        files: &[&str],
    ) -> Output {
        for f in files {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let ours = match expect {
            Some(e) => self.cc_expect_in(e, dir, compiler, args),
            None => self.cc_in(dir, compiler, args),
        };
        let our_files: Vec<Option<Vec<u8>>> = files
            .iter()
            .map(|f| std::fs::read(dir.join(f)).ok())
            .collect();
        for f in files {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let bare = self.bare_in(dir, compiler, args);
        assert_eq!(
            ours.status.code(),
            bare.status.code(),
            "exit code of {compiler} {args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&bare.stdout),
            "stdout of {compiler} {args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&bare.stderr),
            "stderr of {compiler} {args:?}"
        );
        for (f, ours) in files.iter().zip(our_files) {
            let theirs = std::fs::read(dir.join(f)).ok();
            assert!(
                ours == theirs,
                "{f} differs from the bare compiler's ({compiler} {args:?})"
            );
        }
        ours
    }

    pub fn stop(&self) {
        let _ = self.ccd().arg("stop").output();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Which of hit, miss or passthrough the counters say happened between
/// `before` and `after`; panics unless it is `expect`.
pub fn check_outcome(
    expect: Outcome,
    before: Counts,
    after: Counts,
    compiler: &str,
    args: &[&str],
    out: &Output,
) {
    let got = if after.hits == before.hits + 1 {
        Outcome::Hit
    } else if after.misses == before.misses + 1 {
        Outcome::Miss
    } else if after.non_cacheable == before.non_cacheable + 1 {
        Outcome::Passthrough
    } else {
        panic!(
            "{compiler} {args:?}: no counter moved: {before:?} -> {after:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert_eq!(
        got,
        expect,
        "{compiler} {args:?}: stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "command failed: {}", stderr(o));
}

/// The source directory of crate `name` at `version` (a requirement such
/// as `=0.7.1`) and the version found: fetched with cargo into a
/// throw-away project (downloaded on a fresh machine with access to
/// crates.io; offline, the local registry may have it already).
pub fn fetch_crate(name: &str, version: &str) -> (PathBuf, String) {
    let cargo = || Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let proj = tempfile::Builder::new()
        .prefix("ccd-fetch")
        .tempdir()
        .unwrap();
    std::fs::write(
        proj.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"ccd-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{name} = \"{version}\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(proj.path().join("src")).unwrap();
    std::fs::write(proj.path().join("src/lib.rs"), "").unwrap();
    let fetch = cargo()
        .arg("fetch")
        .current_dir(proj.path())
        .output()
        .unwrap();
    let mut meta = cargo();
    meta.args(["metadata", "--format-version", "1"]);
    if !fetch.status.success() {
        meta.arg("--offline");
    }
    let out = meta.current_dir(proj.path()).output().unwrap();
    assert!(
        out.status.success(),
        "cannot fetch {name} {version}: {}\n{}",
        stderr(&fetch),
        stderr(&out)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} in cargo metadata"));
    let manifest = Path::new(pkg["manifest_path"].as_str().unwrap());
    let found = pkg["version"].as_str().unwrap().to_string();
    (manifest.parent().unwrap().to_path_buf(), found)
}

/// Removes from `c` every variable of the `cargo test` running us that
/// would reach a cargo or rustc it starts (cargo's own, rustc's, ccd's).
pub fn without_cargo_env(c: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO")
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTFLAGS")
            || k.starts_with("RUSTDOC")
            || k.starts_with("CCD_")
            || k == "OUT_DIR"
        {
            c.env_remove(k.as_ref());
        }
    }
}
