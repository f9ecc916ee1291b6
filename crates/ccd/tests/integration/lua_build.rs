//! A real C project: the Lua 5.4 sources shipped in the `lua-src` crate,
//! built with `make -j8` through ccd: objects equal a bare build's, a
//! rebuild is all hits, and killing the daemon in the middle of a parallel
//! build neither fails the build nor leaves a wrong result behind.
//!
//! The test fetches the crate itself (`cargo fetch` in a throw-away
//! project), so it works on a fresh machine with access to crates.io.

use crate::harness::cargo::fetch_crate;
use crate::harness::daemon::{process_is_gone, signal};
use crate::harness::project::{assert_objects_equal, make, make_clean, make_cmd, read_objects};
use crate::harness::{CCD, COMPILERS, Env, require_tool, stderr};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LUA_SRC_VERSION: &str = "=551.1.0";

/// The directory holding the Lua 5.4 `.c` files of the `lua-src` crate.
fn lua_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(find_lua_dir)
}

fn find_lua_dir() -> PathBuf {
    let (root, _) = fetch_crate("lua-src", LUA_SRC_VERSION);
    let root = root.as_path();
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lua-5.4"))
        })
        .collect();
    candidates.sort();
    let dir = candidates
        .pop()
        .unwrap_or_else(|| panic!("no lua-5.4.* in {}", root.display()));
    // Upstream tarballs keep the sources in src/; lua-src has them at the top.
    for d in [dir.join("src"), dir.clone()] {
        if d.join("lapi.c").is_file() {
            return d;
        }
    }
    panic!("no lapi.c under {}", dir.display());
}

/// The object names of the library: every `.c` but the two programs.
fn lua_objects() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(lua_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".c")?;
            (stem != "lua" && stem != "luac").then(|| format!("{stem}.o"))
        })
        .collect();
    v.sort();
    assert!(v.len() >= 25, "too few Lua sources: {v:?}");
    v
}

/// A build directory with a Makefile compiling every library source.
fn make_project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let objs = lua_objects().join(" ");
    let makefile = format!(
        "SRCDIR := {src}\nOBJS := {objs}\n\n\
         all: $(OBJS)\n\n\
         %.o: $(SRCDIR)/%.c\n\t$(CC) -O2 -c $< -o $@\n\n\
         clean:\n\trm -f $(OBJS)\n\n.PHONY: all clean\n",
        src = lua_dir().display(),
    );
    std::fs::write(dir.join("Makefile"), makefile).unwrap();
}

/// The objects of a bare `make CC=<cc>` build, built once per compiler.
fn bare_objects(cc: &str) -> &'static BTreeMap<String, Vec<u8>> {
    static GCC: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    static CLANG: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    let cell = match cc {
        "gcc" => &GCC,
        "clang" => &CLANG,
        other => panic!("no bare build for {other}"),
    };
    cell.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("ccd-lua-bare")
            .tempdir()
            .unwrap();
        make_project(dir.path());
        let out = make(dir.path(), cc, None);
        assert!(out.status.success(), "bare {cc} build: {}", stderr(&out));
        read_objects(dir.path(), &lua_objects())
    })
}

fn assert_objects_equal_bare(dir: &Path, cc: &str, what: &str) {
    assert_objects_equal(dir, bare_objects(cc), &format!("{what} ({cc})"));
}

/// Nothing but the Makefile and the objects in a build directory (no
/// temporary files of ccd's).
fn assert_no_stray_files(dir: &Path, what: &str) {
    let mut expected = lua_objects();
    expected.push("Makefile".into());
    let stray: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !expected.contains(n))
        .collect();
    assert!(stray.is_empty(), "{what}: files left behind: {stray:?}");
}

fn require_tools() {
    require_tool("make");
    require_tool("gcc");
    require_tool("clang");
}

/// `make -j8 CC="ccd <cc>"` twice with a clean in between: the first build
/// is all misses, the second all hits, and every object equals the bare
/// build's both times.
#[test]
fn lua_build_twice_is_all_hits_and_equals_bare() {
    require_tools();
    for cc in COMPILERS {
        let env = Env::new();
        let n = lua_objects().len() as u64;
        let dir = env.path("lua");
        make_project(&dir);
        let cc_var = format!("{CCD} {cc}");

        let first = make(&dir, &cc_var, Some(&env));
        assert!(
            first.status.success(),
            "{cc} first build: {}",
            stderr(&first)
        );
        let c1 = env.counts();
        assert_eq!(c1.misses, n, "{cc} first build: {c1:?}");
        assert_eq!(c1.hits, 0, "{cc} first build: {c1:?}");
        assert_eq!(c1.non_cacheable, 0, "{cc} first build: {c1:?}");
        assert_eq!(c1.errors, 0, "{cc} first build: {c1:?}");
        let s = env.status();
        assert_eq!(s["entries"], n, "{cc}: every object stored: {s}");
        assert_objects_equal_bare(&dir, cc, "first build");

        make_clean(&dir);
        let second = make(&dir, &cc_var, Some(&env));
        assert!(
            second.status.success(),
            "{cc} second build: {}",
            stderr(&second)
        );
        let m = env.counts().since(c1);
        assert_eq!(m.hits, n, "{cc} second build: {m}");
        assert_eq!(m.misses, 0, "{cc} second build: {m}");
        assert_objects_equal_bare(&dir, cc, "second build");
        assert_no_stray_files(&dir, "second build");
    }
}

/// Starts `make` and, once the first object exists (compiles are in
/// flight), kills the daemon with SIGKILL. Returns make's output.
fn build_killing_daemon(env: &Env, dir: &Path, cc_var: &str, what: &str) -> Output {
    let pid = env.daemon_pid();
    let mut child: Child = make_cmd(dir, cc_var, Some(env))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let objs = lua_objects();
    let start = Instant::now();
    loop {
        if objs.iter().any(|o| dir.join(o).exists()) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what}: make ended before any object appeared"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: no object after 60 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    kill(pid, "KILL");
    let still_building = child.try_wait().unwrap().is_none();
    let out = child.wait_with_output().unwrap();
    assert!(
        still_building,
        "{what}: the build finished before the daemon was killed"
    );
    let t = Instant::now();
    while !process_is_gone(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: daemon {pid} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    out
}

fn kill(pid: u32, sig: &str) {
    assert!(signal(pid, sig), "kill -{sig} {pid}");
}

/// Stops the daemon, starts `make`, lets its first compiles connect and
/// wait, then kills the daemon. The waiting compiles must not hang (the
/// client's lookup timeout is 20 s) and the build must succeed.
fn build_killing_stopped_daemon(env: &Env, dir: &Path, cc_var: &str) -> Output {
    let pid = env.daemon_pid();
    kill(pid, "STOP");
    let child = make_cmd(dir, cc_var, Some(env))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let waiting = !lua_objects().iter().any(|o| dir.join(o).exists());
    kill(pid, "KILL");
    let killed_at = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        waiting,
        "objects appeared while the daemon was stopped: compiles did not wait for it"
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(15),
        "the build took {:?} after the daemon died",
        killed_at.elapsed()
    );
    let t = Instant::now();
    while !process_is_gone(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "daemon {pid} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    out
}

/// The daemon is killed (SIGKILL) while `make -j8` runs: the build
/// succeeds with the bare objects; the next build (daemon restarted) has no
/// wrong hit and a later one is all hits. Then killed with hit requests in
/// flight.
#[test]
fn daemon_killed_during_parallel_build() {
    require_tools();
    let cc = "gcc";
    let env = Env::new();
    let n = lua_objects().len() as u64;
    let dir = env.path("lua");
    make_project(&dir);
    let cc_var = format!("{CCD} {cc}");
    let first_pid = env.daemon_pid();

    // Cold build, daemon killed in the middle.
    let out = build_killing_daemon(&env, &dir, &cc_var, "cold build");
    assert!(out.status.success(), "cold build failed: {}", stderr(&out));
    assert_objects_equal_bare(&dir, cc, "cold build with the daemon killed");
    assert_no_stray_files(&dir, "cold build with the daemon killed");

    // Next build: a daemon is back, every object is still right.
    make_clean(&dir);
    let next_pid = env.daemon_pid();
    assert_ne!(next_pid, first_pid, "the killed daemon is still answering");
    let (out, m) = env.counting(|| make(&dir, &cc_var, Some(&env)));
    assert!(
        out.status.success(),
        "build after the kill: {}",
        stderr(&out)
    );
    assert_objects_equal_bare(&dir, cc, "build after the kill");
    assert_eq!(
        m.hits + m.misses,
        n,
        "every compile went through the restarted daemon: {m}"
    );
    assert_eq!(m.non_cacheable, 0, "{m}");

    // Everything is stored now: all hits, still right.
    make_clean(&dir);
    let (out, m) = env.counting(|| make(&dir, &cc_var, Some(&env)));
    assert!(out.status.success(), "warm build: {}", stderr(&out));
    assert_eq!(m.hits, n, "warm build: {m}");
    assert_objects_equal_bare(&dir, cc, "warm build");

    // Killed again, this time with hit requests waiting: the daemon is
    // stopped (SIGSTOP) so the build's first compiles connect and wait for
    // an answer, then it is killed.
    make_clean(&dir);
    let out = build_killing_stopped_daemon(&env, &dir, &cc_var);
    assert!(
        out.status.success(),
        "warm build with a kill: {}",
        stderr(&out)
    );
    assert_objects_equal_bare(&dir, cc, "warm build with the daemon killed");
    assert_no_stray_files(&dir, "warm build with the daemon killed");
    make_clean(&dir);
    let out = make(&dir, &cc_var, Some(&env));
    assert!(out.status.success(), "final build: {}", stderr(&out));
    assert_objects_equal_bare(&dir, cc, "final build");
}
