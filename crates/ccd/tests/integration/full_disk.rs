//! The cache directory on a small tmpfs that fills up: every compile still
//! succeeds with the bare compiler's output (object, streams, exit code),
//! whether the daemon could store it or not.
//!
//! Mounting needs root, which CI has; a failed mount fails the test.

use crate::harness::daemon::{daemon_pids, signal, wait_gone, wait_locks_released};
use crate::harness::{CCD, COMPILERS, Env, stderr};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted at a directory for the guard's lifetime. Dropping it
/// stops the daemon using it and unmounts, also when the test failed.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (this test needs root): {}",
            dir.display(),
            stderr(&out)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Bytes still free on the tmpfs.
    fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("df: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // The daemon keeps its lock and log open on the tmpfs.
        let pids = daemon_pids(&self.dir);
        let _ = Command::new(CCD)
            .arg("stop")
            .env("CCD_DIR", &self.dir)
            .output();
        for pid in pids {
            signal(pid, "KILL");
            wait_gone(pid);
            wait_locks_released(pid);
        }
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// A source whose object is around 10 KB (a table of data), distinct per
/// `i`, quick to compile.
fn big_source(i: usize) -> String {
    let mut s = format!("static const unsigned table_{i}[2400] = {{\n");
    for k in 0..2400usize {
        let _ = write!(s, "{}u,", (k * 2654435761 + i * 40503) % 4294967291);
        if k % 16 == 15 {
            s.push('\n');
        }
    }
    let _ = write!(
        s,
        "}};\nunsigned lookup_{i}(unsigned k) {{ return table_{i}[k % 2400] ^ {i}u; }}\n"
    );
    s
}

#[test]
fn compiles_succeed_when_the_cache_filesystem_is_full() {
    let env = Env::new();
    let fs = Tmpfs::mount(&env.cache, "300k");
    const N: usize = 50;
    for i in 0..N {
        env.write(&format!("t{i:02}.c"), &big_source(i));
    }
    // A warning, so that stderr is part of what must match.
    env.write(
        "warn.c",
        "int f(int x) { int unused; return x; }\nint g(void) { return 1 }\n",
    );
    env.write("ok.c", "int h(int x) { int unused = 2; return x; }\n");

    let mut compiled = 0;
    for round in 0..2 {
        for i in 0..N {
            let src = format!("t{i:02}.c");
            let obj = format!("t{i:02}.o");
            let cc = if i % 2 == 0 { "gcc" } else { "clang" };
            let args = ["-O1", "-c", src.as_str(), "-o", obj.as_str()];
            let out = env.like_bare(cc, &args, &[obj.as_str()]).run().out;
            assert!(
                out.status.success(),
                "round {round}: {cc} {src}: {}",
                stderr(&out)
            );
            compiled += 1;
        }
        // A failing compile and one with a warning, on a full cache.
        for cc in COMPILERS {
            env.like_bare(cc, &["-c", "warn.c", "-o", "warn.o"], &["warn.o"])
                .run();
            env.like_bare(
                cc,
                &["-Wall", "-c", "ok.c", "-o", "ok.o", "-MD"],
                &["ok.o", "ok.d"],
            )
            .run();
        }
    }

    // The cache really filled up: not everything could be stored.
    let s = env.status();
    let entries = s["entries"].as_u64().unwrap();
    assert!(
        (entries as usize) < N,
        "all {N} objects fit: the cache never filled ({s})"
    );
    assert!(
        fs.available() < 40 * 1024,
        "{} bytes still free: the cache never filled",
        fs.available()
    );
    eprintln!("{compiled} compiles, {entries} stored; {s}");
    // The daemon survived it.
    let pid = env.daemon_pid();
    env.like_bare("gcc", &["-c", "ok.c", "-o", "ok.o"], &["ok.o"])
        .run();
    assert_eq!(env.daemon_pid(), pid);
}
