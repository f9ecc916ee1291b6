//! rustc through ccd as cargo's `RUSTC_WRAPPER`: real cargo builds of tiny
//! path-only workspaces (offline, `CARGO_INCREMENTAL=0`, target directory in
//! the test's temp dir). Rebuilds after `cargo clean` are hits with the
//! bare build's bytes; every edit, `env!` value, build-script output,
//! proc-macro change and native library change reaches the result.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::harness::cargo::{artifacts, cargo_cmd, stable_stderr};
use crate::harness::{CCD, Env, Moved, assert_ok, stderr};

// ---------------------------------------------------------------------
// Helpers (cargo's clean environment, stderr and artifacts: harness::cargo)
// ---------------------------------------------------------------------

/// The target directory of every cargo build of `env`.
fn target(env: &Env) -> PathBuf {
    env.root.path().join("target")
}

/// How cargo is told about ccd.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrap {
    /// `RUSTC_WRAPPER=<ccd>`.
    Env,
    /// No wrapper in the environment (bare, or `.cargo/config.toml`).
    None,
}

/// `cargo <args>` in the work directory with a clean environment (see
/// [`cargo_cmd`]) and `vars`.
fn cargo_with(env: &Env, wrap: Wrap, vars: &[(&str, &str)], args: &[&str]) -> Output {
    cargo_cmd(env, &target(env), wrap == Wrap::Env)
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

/// `cargo <args> --offline` through ccd.
fn cargo(env: &Env, args: &[&str]) -> Output {
    cargo_with(env, Wrap::Env, &[], &offline(args))
}

/// The same through ccd, asserting success.
fn cargo_ok(env: &Env, args: &[&str]) -> Output {
    let out = cargo(env, args);
    assert_ok(&out);
    out
}

/// `cargo <args> --offline` without ccd.
fn cargo_bare(env: &Env, args: &[&str]) -> Output {
    let out = cargo_with(env, Wrap::None, &[], &offline(args));
    assert_ok(&out);
    out
}

fn offline<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.push("--offline");
    v
}

fn clean(env: &Env) {
    let out = cargo_with(env, Wrap::None, &[], &["clean", "--offline"]);
    assert_ok(&out);
    assert!(!target(env).join("debug").exists());
}

/// How many rustc compiles a `cargo -v` run started (its "Running" lines
/// for rustc; build-script runs have no `--crate-name`).
fn rustc_runs(out: &Output) -> u64 {
    stderr(out)
        .lines()
        .filter(|l| l.trim_start().starts_with("Running `") && l.contains("--crate-name "))
        .count() as u64
}

/// Runs a built binary of the debug profile; its stdout.
fn run(env: &Env, bin: &str) -> String {
    let out = Command::new(target(env).join("debug").join(bin))
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    assert_ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts how far a build moved the hit and miss counters (cargo's own
/// probes of rustc move the non-cacheable one).
#[track_caller]
fn assert_moved(m: Moved, hits: u64, misses: u64, what: &str) {
    assert_eq!(
        (m.hits, m.misses),
        (hits, misses),
        "{what}: (hits, misses) moved: {m}"
    );
}

fn reasons(env: &Env) -> serde_json::Value {
    env.status()["non_cacheable_reasons"].clone()
}

fn reason_count(env: &Env, reason: &str) -> u64 {
    reasons(env)[reason].as_u64().unwrap_or(0)
}

/// Every file rustc wrote for the debug profile (see [`artifacts`]).
fn built(env: &Env) -> BTreeMap<String, Vec<u8>> {
    artifacts(&target(env))
}

#[track_caller]
fn assert_same_artifacts(ours: &BTreeMap<String, Vec<u8>>, bare: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        bare.keys().collect::<Vec<_>>(),
        "the same files as the bare build"
    );
    for (name, bytes) in bare {
        assert!(ours[name] == *bytes, "{name} differs from the bare build's");
    }
}

/// ccd does not store a compile whose inputs changed within a few
/// milliseconds of its start (it cannot tell before from during, see
/// `Env::settle`). cargo starts rustc right after a build script wrote its
/// files, so build scripts that write inputs start with this constant and
/// sleep that long after writing: storing those compiles is then
/// deterministic (without it, it is a matter of timing; the README's
/// "Inputs modified during the compile").
const BUILD_SCRIPT_AGE: &str = "const AGE_MS: u64 = 40;\n";

fn workspace(env: &Env, members: &[&str]) {
    let list: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    env.write(
        "Cargo.toml",
        &format!(
            "[workspace]\nmembers = [{}]\nresolver = \"2\"\n",
            list.join(", ")
        ),
    );
}

/// `<name>/Cargo.toml` with `extra` appended (dependencies, `[lib]`).
fn package(env: &Env, name: &str, extra: &str) {
    env.write(
        &format!("{name}/Cargo.toml"),
        &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}"),
    );
}

/// A library `dep` and a binary `app` using it: two rustc compiles.
fn lib_and_bin(env: &Env) {
    workspace(env, &["app", "dep"]);
    package(env, "dep", "");
    env.write("dep/src/lib.rs", "pub fn value() -> u32 {\n    41\n}\n");
    package(env, "app", "[dependencies]\ndep = { path = \"../dep\" }\n");
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"value={}\", dep::value() + 1);\n}\n",
    );
}

// ---------------------------------------------------------------------
// 1. Rebuild after `cargo clean`
// ---------------------------------------------------------------------

#[test]
fn rebuild_after_clean_is_all_hits_and_byte_identical() {
    let env = Env::new();
    workspace(&env, &["app", "dep", "clib"]);
    package(&env, "dep", "");
    env.write(
        "dep/src/lib.rs",
        "pub fn value() -> u32 {\n    41\n}\npub fn greet() -> &'static str {\n    \"hello\"\n}\n",
    );
    package(
        &env,
        "clib",
        "[lib]\ncrate-type = [\"cdylib\", \"staticlib\"]\n",
    );
    env.write(
        "clib/src/lib.rs",
        "#[no_mangle]\npub extern \"C\" fn clib_value() -> u32 {\n    7\n}\n",
    );
    package(
        &env,
        "app",
        "build = \"build.rs\"\n[dependencies]\ndep = { path = \"../dep\" }\n",
    );
    env.write(
        "app/build.rs",
        "fn main() {\n    println!(\"cargo:rerun-if-changed=build.rs\");\n}\n",
    );
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"{} value={}\", dep::greet(), dep::value() + 1);\n}\n",
    );

    // dep (lib), clib (cdylib + staticlib), app's build script, app (bin).
    let bare_out = cargo_bare(&env, &["build", "-v"]);
    let units = rustc_runs(&bare_out);
    assert_eq!(units, 4, "{}", stderr(&bare_out));
    let bare = built(&env);
    for f in ["app", "libdep.rlib", "libclib.so", "libclib.a"] {
        assert!(
            bare.contains_key(f),
            "bare build lacks {f}: {:?}",
            bare.keys()
        );
    }
    assert!(bare.keys().any(|k| k.ends_with(".rmeta")));
    assert_eq!(run(&env, "app"), "hello value=42\n");

    clean(&env);
    let c0 = env.counts();
    let out = cargo_ok(&env, &["build", "-v"]);
    assert_eq!(rustc_runs(&out), units);
    let c1 = env.counts();
    assert_moved(c1.since(c0), 0, units, "first build through ccd");
    assert_same_artifacts(&built(&env), &bare);

    clean(&env);
    let out = cargo_ok(&env, &["build", "-v"]);
    assert_eq!(rustc_runs(&out), units);
    let c2 = env.counts();
    assert_moved(c2.since(c1), units, 0, "rebuild after cargo clean");
    assert_same_artifacts(&built(&env), &bare);
    assert_eq!(run(&env, "app"), "hello value=42\n");

    // Nothing to do: cargo runs no rustc at all.
    let out = cargo_ok(&env, &["build", "-v"]);
    assert_eq!(rustc_runs(&out), 0);
    assert_moved(env.counts().since(c2), 0, 0, "no-op build");
}

// ---------------------------------------------------------------------
// 2. Source edits
// ---------------------------------------------------------------------

#[test]
fn source_edit_gives_new_output_and_revert_hits() {
    let env = Env::new();
    lib_and_bin(&env);
    let c0 = env.counts();
    cargo_ok(&env, &["build"]);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "value=42\n");
    assert_moved(c1.since(c0), 0, 2, "first build");

    // The library changes: it and the binary (a new rlib) are compiled.
    env.write("dep/src/lib.rs", "pub fn value() -> u32 {\n    99\n}\n");
    cargo_ok(&env, &["build"]);
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "value=100\n");
    assert_moved(c2.since(c1), 0, 2, "library edit");

    // The binary alone changes.
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"v={}\", dep::value());\n}\n",
    );
    cargo_ok(&env, &["build"]);
    let c3 = env.counts();
    assert_eq!(run(&env, "app"), "v=99\n");
    assert_moved(c3.since(c2), 0, 1, "binary edit");

    // Back to the first sources: cargo recompiles both, ccd has both.
    env.write("dep/src/lib.rs", "pub fn value() -> u32 {\n    41\n}\n");
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"value={}\", dep::value() + 1);\n}\n",
    );
    cargo_ok(&env, &["build"]);
    let c4 = env.counts();
    assert_eq!(run(&env, "app"), "value=42\n");
    assert_moved(c4.since(c3), 2, 0, "revert");

    // A same-size edit of the library (one digit).
    env.write("dep/src/lib.rs", "pub fn value() -> u32 {\n    43\n}\n");
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "value=44\n");
    assert_moved(env.counts().since(c4), 0, 2, "same-size edit");
}

#[test]
fn edit_together_with_an_environment_change_is_compiled() {
    // Between two builds a source changes, and so does a variable the
    // crate does not read (another shell, say): the request differs from
    // every one seen before, the source is new.
    let env = Env::new();
    lib_and_bin(&env);
    let build = |value: &str| {
        let out = cargo_with(
            &env,
            Wrap::Env,
            &[("UNRELATED_VAR", value)],
            &["build", "--offline"],
        );
        assert_ok(&out);
    };
    build("a");
    assert_eq!(run(&env, "app"), "value=42\n");
    // The daemon finishes its work on the last compile after answering;
    // the edit comes later, as a person's would.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let c0 = env.counts();
    env.write("dep/src/lib.rs", "pub fn value() -> u32 {\n    99\n}\n");
    build("b");
    assert_eq!(run(&env, "app"), "value=100\n");
    assert_moved(env.counts().since(c0), 0, 2, "library edit");
}

#[test]
fn new_module_file_is_compiled() {
    // `mod extra;` appears: rustc reads a file it did not read before.
    let env = Env::new();
    lib_and_bin(&env);
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "value=42\n");
    env.write("dep/src/extra.rs", "pub const EXTRA: u32 = 1000;\n");
    env.write(
        "dep/src/lib.rs",
        "mod extra;\npub fn value() -> u32 {\n    41 + extra::EXTRA\n}\n",
    );
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "value=1042\n");
    // Only the module changes.
    env.write("dep/src/extra.rs", "pub const EXTRA: u32 = 2000;\n");
    let c0 = env.counts();
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "value=2042\n");
    assert_moved(env.counts().since(c0), 0, 2, "module edit");
}

// ---------------------------------------------------------------------
// 3. env! / option_env!
// ---------------------------------------------------------------------

fn build_script_env(env: &Env, lines: &str) {
    env.write(
        "app/build.rs",
        &format!("fn main() {{\n    println!(\"cargo:rerun-if-changed=build.rs\");\n{lines}}}\n"),
    );
}

#[test]
fn build_script_rustc_env_change_gives_new_value() {
    let env = Env::new();
    workspace(&env, &["app"]);
    package(&env, "app", "build = \"build.rs\"\n");
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"{} {:?}\", env!(\"BUILD_VALUE\"), option_env!(\"BUILD_EXTRA\"));\n}\n",
    );
    let v1 = "    println!(\"cargo:rustc-env=BUILD_VALUE=one\");\n";
    build_script_env(&env, v1);
    let c0 = env.counts();
    cargo_ok(&env, &["build"]);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "one None\n");
    // The build script and the binary.
    assert_moved(c1.since(c0), 0, 2, "first build");

    // Only the value the build script hands to rustc differs: the
    // binary's sources and command line are the same.
    let v2 = "    println!(\"cargo:rustc-env=BUILD_VALUE=two\");\n    println!(\"cargo:rustc-env=BUILD_EXTRA=x\");\n";
    build_script_env(&env, v2);
    cargo_ok(&env, &["build"]);
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "two Some(\"x\")\n");
    assert_moved(c2.since(c1), 0, 2, "new build script");

    let v3 = "    println!(\"cargo:rustc-env=BUILD_VALUE=two\");\n";
    build_script_env(&env, v3);
    cargo_ok(&env, &["build"]);
    let c3 = env.counts();
    assert_eq!(run(&env, "app"), "two None\n");
    assert_moved(c3.since(c2), 0, 2, "BUILD_EXTRA unset");

    build_script_env(&env, v1);
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "one None\n");
    assert_moved(env.counts().since(c3), 2, 0, "first build script again");

    // Every variant is kept in the cache, not only in the daemon's memory:
    // a fresh daemon serves each of them after `cargo clean`.
    for (script, printed) in [
        (v1, "one None\n"),
        (v2, "two Some(\"x\")\n"),
        (v3, "two None\n"),
    ] {
        env.stop();
        clean(&env);
        build_script_env(&env, script);
        let before = env.counts();
        cargo_ok(&env, &["build"]);
        assert_eq!(run(&env, "app"), printed);
        assert_moved(
            env.counts().since(before),
            2,
            0,
            &format!("fresh daemon, build script printing {printed:?}"),
        );
    }
}

#[test]
fn process_env_var_read_with_env_macro() {
    let env = Env::new();
    workspace(&env, &["app"]);
    package(&env, "app", "");
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"{} {:?}\", env!(\"MY_TEST_VAR\"), option_env!(\"MY_OPT_VAR\"));\n}\n",
    );
    let build = |vars: &[(&str, &str)]| {
        let out = cargo_with(&env, Wrap::Env, vars, &["build", "--offline"]);
        assert_ok(&out);
    };
    let c0 = env.counts();
    build(&[("MY_TEST_VAR", "1")]);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "1 None\n");
    assert_moved(c1.since(c0), 0, 1, "MY_TEST_VAR=1");

    build(&[("MY_TEST_VAR", "2")]);
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "2 None\n");
    assert_moved(c2.since(c1), 0, 1, "MY_TEST_VAR=2");

    build(&[("MY_TEST_VAR", "1")]);
    let c3 = env.counts();
    assert_eq!(run(&env, "app"), "1 None\n");
    assert_moved(c3.since(c2), 1, 0, "MY_TEST_VAR=1 again");

    // option_env! of a variable that was unset.
    build(&[("MY_TEST_VAR", "1"), ("MY_OPT_VAR", "set")]);
    let c4 = env.counts();
    assert_eq!(run(&env, "app"), "1 Some(\"set\")\n");
    assert_moved(c4.since(c3), 0, 1, "MY_OPT_VAR set");

    build(&[("MY_TEST_VAR", "2")]);
    let c5 = env.counts();
    assert_eq!(run(&env, "app"), "2 None\n");
    assert_moved(c5.since(c4), 1, 0, "MY_TEST_VAR=2 again");

    // A variable the crate does not read changes nothing.
    clean(&env);
    build(&[("MY_TEST_VAR", "2"), ("UNRELATED_VAR", "zzz")]);
    assert_eq!(run(&env, "app"), "2 None\n");
    assert_moved(env.counts().since(c5), 1, 0, "unrelated variable");

    // Every variant is kept in the cache, not only in the daemon's memory
    // of requests: a fresh daemon serves each of them after `cargo clean`.
    let variants: [(&[(&str, &str)], &str); 3] = [
        (&[("MY_TEST_VAR", "1")], "1 None\n"),
        (&[("MY_TEST_VAR", "2")], "2 None\n"),
        (
            &[("MY_TEST_VAR", "1"), ("MY_OPT_VAR", "set")],
            "1 Some(\"set\")\n",
        ),
    ];
    for (vars, printed) in variants {
        env.stop();
        clean(&env);
        let before = env.counts();
        build(vars);
        assert_eq!(run(&env, "app"), printed);
        assert_moved(
            env.counts().since(before),
            1,
            0,
            &format!("fresh daemon, {vars:?}"),
        );
    }
}

// ---------------------------------------------------------------------
// 4. Build-script outputs
// ---------------------------------------------------------------------

#[test]
fn build_script_output_change_is_picked_up() {
    // build.rs writes OUT_DIR/gen.rs from GEN_VALUE; lib.rs include!s it.
    // Neither the library's sources nor its command line change. (The
    // build script lets its file age: see BUILD_SCRIPT_AGE.)
    let env = Env::new();
    workspace(&env, &["app", "gen"]);
    package(&env, "gen", "build = \"build.rs\"\n");
    env.write(
        "gen/build.rs",
        &[
            BUILD_SCRIPT_AGE,
            r#"use std::path::Path;
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GEN_VALUE");
    let v = std::env::var("GEN_VALUE").unwrap_or_else(|_| "0".into());
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(Path::new(&out).join("gen.rs"), format!("pub const GEN: u32 = {v};\n")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(AGE_MS));
}
"#,
        ]
        .concat(),
    );
    env.write(
        "gen/src/lib.rs",
        "include!(concat!(env!(\"OUT_DIR\"), \"/gen.rs\"));\n",
    );
    package(&env, "app", "[dependencies]\ngen = { path = \"../gen\" }\n");
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"gen={}\", gen::GEN);\n}\n",
    );
    let build = |v: &str| {
        let out = cargo_with(
            &env,
            Wrap::Env,
            &[("GEN_VALUE", v)],
            &["build", "--offline"],
        );
        assert_ok(&out);
    };
    let c0 = env.counts();
    build("5");
    let c1 = env.counts();
    // gen's build script, gen, app.
    assert_eq!(run(&env, "app"), "gen=5\n");
    assert_moved(c1.since(c0), 0, 3, "first build");

    build("6");
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "gen=6\n");
    assert_moved(c2.since(c1), 0, 2, "GEN_VALUE=6");

    build("5");
    let c3 = env.counts();
    assert_eq!(run(&env, "app"), "gen=5\n");
    assert_moved(c3.since(c2), 2, 0, "GEN_VALUE=5 again");

    // The build script itself changes what it writes.
    env.write(
        "gen/build.rs",
        &[
            BUILD_SCRIPT_AGE,
            r#"use std::path::Path;
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(Path::new(&out).join("gen.rs"), "pub const GEN: u32 = 77;\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(AGE_MS));
}
"#,
        ]
        .concat(),
    );
    build("5");
    assert_eq!(run(&env, "app"), "gen=77\n");
    assert_moved(env.counts().since(c3), 0, 3, "new build script");
}

// ---------------------------------------------------------------------
// 5. Proc macros
// ---------------------------------------------------------------------

fn proc_macro_source(answer: u32) -> String {
    format!(
        r#"use proc_macro::{{TokenStream, TokenTree}};

#[proc_macro]
pub fn answer(_input: TokenStream) -> TokenStream {{
    "{answer}u32".parse().unwrap()
}}

#[proc_macro_derive(Named)]
pub fn derive_named(input: TokenStream) -> TokenStream {{
    let mut tokens = input.into_iter();
    let mut name = None;
    while let Some(t) = tokens.next() {{
        if let TokenTree::Ident(i) = &t {{
            if i.to_string() == "struct" {{
                if let Some(TokenTree::Ident(n)) = tokens.next() {{
                    name = Some(n.to_string());
                }}
                break;
            }}
        }}
    }}
    let name = name.expect("a struct");
    format!("impl {{name}} {{{{ pub fn name() -> &'static str {{{{ \"{{name}}\" }}}} }}}}")
        .parse()
        .unwrap()
}}
"#
    )
}

#[test]
fn proc_macro_is_cached_and_its_users_work() {
    let env = Env::new();
    workspace(&env, &["app", "mac"]);
    package(&env, "mac", "[lib]\nproc-macro = true\n");
    env.write("mac/src/lib.rs", &proc_macro_source(42));
    package(&env, "app", "[dependencies]\nmac = { path = \"../mac\" }\n");
    env.write(
        "app/src/main.rs",
        "#[derive(mac::Named)]\nstruct Widget;\n\nfn main() {\n    println!(\"{} {}\", Widget::name(), mac::answer!());\n}\n",
    );
    let c0 = env.counts();
    cargo_ok(&env, &["build"]);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "Widget 42\n");
    assert_moved(c1.since(c0), 0, 2, "first build");
    let so: Vec<_> = built(&env)
        .into_iter()
        .filter(|(k, _)| k.starts_with("deps/libmac-") && k.ends_with(".so"))
        .collect();
    assert_eq!(so.len(), 1);

    // From the cache: the proc macro (a shared object rustc loads) and its
    // user.
    clean(&env);
    cargo_ok(&env, &["build"]);
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "Widget 42\n");
    assert_moved(c2.since(c1), 2, 0, "rebuild after clean");
    let so_again = built(&env);
    assert!(so_again[&so[0].0] == so[0].1, "the proc macro's bytes");

    // The macro's expansion changes: its user's sources and command line
    // do not, the proc macro it loads does.
    env.write("mac/src/lib.rs", &proc_macro_source(43));
    cargo_ok(&env, &["build"]);
    let c3 = env.counts();
    assert_eq!(run(&env, "app"), "Widget 43\n");
    assert_moved(c3.since(c2), 0, 2, "macro edit");

    env.write("mac/src/lib.rs", &proc_macro_source(42));
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "Widget 42\n");
    assert_moved(env.counts().since(c3), 2, 0, "macro reverted");
}

// ---------------------------------------------------------------------
// 6. cargo check
// ---------------------------------------------------------------------

#[test]
fn cargo_check_after_build_and_after_clean() {
    let env = Env::new();
    lib_and_bin(&env);
    // A warning, replayed with the metadata from the cache.
    env.write(
        "dep/src/lib.rs",
        "pub fn value() -> u32 {\n    let unused = 5;\n    41\n}\n",
    );
    let c0 = env.counts();
    let build = cargo_ok(&env, &["build"]);
    assert!(
        stderr(&build).contains("unused variable"),
        "{}",
        stderr(&build)
    );
    let c1 = env.counts();
    assert_moved(c1.since(c0), 0, 2, "build");

    // Metadata-only compiles: another command line, compiled once.
    let rmeta = |env: &Env| {
        built(env)
            .into_iter()
            .filter(|(k, _)| k.ends_with(".rmeta"))
            .collect::<BTreeMap<_, _>>()
    };
    let built_rmeta = rmeta(&env);
    let check1 = cargo_ok(&env, &["check", "-v"]);
    let units = rustc_runs(&check1);
    assert_eq!(units, 2, "{}", stderr(&check1));
    assert!(stderr(&check1).contains("--emit=dep-info,metadata "));
    let c2 = env.counts();
    assert_moved(c2.since(c1), 0, units, "check after build");
    let rmeta = |env: &Env| {
        built(env)
            .into_iter()
            .filter(|(k, _)| k.ends_with(".rmeta"))
            .collect::<BTreeMap<_, _>>()
    };
    // The build left dep's rlib and rmeta; check adds metadata of its own
    // for both crates.
    let checked: BTreeMap<_, _> = rmeta(&env)
        .into_iter()
        .filter(|(k, _)| !built_rmeta.contains_key(k))
        .collect();
    assert_eq!(checked.len(), 2, "{:?}", checked.keys());

    clean(&env);
    let check2 = cargo_ok(&env, &["check", "-v"]);
    assert_eq!(rustc_runs(&check2), units);
    let c3 = env.counts();
    assert_moved(c3.since(c2), units, 0, "check after clean");
    assert_eq!(
        stable_stderr(&check2, &target(&env)),
        stable_stderr(&check1, &target(&env))
    );
    assert!(rmeta(&env) == checked, "the same metadata");

    // And the build after that is all hits too (stored by the first build).
    let build2 = cargo_ok(&env, &["build"]);
    assert_moved(env.counts().since(c3), 2, 0, "build after check");
    assert_eq!(
        stable_stderr(&build2, &target(&env)),
        stable_stderr(&build, &target(&env))
    );
    assert_eq!(run(&env, "app"), "value=42\n");
}

// ---------------------------------------------------------------------
// 7. Failed compiles
// ---------------------------------------------------------------------

/// A failed compile runs again every time, with the bare compiler's exit
/// code and errors: its dep-info leaves out what made it fail (a missing
/// module file, say), so a stored failure was replayed after the fix.
#[test]
fn a_failing_crate_is_compiled_again_until_fixed() {
    let env = Env::new();
    workspace(&env, &["app"]);
    package(&env, "app", "");
    env.write(
        "app/src/main.rs",
        "mod sub;\nfn main() {\n    let x: u32 = \"not a number\";\n    println!(\"{x} {}\", sub::V);\n}\n",
    );
    env.write("app/src/sub.rs", "pub const V: u32 = 1;\n");
    let bare = cargo_with(&env, Wrap::None, &[], &["build", "--offline"]);
    assert_eq!(bare.status.code(), Some(101));
    assert!(stderr(&bare).contains("E0308"), "{}", stderr(&bare));

    let c0 = env.counts();
    let first = cargo(&env, &["build"]);
    let c1 = env.counts();
    assert_moved(c1.since(c0), 0, 1, "first failing build");
    assert_eq!(first.status.code(), bare.status.code());
    assert_eq!(stderr(&first), stderr(&bare));

    // cargo keeps no fingerprint of a failed unit: it runs rustc again,
    // and so does ccd.
    let second = cargo(&env, &["build"]);
    let c2 = env.counts();
    assert_moved(c2.since(c1), 0, 1, "second failing build");
    assert_eq!(second.status.code(), first.status.code());
    assert_eq!(stderr(&second), stderr(&first));

    env.write(
        "app/src/main.rs",
        "mod sub;\nfn main() {\n    let x: u32 = 12;\n    println!(\"{x} {}\", sub::V);\n}\n",
    );
    cargo_ok(&env, &["build"]);
    // The module file goes missing: E0583, from the same main.rs.
    std::fs::remove_file(env.path("app/src/sub.rs")).unwrap();
    let missing = cargo(&env, &["build"]);
    assert!(stderr(&missing).contains("E0583"), "{}", stderr(&missing));
    // It comes back: the build passes (a stored E0583 was replayed here).
    env.write("app/src/sub.rs", "pub const V: u32 = 1;\n");
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "12 1\n");
}

// ---------------------------------------------------------------------
// 8. Probes
// ---------------------------------------------------------------------

#[test]
fn version_and_print_probes_pass_through() {
    let env = Env::new();
    lib_and_bin(&env);
    cargo_ok(&env, &["build"]);
    assert!(
        reason_count(&env, "rustc: version/info query") >= 1,
        "{}",
        reasons(&env)
    );
    assert_eq!(run(&env, "app"), "value=42\n");

    // Directly: the same output as rustc's own, and counted as such.
    let rustc = |args: &[&str]| {
        let ours = env.ccd().arg("rustc").args(args).output().unwrap();
        let bare = Command::new("rustc")
            .args(args)
            .current_dir(&env.work)
            .output()
            .unwrap();
        assert_ok(&bare);
        assert_eq!(ours.status.code(), bare.status.code(), "rustc {args:?}");
        assert_eq!(ours.stdout, bare.stdout, "rustc {args:?}");
        assert_eq!(ours.stderr, bare.stderr, "rustc {args:?}");
    };
    let before = reason_count(&env, "rustc: version/info query");
    let c0 = env.counts();
    rustc(&["-vV"]);
    assert_eq!(reason_count(&env, "rustc: version/info query"), before + 1);
    let before = reason_count(&env, "rustc: --print");
    rustc(&["--print", "sysroot"]);
    rustc(&["--print=cfg"]);
    assert_eq!(reason_count(&env, "rustc: --print"), before + 2);
    let c1 = env.counts();
    let m = c1.since(c0);
    assert_moved(m, 0, 0, "probes");
    assert_eq!(m.non_cacheable, 3, "probes: {m}");
}

// ---------------------------------------------------------------------
// 9. Incremental compilation
// ---------------------------------------------------------------------

#[test]
fn incremental_is_not_cached_and_still_builds() {
    let env = Env::new();
    lib_and_bin(&env);
    let build = |env: &Env| {
        let out = cargo_with(
            env,
            Wrap::Env,
            &[("CARGO_INCREMENTAL", "1")],
            &["build", "-v", "--offline"],
        );
        assert_ok(&out);
        out
    };
    let before = reason_count(&env, "rustc: -C incremental");
    let c0 = env.counts();
    let out = build(&env);
    assert!(stderr(&out).contains("-C incremental="), "{}", stderr(&out));
    let units = rustc_runs(&out);
    assert_eq!(units, 2);
    let c1 = env.counts();
    assert_moved(c1.since(c0), 0, 0, "incremental build");
    assert_eq!(reason_count(&env, "rustc: -C incremental"), before + units);
    assert_eq!(run(&env, "app"), "value=42\n");
    assert!(target(&env).join("debug/incremental").is_dir());

    env.write("dep/src/lib.rs", "pub fn value() -> u32 {\n    7\n}\n");
    build(&env);
    assert_moved(env.counts().since(c1), 0, 0, "incremental rebuild");
    assert_eq!(
        reason_count(&env, "rustc: -C incremental"),
        before + 2 * units
    );
    assert_eq!(run(&env, "app"), "value=8\n");
}

// ---------------------------------------------------------------------
// 10. .cargo/config.toml
// ---------------------------------------------------------------------

#[test]
fn cargo_config_rustc_wrapper_works_like_the_variable() {
    let env = Env::new();
    lib_and_bin(&env);
    env.write(
        ".cargo/config.toml",
        &format!("[build]\nrustc-wrapper = \"{CCD}\"\n"),
    );
    let build = |env: &Env| {
        let out = cargo_with(env, Wrap::None, &[], &["build", "-v", "--offline"]);
        assert_ok(&out);
        out
    };
    let c0 = env.counts();
    let out = build(&env);
    assert!(
        stderr(&out).contains(&format!("Running `{CCD} ")),
        "{}",
        stderr(&out)
    );
    let units = rustc_runs(&out);
    assert_eq!(units, 2);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "value=42\n");
    assert_moved(c1.since(c0), 0, units, "first build");

    clean(&env);
    build(&env);
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "value=42\n");
    assert_moved(c2.since(c1), units, 0, "rebuild after clean");

    // The variable and the file share the cache entries.
    clean(&env);
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "value=42\n");
    assert_moved(env.counts().since(c2), units, 0, "RUSTC_WRAPPER as well");
}

// ---------------------------------------------------------------------
// Native libraries, linker arguments, crate types ccd does not cache
// ---------------------------------------------------------------------

#[test]
fn native_library_change_is_picked_up() {
    // build.rs makes libnat.a from nat.c in OUT_DIR and links it
    // (`-L native=OUT_DIR -l static=nat`); rustc bundles it into the rlib.
    let env = Env::new();
    workspace(&env, &["app", "nat"]);
    package(&env, "nat", "build = \"build.rs\"\n");
    env.write(
        "nat/build.rs",
        &[
            BUILD_SCRIPT_AGE,
            r#"use std::process::Command;
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=nat.c");
    let out = std::env::var("OUT_DIR").unwrap();
    let ok = Command::new("cc")
        .args(["-c", "nat.c", "-o"])
        .arg(format!("{out}/nat.o"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let _ = std::fs::remove_file(format!("{out}/libnat.a"));
    let ok = Command::new("ar")
        .arg("crs")
        .arg(format!("{out}/libnat.a"))
        .arg(format!("{out}/nat.o"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rustc-link-lib=static=nat");
    std::thread::sleep(std::time::Duration::from_millis(AGE_MS));
}
"#,
        ]
        .concat(),
    );
    env.write("nat/nat.c", "unsigned nat_value(void) { return 11; }\n");
    env.write(
        "nat/src/lib.rs",
        "extern \"C\" {\n    fn nat_value() -> u32;\n}\npub fn value() -> u32 {\n    unsafe { nat_value() }\n}\n",
    );
    package(&env, "app", "[dependencies]\nnat = { path = \"../nat\" }\n");
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"nat={}\", nat::value());\n}\n",
    );
    let c0 = env.counts();
    cargo_ok(&env, &["build"]);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "nat=11\n");
    assert_moved(c1.since(c0), 0, 3, "first build");

    // Only the C library changes; the Rust sources and command lines not.
    env.write("nat/nat.c", "unsigned nat_value(void) { return 22; }\n");
    cargo_ok(&env, &["build"]);
    let c2 = env.counts();
    assert_eq!(run(&env, "app"), "nat=22\n");
    assert_moved(c2.since(c1), 0, 2, "C edit");

    clean(&env);
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "nat=22\n");
    assert_moved(env.counts().since(c2), 3, 0, "rebuild after clean");
}

#[test]
fn link_args_and_dylibs_are_not_cached_but_build() {
    // `dy` is a Rust dylib (built alone: a user would need
    // `-C prefer-dynamic`); app's build script adds a linker argument.
    let env = Env::new();
    workspace(&env, &["app", "dy"]);
    package(&env, "dy", "[lib]\ncrate-type = [\"dylib\"]\n");
    env.write("dy/src/lib.rs", "pub fn value() -> u32 {\n    5\n}\n");
    package(&env, "app", "build = \"build.rs\"\n");
    env.write(
        "app/build.rs",
        "fn main() {\n    println!(\"cargo:rerun-if-changed=build.rs\");\n    println!(\"cargo:rustc-link-arg=-Wl,--as-needed\");\n}\n",
    );
    env.write(
        "app/src/main.rs",
        "fn main() {\n    println!(\"app={}\", 3);\n}\n",
    );
    let dylib = reason_count(&env, "rustc: crate type");
    let link_arg = reason_count(&env, "rustc: -C link-arg on a linked crate");
    let c0 = env.counts();
    cargo_ok(&env, &["build"]);
    let c1 = env.counts();
    assert_eq!(run(&env, "app"), "app=3\n");
    assert!(target(&env).join("debug/libdy.so").is_file());
    // Only app's build script is cached.
    assert_moved(c1.since(c0), 0, 1, "first build");
    assert_eq!(
        reason_count(&env, "rustc: crate type"),
        dylib + 1,
        "{}",
        reasons(&env)
    );
    assert_eq!(
        reason_count(&env, "rustc: -C link-arg on a linked crate"),
        link_arg + 1,
        "{}",
        reasons(&env)
    );

    clean(&env);
    cargo_ok(&env, &["build"]);
    assert_eq!(run(&env, "app"), "app=3\n");
    assert_moved(env.counts().since(c1), 1, 0, "rebuild after clean");
    assert_eq!(reason_count(&env, "rustc: crate type"), dylib + 2);
}

// ---------------------------------------------------------------------
// cargo test
// ---------------------------------------------------------------------

#[test]
fn cargo_test_binaries_are_cached() {
    let env = Env::new();
    lib_and_bin(&env);
    env.write(
        "dep/src/lib.rs",
        "pub fn value() -> u32 {\n    41\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn value_is_41() {\n        assert_eq!(super::value(), 41);\n    }\n}\n",
    );
    let c0 = env.counts();
    let first = cargo_ok(&env, &["test", "-p", "dep"]);
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("test tests::value_is_41 ... ok"),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let c1 = env.counts();
    let first_misses = c1.since(c0).misses;
    assert!(first_misses > 0);
    clean(&env);
    let second = cargo_ok(&env, &["test", "-p", "dep"]);
    assert!(String::from_utf8_lossy(&second.stdout).contains("test tests::value_is_41 ... ok"));
    let c2 = env.counts();
    assert_moved(c2.since(c1), first_misses, 0, "cargo test after clean");

    // The test now fails: the cached test binary must not be the old one.
    env.write(
        "dep/src/lib.rs",
        "pub fn value() -> u32 {\n    40\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn value_is_41() {\n        assert_eq!(super::value(), 41);\n    }\n}\n",
    );
    let third = cargo(&env, &["test", "-p", "dep"]);
    assert!(!third.status.success());
    assert!(String::from_utf8_lossy(&third.stdout).contains("test tests::value_is_41 ... FAILED"));
}
