//! Helpers shared by the robustness tests (store damage, crashes, full
//! disks, eviction, security): finding the daemon of a cache directory,
//! killing it, generated multi-file projects built with make, the socket
//! path, and a small deterministic random number generator.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{CCD, Env, stderr};

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

/// The pids of the live `ccd daemon` processes serving `cache` (found by
/// their command line and their `CCD_DIR`), zombies excluded.
pub fn daemon_pids(cache: &Path) -> Vec<u32> {
    let mut want = b"CCD_DIR=".to_vec();
    want.extend_from_slice(cache.as_os_str().as_bytes());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_daemon = argv.len() >= 2
            && argv[1] == b"daemon"
            && Path::new(std::ffi::OsStr::from_bytes(argv[0]))
                .file_name()
                .is_some_and(|n| n == "ccd");
        if !is_daemon || process_is_gone(pid) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == want.as_slice()) {
            pids.push(pid);
        }
    }
    pids
}

pub fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for a reaper is dead too.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Sends `sig` to `pid`; whether the process existed.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Kills `pid` with SIGKILL and waits until it is gone.
pub fn kill_and_wait(pid: u32) {
    assert!(signal(pid, "KILL"), "daemon {pid} was not running");
    wait_gone(pid);
}

pub fn wait_gone(pid: u32) {
    let t = Instant::now();
    while !process_is_gone(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "process {pid} is still alive"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until process `pid` holds no file lock (its `daemon.lock`): a
/// killed process may still be torn down, its lock held, for a few
/// milliseconds after it is reported dead (a zombie). Tests that restart
/// the daemon on purpose wait for the lock to be free, so that the restart
/// is not a race with the old daemon (`persistence.rs` tests that race).
pub fn wait_locks_released(pid: u32) {
    let pid = pid.to_string();
    let t = Instant::now();
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        let held = locks
            .lines()
            .any(|l| l.split_whitespace().nth(4) == Some(pid.as_str()));
        if !held {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "process {pid} still holds a lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Stops `env`'s daemon (if one runs) with `ccd stop` and waits until it
/// is entirely gone.
pub fn stop_daemon(env: &Env) {
    let pids = daemon_pids(&env.cache);
    env.stop();
    for pid in pids {
        wait_gone(pid);
        wait_locks_released(pid);
    }
}

/// Kills `env`'s daemon with SIGKILL and waits until it is entirely gone;
/// returns its pid.
pub fn kill_daemon(env: &Env) -> u32 {
    let pid = env.daemon_pid();
    kill_and_wait(pid);
    wait_locks_released(pid);
    pid
}

/// The real uid of this process (what `getuid` returns).
pub fn uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("Uid in /proc/self/status")
}

/// Where the daemon of `cache` listens, by the documented rule: the socket
/// directory is `$XDG_RUNTIME_DIR/ccd/` when that variable is an absolute
/// path, else `/tmp/ccd-<uid>/`; the name is the 64-bit FNV-1a of the cache
/// directory's path as `{:016x}.sock`.
pub fn socket_path(cache: &Path, runtime_dir: Option<&Path>) -> PathBuf {
    let dir = match runtime_dir {
        Some(r) if r.is_absolute() => r.join("ccd"),
        _ => PathBuf::from(format!("/tmp/ccd-{}", uid())),
    };
    let hash = cache
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    dir.join(format!("{hash:016x}.sock"))
}

/// The socket of `env`'s daemon, with this process's `XDG_RUNTIME_DIR`
/// (which the commands of `env` inherit).
pub fn env_socket(env: &Env) -> PathBuf {
    let rt = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    socket_path(&env.cache, rt.as_deref().map(Path::new))
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

pub fn object_names(n: usize) -> Vec<String> {
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
    let mut c = Command::new("make");
    c.args(["-j8", "--no-print-directory", &format!("CC={cc_var}")])
        .current_dir(build);
    if let Some(env) = env {
        c.env("CCD_DIR", &env.cache)
            .env("CCD_IDLE_TIMEOUT", "120")
            .env_remove("CCD_DISABLE");
        if let Ok(w) = std::env::var("CCD_TEST_WATCH") {
            c.env("CCD_WATCH", w);
        }
    }
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

pub fn read_objects(build: &Path, n: usize) -> BTreeMap<String, Vec<u8>> {
    object_names(n)
        .into_iter()
        .map(|o| {
            let bytes = std::fs::read(build.join(&o))
                .unwrap_or_else(|e| panic!("{}: {e}", build.join(&o).display()));
            (o, bytes)
        })
        .collect()
}

/// Builds the project bare (`make CC=<compiler>`) in `build` and returns
/// the objects.
pub fn bare_build(build: &Path, src: &Path, n: usize, compiler: &str) -> BTreeMap<String, Vec<u8>> {
    write_makefile(build, src, n);
    let out = make(build, compiler, None);
    assert!(out.status.success(), "bare build: {}", stderr(&out));
    read_objects(build, n)
}

/// Panics unless every object in `build` equals the bare build's.
pub fn assert_objects_equal(build: &Path, bare: &BTreeMap<String, Vec<u8>>, what: &str) {
    let ours = read_objects(build, bare.len());
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

/// Runs `ccd <compiler> args` with `cmd` (a `ccd` command prepared by the
/// caller, e.g. with extra environment) and the bare compiler, in `env`'s
/// work directory, and asserts the same exit code, stdout, stderr and
/// `files`; the failure message shows both stderrs.
pub fn assert_like_bare_with(
    env: &Env,
    mut cmd: Command,
    compiler: &str,
    args: &[&str],
    files: &[&str],
) -> Output {
    env.settle();
    for f in files {
        let _ = std::fs::remove_file(env.path(f));
    }
    let ours = cmd.arg(compiler).args(args).output().unwrap();
    let our_files: Vec<Option<Vec<u8>>> = files
        .iter()
        .map(|f| std::fs::read(env.path(f)).ok())
        .collect();
    for f in files {
        let _ = std::fs::remove_file(env.path(f));
    }
    let bare = env.bare(compiler, args);
    let what = format!("{compiler} {args:?}");
    assert_eq!(
        ours.status.code(),
        bare.status.code(),
        "exit code of {what}\nthrough ccd, stderr:\n{}\nbare, stderr:\n{}",
        stderr(&ours),
        stderr(&bare)
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&bare.stdout),
        "stdout of {what}"
    );
    assert_eq!(stderr(&ours), stderr(&bare), "stderr of {what}");
    for (f, ours) in files.iter().zip(our_files) {
        let theirs = std::fs::read(env.path(f)).ok();
        assert!(
            ours == theirs,
            "{f} differs from the bare compiler's ({what})"
        );
    }
    ours
}

/// [`assert_like_bare_with`] with `env`'s own `ccd` command.
pub fn assert_like_bare(env: &Env, compiler: &str, args: &[&str], files: &[&str]) -> Output {
    assert_like_bare_with(env, env.ccd(), compiler, args, files)
}
