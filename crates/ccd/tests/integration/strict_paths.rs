//! Strict paths: `ccd --strict-paths=MODE gcc ...` or `CCD_STRICT_PATHS`
//! (off, consistent, absolute). A violation fails the compile with exit
//! code 1 and one compiler-style line on stderr naming the flag, the path and
//! the rule, and the compiler does not run.

use std::process::Output;

use crate::harness::{COMPILERS, Env, Moved, Outcome, assert_ok, stderr};

/// A source the compiler would warn about: any compiler run shows on stderr.
fn project(env: &Env) {
    env.write(
        "a.c",
        "#include \"x.h\"\n#warning the compiler ran\nint f(void) { return X; }\n",
    );
    env.write("b.c", "#include \"x.h\"\nint g(void) { return X + 1; }\n");
    env.write("inc/x.h", "#define X 1\n");
    env.write("inc/sub/y.h", "#define Y 1\n");
    env.write("pre.h", "#define PRE 1\n");
}

/// `ccd <wrapper options...> <cc> args...` in the work directory.
fn ccd_with(env: &Env, wrapper: &[&str], cc: &str, args: &[&str]) -> Output {
    env.settle();
    env.ccd().args(wrapper).arg(cc).args(args).output().unwrap()
}

/// The compile failed the way a strict-paths violation must: exit code 1,
/// nothing on stdout, exactly `message` on stderr, no object.
fn assert_refused(env: &Env, out: &Output, message: &str, what: &str) {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(out));
    assert!(out.stdout.is_empty(), "{what}: stdout not empty");
    assert_eq!(stderr(out), format!("{message}\n"), "{what}");
    assert!(
        !env.path("a.o").exists(),
        "{what}: the compiler ran and wrote a.o"
    );
}

#[test]
fn absolute_mode_refuses_relative_paths_without_running_the_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let cases: &[(&[&str], &str)] = &[
            (&["-Iinc"], "-I inc"),
            (&["-I", "inc"], "-I inc"),
            (&["-I/usr/include", "-isystem", "inc"], "-isystem inc"),
            (&["-iquote", "inc"], "-iquote inc"),
            (&["-idirafter", "inc"], "-idirafter inc"),
            (&["-I/usr/include", "-include", "pre.h"], "-include pre.h"),
            (&["--sysroot=sr"], "--sysroot sr"),
        ];
        for mode in ["--strict-paths=absolute", "--strict-paths"] {
            for (flags, named) in cases {
                let mut args = flags.to_vec();
                args.extend(["-c", "a.c", "-o", "a.o"]);
                let _ = std::fs::remove_file(env.path("a.o"));
                let out = ccd_with(&env, &[mode], cc, &args);
                assert_refused(
                    &env,
                    &out,
                    &format!(
                        "ccd: error: {named}: path must be absolute (--strict-paths=absolute)"
                    ),
                    &format!("{cc} {mode} {args:?}"),
                );
            }
        }

        // Absolute paths pass, are cached, and are what the compiler makes.
        let inc = env.path("inc");
        let inc = format!("-I{}", inc.display());
        let args = [inc.as_str(), "-c", "a.c", "-o", "a.o"];
        let (out, m) = env.counting(|| ccd_with(&env, &["--strict-paths=absolute"], cc, &args));
        assert_ok(&out);
        assert!(
            stderr(&out).contains("the compiler ran"),
            "{cc}: {}",
            stderr(&out)
        );
        assert_eq!(m.misses, 1, "{cc}");
        let ours = env.read("a.o");
        let (out, m) = env.counting(|| ccd_with(&env, &["--strict-paths=absolute"], cc, &args));
        assert_ok(&out);
        assert_eq!(m.hits, 1, "{cc}");
        assert_eq!(env.read("a.o"), ours, "{cc}");
        let bare = env.bare(cc, &args);
        assert_eq!(stderr(&out), stderr(&bare), "{cc}");
        assert_eq!(env.read("a.o"), ours, "{cc}");
    }
}

#[test]
fn consistent_mode_refuses_ambiguous_spellings() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let abs = env.path("inc");
        let abs = abs.to_str().unwrap();
        let dotted = format!("{abs}/./sub");
        let doubled = format!("{abs}//sub");
        let cases: Vec<(Vec<String>, String, &str)> = vec![
            (
                vec!["-I./inc".into()],
                "./inc".into(),
                "path has a '.' component",
            ),
            (
                vec!["-Iinc/../inc".into()],
                "inc/../inc".into(),
                "path has a '..' component",
            ),
            (
                vec!["-Iinc/".into()],
                "inc/".into(),
                "path ends with a slash",
            ),
            (
                vec!["-I".into(), dotted.clone()],
                dotted,
                "path has a '.' component",
            ),
            (
                vec![format!("-I{doubled}")],
                doubled,
                "path has an empty component (//)",
            ),
            (
                vec!["-Iinc\\sub".into()],
                "inc\\sub".into(),
                "path contains a backslash",
            ),
        ];
        for (flags, path, rule) in &cases {
            let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
            args.extend(["-c", "a.c", "-o", "a.o"]);
            let message = format!("ccd: error: -I {path}: {rule} (--strict-paths=consistent)");
            let _ = std::fs::remove_file(env.path("a.o"));
            let out = ccd_with(&env, &["--strict-paths=consistent"], cc, &args);
            assert_refused(&env, &out, &message, &format!("{cc} flag {args:?}"));
            // The same through the environment.
            let out = env
                .ccd()
                .env("CCD_STRICT_PATHS", "consistent")
                .arg(cc)
                .args(&args)
                .output()
                .unwrap();
            assert_refused(&env, &out, &message, &format!("{cc} env {args:?}"));
        }

        // Canonical relative paths are fine in this mode, and cached.
        for expect in [Outcome::Miss, Outcome::Hit] {
            let args = ["-Iinc", "-I.", "-iquote", "inc/sub", "-c", "a.c"];
            let (out, m) =
                env.counting(|| ccd_with(&env, &["--strict-paths=consistent"], cc, &args));
            assert_ok(&out);
            m.assert_outcome(expect, &format!("{cc} {args:?}"), &out);
        }
    }
}

/// The rule applies to the arguments inside response files too, and a
/// result stored before (or sealed for the fast paths) never bypasses it.
#[test]
fn response_files_and_stored_results_do_not_bypass_the_check() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let inc = env.path("inc");
        env.write(
            "args.rsp",
            &format!("-I'{}' -c a.c -o a.o\n", inc.display()),
        );
        env.set_var("CCD_STRICT_PATHS", "absolute");
        env.cc_expect(Outcome::Miss, cc, &["@args.rsp"]);
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);

        std::fs::remove_file(env.path("a.o")).unwrap();
        env.write("args.rsp", "-I inc -c a.c -o a.o\n");
        let out = env.cc(cc, &["@args.rsp"]);
        assert_refused(
            &env,
            &out,
            "ccd: error: -I inc: path must be absolute (--strict-paths=absolute)",
            &format!("{cc} @args.rsp"),
        );

        // Compiled and stored with the check off, then asked for with it on:
        // refused, not served.
        let args = ["-Iinc", "-c", "a.c", "-o", "a.o"];
        env.set_var("CCD_STRICT_PATHS", "off");
        env.cc_expect(Outcome::Miss, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);
        std::fs::remove_file(env.path("a.o")).unwrap();
        let (out, m) = {
            env.set_var("CCD_STRICT_PATHS", "absolute");
            env.counting(|| env.cc(cc, &args))
        };
        assert_refused(
            &env,
            &out,
            "ccd: error: -I inc: path must be absolute (--strict-paths=absolute)",
            &format!("{cc} {args:?} after a stored result"),
        );
        assert_eq!(m.hits, 0, "{cc}: a refused compile is no hit");

        // The wrapper option wins over the environment.
        let out = ccd_with(&env, &["--strict-paths=off"], cc, &args);
        assert_ok(&out);
        assert!(env.path("a.o").exists(), "{cc}");
    }
}

/// Several sources in one command: one refusal, no compile at all.
#[test]
fn multi_file_compile_is_refused_once() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["-Iinc", "-c", "a.c", "b.c"];
        let (out, m) = {
            env.set_var("CCD_STRICT_PATHS", "absolute");
            env.counting(|| env.cc(cc, &args))
        };
        assert_refused(
            &env,
            &out,
            "ccd: error: -I inc: path must be absolute (--strict-paths=absolute)",
            &format!("{cc} {args:?}"),
        );
        assert!(!env.path("b.o").exists(), "{cc}: b.c was compiled");
        assert_eq!(
            (m.hits, m.misses, m.non_cacheable),
            (0, 0, 0),
            "{cc}: nothing may be compiled: {m:?}"
        );
        env.set_var("CCD_STRICT_PATHS", "consistent");
        let (out, m) = env.counting(|| env.cc(cc, &args));
        assert_ok(&out);
        assert_eq!(m, Moved::new(0, 2, 0, 0), "{cc}");
    }
}

#[test]
fn unknown_mode_is_reported() {
    let env = Env::new();
    project(&env);
    for cc in COMPILERS {
        let out = ccd_with(
            &env,
            &["--strict-paths=sometimes"],
            cc,
            &["-c", "b.c", "-o", "a.o"],
        );
        assert_eq!(out.status.code(), Some(1), "{cc}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.starts_with("ccd: error: ") && e.contains("sometimes") && e.contains("strict-paths"),
            "{cc}: {e}"
        );
        assert!(!env.path("a.o").exists(), "{cc}");
    }
}
