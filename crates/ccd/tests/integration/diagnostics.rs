//! Diagnostics: a failing compile replays exactly what the compiler says and
//! is never stored; warnings are replayed byte for byte on a hit.

use crate::harness::{COMPILERS, Env, Outcome, assert_ok, stderr};

/// A syntax error, three times: each time the exit code and stderr are the
/// bare compiler's, no object appears, nothing is stored and the `errors`
/// counter moves by one.
#[test]
fn failing_compile_replays_its_error_and_is_not_stored() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write(
            "bad.c",
            "int ok(void) { return 1; }\nint broken(void) { return 2 }\n",
        );
        let args = ["-Wall", "-c", "bad.c", "-o", "bad.o"];
        for round in 0..3 {
            let c = env.like_bare(cc, &args, &["bad.o"]).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_ne!(out.status.code(), Some(0), "{cc} round {round}");
            assert!(
                stderr(out).contains("error"),
                "{cc} round {round}: {}",
                stderr(out)
            );
            assert!(!env.path("bad.o").exists(), "{cc} round {round}: object");
            assert_eq!(m.hits, 0, "{cc} round {round}: a hit");
            assert_eq!(m.errors, 1, "{cc} round {round}: errors counter");
            let s = env.status();
            assert_eq!(s["entries"], 0, "{cc} round {round}: stored: {s}");
        }
        // Fixing the source compiles and stores normally.
        env.write(
            "bad.c",
            "int ok(void) { return 1; }\nint broken(void) { return 2; }\n",
        );
        env.like_bare(cc, &args, &["bad.o"]).miss().run();
        env.like_bare(cc, &args, &["bad.o"]).hit().run();
        // Breaking it again is never served the good object.
        env.write(
            "bad.c",
            "int ok(void) { return 1; }\nint broken(void) { return 2 }\n",
        );
        let out = env.like_bare(cc, &args, &["bad.o"]).miss().run().out;
        assert_ne!(out.status.code(), Some(0), "{cc}");
    }
}

/// An error in a header: same replay, the header's path in the message.
#[test]
fn error_in_a_header_is_replayed() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("inc/h.h", "struct s { int a }\n");
        env.write("a.c", "#include \"h.h\"\nint f(void) { return 0; }\n");
        let args = ["-Iinc", "-c", "a.c", "-o", "a.o"];
        for _ in 0..3 {
            let c = env.like_bare(cc, &args, &["a.o"]).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_ne!(out.status.code(), Some(0), "{cc}");
            assert!(stderr(out).contains("h.h"), "{cc}: {}", stderr(out));
            assert_eq!(m.errors, 1, "{cc}");
            assert_eq!(m.hits, 0, "{cc}");
        }
    }
}

/// `-Wall` on a source with an unused variable: the warning is replayed
/// byte-identical on a hit, every time.
#[test]
fn warnings_are_replayed_on_a_hit() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write(
            "w.c",
            "int f(int x) {\n  int unused_thing = x * 2;\n  return x;\n}\n",
        );
        let args = ["-Wall", "-c", "w.c", "-o", "w.o"];
        let miss = env.like_bare(cc, &args, &["w.o"]).miss().run().out;
        assert_ok(&miss);
        assert!(
            stderr(&miss).contains("unused_thing"),
            "{cc}: expected a warning, got {:?}",
            stderr(&miss)
        );
        for _ in 0..2 {
            let hit = env.like_bare(cc, &args, &["w.o"]).hit().run().out;
            assert_eq!(hit.stderr, miss.stderr, "{cc}: replayed warning");
        }
        // The same source without -Wall is another result: no warning.
        let quiet = ["-c", "w.c", "-o", "w.o"];
        let out = env.like_bare(cc, &quiet, &["w.o"]).miss().run().out;
        assert!(out.stderr.is_empty(), "{cc}: {}", stderr(&out));
        let out = env.like_bare(cc, &quiet, &["w.o"]).hit().run().out;
        assert!(out.stderr.is_empty(), "{cc}: {}", stderr(&out));
        // And -Wall again still warns.
        let hit = env.like_bare(cc, &args, &["w.o"]).hit().run().out;
        assert_eq!(hit.stderr, miss.stderr, "{cc}");
    }
}

/// `-Werror`: the warning becomes a failing compile, replayed as such.
#[test]
fn werror_fails_like_the_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write(
            "w.c",
            "int f(int x) {\n  int unused_thing = x;\n  return x;\n}\n",
        );
        let args = ["-Wall", "-Werror", "-c", "w.c", "-o", "w.o"];
        for _ in 0..2 {
            let c = env.like_bare(cc, &args, &["w.o"]).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_ne!(out.status.code(), Some(0), "{cc}");
            assert_eq!(m.errors, 1, "{cc}");
            assert_eq!(m.hits, 0, "{cc}");
        }
    }
}

/// On a miss the compiler's stderr reaches the caller while the compiler
/// still runs, not when it ends: cargo starts the crates that depend on a
/// library as soon as rustc reports its metadata written. The "compiler" is
/// a script that says something, then waits for the test to have read it
/// before compiling (at most 15 s, so a broken ccd fails instead of hanging).
#[test]
fn a_miss_passes_stderr_on_while_the_compiler_runs() {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::time::Duration;

    let env = Env::new();
    env.write("a.c", "int f(void) { return 1; }\n");
    let gate = env.path("gate");
    env.write_exec(
        "bin/slowcc",
        &format!(
            "#!/bin/sh\ncase \" $* \" in *' -c '*)\n  echo started >&2\n  i=0\n  while [ ! -e '{}' ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done;;\nesac\nexec gcc \"$@\"\n",
            gate.display()
        ),
    );
    let slowcc = env.path("bin/slowcc");
    // The user's -MD: ccd adds no argument of its own, so nothing can call
    // for a second run and the output can go out as it comes.
    let args = ["-MD", "-c", "a.c", "-o", "a.o"];
    env.settle();
    let mut child = env
        .ccd()
        .arg(&slowcc)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ccd");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            rest.push_str(&line);
        }
        rest
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    let running = child.try_wait().expect("try_wait").is_none();
    std::fs::write(&gate, "").expect("open the gate");
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    assert_eq!(
        first.as_deref(),
        Ok("started"),
        "the compiler's first line must arrive while it runs"
    );
    assert!(running, "the line arrived only after the compile ended");
    assert!(status.success());
    assert!(env.path("a.o").is_file() && env.path("a.d").is_file());
    let c = env.counts();
    assert_eq!((c.hits, c.misses), (0, 1), "{c:?}");

    // Stored with its output: a hit replays the same line.
    let out = env.cc_expect(Outcome::Hit, slowcc.to_str().unwrap(), &args);
    assert_eq!(stderr(&out), "started\n");
}
