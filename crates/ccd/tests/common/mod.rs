//! Test harness: a private cache directory (hence a private daemon), a work
//! directory, and helpers to compile through ccd and bare, side by side.
//!
//! Tests drive the real gcc and clang; a missing compiler fails the test
//! loudly (CI installs them through the README's test command).

#![allow(dead_code)]

use std::path::PathBuf;
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
        c
    }

    /// `ccd <compiler> args...` in the work directory.
    pub fn cc(&self, compiler: &str, args: &[&str]) -> Output {
        self.settle();
        self.ccd().arg(compiler).args(args).output().unwrap()
    }

    /// The compiler alone, same directory.
    pub fn bare(&self, compiler: &str, args: &[&str]) -> Output {
        Command::new(compiler)
            .args(args)
            .current_dir(&self.work)
            .output()
            .unwrap()
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
        let before = self.counts();
        let out = self.cc(compiler, args);
        let after = self.counts();
        let got = if after.hits == before.hits + 1 {
            Outcome::Hit
        } else if after.misses == before.misses + 1 {
            Outcome::Miss
        } else if after.non_cacheable == before.non_cacheable + 1 {
            Outcome::Passthrough
        } else {
            panic!("no counter moved: {before:?} -> {after:?}")
        };
        assert_eq!(
            got,
            expect,
            "{compiler} {args:?}: stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs the compile through ccd and bare, and asserts identical exit
    /// code, stdout, stderr and `files` (paths relative to the work dir).
    pub fn assert_same_as_bare(&self, compiler: &str, args: &[&str], files: &[&str]) -> Output {
        for f in files {
            let _ = std::fs::remove_file(self.path(f));
        }
        let ours = self.cc(compiler, args);
        let our_files: Vec<Option<Vec<u8>>> = files
            .iter()
            .map(|f| std::fs::read(self.path(f)).ok())
            .collect();
        for f in files {
            let _ = std::fs::remove_file(self.path(f));
        }
        let bare = self.bare(compiler, args);
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
            let theirs = std::fs::read(self.path(f)).ok();
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

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "command failed: {}", stderr(o));
}
