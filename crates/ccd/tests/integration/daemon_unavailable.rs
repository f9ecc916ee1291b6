//! When the daemon cannot start, compiles still succeed, exactly as the bare
//! compiler's, and without a noticeable delay.
//!
//! Tests run as root in CI, so permission bits cannot stop the daemon;
//! instead the cache directory or the socket directory is made impossible
//! by putting a regular file where a directory must be.

use crate::harness::{CCD, COMPILERS, Env, assert_ok, stderr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long one compile of a tiny file through ccd may take when the daemon
/// cannot start: the compile itself plus one failed daemon start. On a
/// loaded machine the bound grows with the bare compile's time, but stays
/// below the client's daemon start timeout (3 s).
fn max_compile(bare: Duration) -> Duration {
    Duration::from_millis(800).max(bare * 3)
}

const SRC: &str = "#include <stdio.h>\nint f(int x) {\n  int unused = 2;\n  printf(\"%d\\n\", x);\n  return x;\n}\n";

/// `ccd` with the given extra environment, in the work directory.
fn ccd_with(env: &Env, vars: &[(&str, &Path)]) -> Command {
    let mut c = env.ccd();
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// Three compiles per compiler through ccd with `vars`: each equals the bare
/// compiler's (exit code, streams, object) and is quick. A failing compile
/// too.
fn compiles_like_bare_and_quickly(env: &Env, vars: &[(&str, &Path)]) {
    // The setup really keeps the daemon from starting.
    let status = ccd_with(env, vars)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        !status.status.success(),
        "the daemon started anyway: {}",
        String::from_utf8_lossy(&status.stdout)
    );

    env.write("a.c", SRC);
    env.write("bad.c", "int f(void) { return }\n");
    for cc in COMPILERS {
        for (args, ok) in [
            (&["-Wall", "-c", "a.c", "-o", "a.o"][..], true),
            (&["-c", "bad.c", "-o", "bad.o"][..], false),
        ] {
            let obj = args[args.len() - 1];
            for round in 0..3 {
                let c = env
                    .like_bare(cc, args, &[obj])
                    .command(ccd_with(env, vars))
                    .run();
                assert_eq!(
                    c.out.status.success(),
                    ok,
                    "{cc} {args:?}: {}",
                    stderr(&c.out)
                );
                assert!(
                    c.took < max_compile(c.bare_took),
                    "{cc} {args:?} round {round}: took {:?} without a daemon \
                     (bare: {:?})",
                    c.took,
                    c.bare_took
                );
            }
        }
    }
}

#[test]
fn cache_dir_is_a_regular_file() {
    let env = Env::new();
    let file = env.root.path().join("cache-file");
    std::fs::write(&file, "not a directory\n").unwrap();
    compiles_like_bare_and_quickly(&env, &[("CCD_DIR", &file)]);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory\n");
}

#[test]
fn cache_dir_parent_is_a_regular_file() {
    let env = Env::new();
    let file = env.root.path().join("parent-file");
    std::fs::write(&file, "x").unwrap();
    let cache = file.join("cache");
    compiles_like_bare_and_quickly(&env, &[("CCD_DIR", &cache)]);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn socket_dir_is_a_regular_file() {
    let env = Env::new();
    let runtime = env.root.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // Sockets live in $XDG_RUNTIME_DIR/ccd/: make that a file.
    std::fs::write(runtime.join("ccd"), "x").unwrap();
    compiles_like_bare_and_quickly(&env, &[("XDG_RUNTIME_DIR", &runtime)]);
    assert!(runtime.join("ccd").is_file());
}

/// A symlink where the cache directory should be is refused by the daemon;
/// the compile must not notice.
#[test]
fn cache_dir_is_a_symlink() {
    let env = Env::new();
    let real = env.root.path().join("real-cache");
    std::fs::create_dir_all(&real).unwrap();
    let link = env.root.path().join("cache-link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    compiles_like_bare_and_quickly(&env, &[("CCD_DIR", &link)]);
}

/// With a working cache the same environment does start the daemon (so the
/// tests above fail for the reason they claim).
#[test]
fn control_the_daemon_starts_normally() {
    let env = Env::new();
    let out = env.ccd().args(["status", "--json"]).output().unwrap();
    assert_ok(&out);
}

/// The daemon a compile starts must not keep the caller's descriptors: a
/// configure script copies its stdout to descriptor 6, and a daemon that
/// inherited it held `./configure | tee log` (and any build reading a
/// compile's output through a pipe) open until the daemon idled out, an
/// hour later.
#[test]
fn the_daemon_keeps_none_of_the_callers_descriptors() {
    let env = Env::new();
    env.write("t.c", SRC);
    let mut child = env
        .command("sh")
        .arg("-c")
        .arg(format!("exec 6>&1; exec '{CCD}' gcc -c t.c -o t.o"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut sink);
        let _ = tx.send(());
    });
    assert!(child.wait().unwrap().success());
    let closed = rx.recv_timeout(Duration::from_secs(10)).is_ok();
    let pid = env.daemon_pid();
    env.stop();
    assert!(
        closed,
        "the pipe stayed open after the compile: daemon {pid} holds the caller's descriptor 6"
    );
}
