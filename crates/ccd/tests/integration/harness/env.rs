//! A test's environment: a private cache directory (hence a private
//! daemon), a work directory, and the commands that run in it.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
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
    last_write: Cell<Option<Instant>>,
    /// Variables set (`Some`) or removed (`None`) for every command this
    /// environment runs, through ccd and bare alike.
    vars: RefCell<Vec<(String, Option<String>)>>,
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

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "command failed: {}", stderr(o));
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
            last_write: Cell::new(None),
            vars: RefCell::new(Vec::new()),
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

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Sets `key` for every command this environment runs (ccd and bare).
    /// The test process's own environment is shared by every test and is
    /// never changed.
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

    /// Puts this environment's ccd settings on `c`: its cache, a long idle
    /// timeout, the file watcher as the suite runs it (`CCD_TEST_WATCH`; the
    /// whole suite also runs with the watcher off, and every layer must be
    /// correct without it), and the variables of [`Env::set_var`].
    pub fn ccd_settings<'c>(&self, c: &'c mut Command) -> &'c mut Command {
        c.env("CCD_DIR", &self.cache)
            .env("CCD_IDLE_TIMEOUT", "120")
            .env_remove("CCD_DISABLE");
        if let Ok(w) = std::env::var("CCD_TEST_WATCH") {
            c.env("CCD_WATCH", w);
        }
        self.apply_vars(c);
        c
    }

    /// `program` in the work directory with this environment's ccd
    /// settings: for `make CC="ccd gcc"`, a configure script, a compiler
    /// found through masquerade symlinks.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        self.ccd_settings(&mut c).current_dir(&self.work);
        c
    }

    /// A `ccd` command with this environment's cache, run in the work dir.
    pub fn ccd(&self) -> Command {
        self.command(CCD)
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

    /// The compiler alone, in the work directory.
    pub fn bare(&self, compiler: &str, args: &[&str]) -> Output {
        self.bare_in(&self.work, compiler, args)
    }

    /// The compiler alone, in `dir`, with the variables of
    /// [`Env::set_var`].
    pub fn bare_in(&self, dir: &Path, compiler: &str, args: &[&str]) -> Output {
        let mut c = Command::new(compiler);
        c.args(args).current_dir(dir);
        self.apply_vars(&mut c);
        c.output().unwrap()
    }

    /// `ccd status --json` (starting the daemon if none runs).
    pub fn status(&self) -> serde_json::Value {
        let out = self.ccd().args(["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "ccd status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The pid of this environment's daemon (started if not running).
    pub fn daemon_pid(&self) -> u32 {
        let s = self.status();
        s["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("status lacks pid: {s}")) as u32
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
