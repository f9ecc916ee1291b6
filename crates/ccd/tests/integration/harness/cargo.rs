//! cargo: builds of small path-only workspaces with a clean environment,
//! through ccd as `RUSTC_WRAPPER` or bare, what they leave in the target
//! directory, and crates fetched from the registry for their sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::env::{CCD, Env, stderr};

/// Removes from `c` every variable of the `cargo test` running us that
/// would reach a cargo or rustc it starts (cargo's own, rustc's, ccd's).
fn without_cargo_env(c: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO")
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTFLAGS")
            || k.starts_with("RUSTDOC")
            || k.starts_with("CCD_")
            || k == "OUT_DIR"
        {
            c.env_remove(k.as_ref());
        }
    }
}

/// `cargo` in `env`'s work directory (arguments to add) with a clean
/// environment: none of the cargo, rustc and ccd variables of the `cargo
/// test` running us, a private cargo home (no user configuration such as a
/// global rustc-wrapper, no lock shared with other tests), no incremental
/// compilation, `target` as the target directory, no colours, and `env`'s
/// ccd settings; through ccd (`RUSTC_WRAPPER`) when `through_ccd`.
pub fn cargo_cmd(env: &Env, target: &Path, through_ccd: bool) -> Command {
    env.settle();
    let mut c = Command::new("cargo");
    without_cargo_env(&mut c);
    env.ccd_settings(&mut c);
    c.current_dir(&env.work)
        .env("CARGO_HOME", env.root.path().join("cargo-home"))
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never");
    if through_ccd {
        c.env("RUSTC_WRAPPER", CCD);
    }
    c
}

/// cargo's stderr without the lines that carry timings or tell of waiting
/// for a lock, and with the target directory `target` named `$TARGET`.
pub fn stable_stderr(out: &Output, target: &Path) -> String {
    let t = target.display().to_string();
    stderr(out)
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("Finished ") && !l.starts_with("Blocking waiting for file lock")
        })
        .map(|l| format!("{}\n", l.replace(&t, "$TARGET")))
        .collect()
}

/// Every file rustc wrote in `target` for the debug profile: `deps/`, the
/// uplifted artifacts and the compiled build scripts (not their runs'
/// outputs), by path relative to `debug/`. Dep-info files name the target
/// directory: `$TARGET` in its place.
pub fn artifacts(target: &Path) -> BTreeMap<String, Vec<u8>> {
    let debug = target.join("debug");
    let tstr = target.display().to_string();
    let mut m = BTreeMap::new();
    let mut add_dir = |dir: &Path, keep: &dyn Fn(&str) -> bool| {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if !e.file_type().unwrap().is_file() || !keep(&name) {
                continue;
            }
            let rel = e.path().strip_prefix(&debug).unwrap().display().to_string();
            let mut bytes = std::fs::read(e.path()).unwrap();
            if name.ends_with(".d") {
                bytes = String::from_utf8_lossy(&bytes)
                    .replace(&tstr, "$TARGET")
                    .into_bytes();
            }
            m.insert(rel, bytes);
        }
    };
    add_dir(&debug, &|n| n != ".cargo-lock");
    add_dir(&debug.join("deps"), &|_| true);
    for b in std::fs::read_dir(debug.join("build")).into_iter().flatten() {
        add_dir(&b.unwrap().path(), &|n| n.starts_with("build"));
    }
    m
}

/// The source directory of crate `name` at `version` (a requirement such
/// as `=0.7.1`) and the version found: fetched with cargo into a
/// throw-away project (downloaded on a fresh machine with access to
/// crates.io; offline, the local registry may have it already).
pub fn fetch_crate(name: &str, version: &str) -> (PathBuf, String) {
    let cargo = || Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let proj = tempfile::Builder::new()
        .prefix("ccd-fetch")
        .tempdir()
        .unwrap();
    std::fs::write(
        proj.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"ccd-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{name} = \"{version}\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(proj.path().join("src")).unwrap();
    std::fs::write(proj.path().join("src/lib.rs"), "").unwrap();
    let fetch = cargo()
        .arg("fetch")
        .current_dir(proj.path())
        .output()
        .unwrap();
    let mut meta = cargo();
    meta.args(["metadata", "--format-version", "1"]);
    if !fetch.status.success() {
        meta.arg("--offline");
    }
    let out = meta.current_dir(proj.path()).output().unwrap();
    assert!(
        out.status.success(),
        "cannot fetch {name} {version}: {}\n{}",
        stderr(&fetch),
        stderr(&out)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} in cargo metadata"));
    let manifest = Path::new(pkg["manifest_path"].as_str().unwrap());
    let found = pkg["version"].as_str().unwrap().to_string();
    (manifest.parent().unwrap().to_path_buf(), found)
}
