//! Masquerade mode: symlinks named like compilers pointing at ccd, first in
//! PATH. `gcc -c a.c` through the symlink is cached, equals the real
//! compiler's output, and the symlink never finds itself.

use crate::harness::{CCD, COMPILERS, Env, Outcome, stderr};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NAMES: &[&str] = &["gcc", "g++", "cc", "c++", "clang", "clang++"];

/// A directory of compiler-named symlinks to ccd.
fn shim_dir(env: &Env, name: &str) -> PathBuf {
    let dir = env.root.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for n in NAMES {
        std::os::unix::fs::symlink(CCD, dir.join(n)).unwrap();
    }
    dir
}

fn path_with(first: &[&Path]) -> OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = first.iter().map(|p| p.to_path_buf()).collect();
    dirs.extend(std::env::split_paths(&rest));
    std::env::join_paths(dirs).unwrap()
}

/// `name args...` run by name (looked up in `path`, as a shell would), in
/// the work directory, with this environment's cache; fails the test if it
/// runs for more than 20 s (a wrapper that calls itself never ends).
fn run_named(env: &Env, path: &OsString, name: &str, args: &[&str]) -> Output {
    env.settle();
    // This environment's variables (CCD_DIR, ...) on a command that runs
    // `name`.
    let mut child = env
        .command(name)
        .args(args)
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{name} {args:?}` through the masquerade symlink did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn masq_expect(env: &Env, expect: Outcome, path: &OsString, cc: &str, args: &[&str]) -> Output {
    let (out, m) = env.counting(|| run_named(env, path, cc, args));
    m.assert_outcome(expect, &format!("{cc} {args:?}"), &out);
    out
}

/// Which file `name` resolves to in `path`, as the shell sees it.
fn which(path: &OsString, name: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .env("PATH", path)
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn symlink_named_like_the_compiler_caches() {
    for cc in COMPILERS {
        let env = Env::new();
        let shims = shim_dir(&env, "shims");
        let path = path_with(&[&shims]);
        assert_eq!(which(&path, cc), shims.join(cc), "the shim must come first");
        env.write(
            "src/a.c",
            "#include \"h.h\"\nint f(void) { return H * 2; }\n",
        );
        env.write("src/h.h", "#define H 21\n");
        let args = ["-O2", "-Wall", "-c", "src/a.c", "-o", "a.o"];

        let miss = masq_expect(&env, Outcome::Miss, &path, cc, &args);
        assert!(miss.status.success(), "{cc}: {}", stderr(&miss));
        let first = env.read("a.o");
        std::fs::remove_file(env.path("a.o")).unwrap();
        let hit = masq_expect(&env, Outcome::Hit, &path, cc, &args);
        assert!(hit.status.success(), "{cc}: {}", stderr(&hit));
        assert_eq!(env.read("a.o"), first, "{cc}");

        let bare = env.bare(cc, &args);
        assert_eq!(hit.status.code(), bare.status.code(), "{cc}");
        assert_eq!(stderr(&hit), stderr(&bare), "{cc}");
        assert_eq!(
            env.read("a.o"),
            first,
            "{cc}: differs from the bare compiler's"
        );

        // `ccd gcc` finds the same real compiler: the same entry.
        std::fs::remove_file(env.path("a.o")).unwrap();
        env.settle();
        let (out, m) = env.counting(|| {
            env.ccd()
                .env("PATH", &path)
                .arg(cc)
                .args(args)
                .output()
                .unwrap()
        });
        m.assert_outcome(Outcome::Hit, &format!("{cc} {args:?}"), &out);
        assert_eq!(env.read("a.o"), first, "{cc}");

        // A header edit through the symlink misses and matches the compiler.
        env.write("src/h.h", "#define H 22\n");
        masq_expect(&env, Outcome::Miss, &path, cc, &args);
        let edited = env.read("a.o");
        env.bare(cc, &args);
        assert_eq!(env.read("a.o"), edited, "{cc}");
        assert_ne!(edited, first, "{cc}");
    }
}

/// Only ccd symlinks in PATH: the symlink must not run itself; it fails at
/// once (exit 127) with a message, and produces nothing.
#[test]
fn symlink_alone_in_path_does_not_recurse() {
    let env = Env::new();
    let shims = shim_dir(&env, "shims");
    let shims2 = shim_dir(&env, "more-shims");
    env.write("a.c", "int f(void) { return 1; }\n");
    for path in [
        std::env::join_paths([&shims]).unwrap(),
        std::env::join_paths([&shims, &shims2, &shims]).unwrap(),
    ] {
        for cc in NAMES {
            let start = Instant::now();
            let out = run_named(&env, &path, cc, &["-c", "a.c", "-o", "a.o"]);
            assert_eq!(out.status.code(), Some(127), "{cc}: {}", stderr(&out));
            assert!(!stderr(&out).is_empty(), "{cc}: no message");
            assert!(!env.path("a.o").exists(), "{cc}: an object from nowhere");
            assert!(start.elapsed() < Duration::from_secs(5), "{cc}: too slow");
        }
    }
}

/// Two shim directories, the second a chain of symlinks to the first's,
/// both before the real compiler: each is skipped, the real compiler runs
/// once, and the result is cached.
#[test]
fn chained_shims_find_the_real_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        let shims = shim_dir(&env, "shims");
        let chain = env.root.path().join("chain");
        std::fs::create_dir_all(&chain).unwrap();
        std::os::unix::fs::symlink(shims.join(cc), chain.join(cc)).unwrap();
        let path = path_with(&[&chain, &shims, &chain]);
        env.write("a.c", "int f(int x) { return x + 5; }\n");
        let args = ["-c", "a.c", "-o", "a.o"];
        masq_expect(&env, Outcome::Miss, &path, cc, &args);
        let o = env.read("a.o");
        masq_expect(&env, Outcome::Hit, &path, cc, &args);
        assert_eq!(env.read("a.o"), o, "{cc}");
        env.bare(cc, &args);
        assert_eq!(env.read("a.o"), o, "{cc}: differs from the bare compiler's");
    }
}
