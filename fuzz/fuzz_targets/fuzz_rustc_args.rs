//! rustc command lines: the input split on NUL is argv (after `rustc`).
//!
//! 1. `parse` never panics and is deterministic.
//! 2. For a cacheable invocation: `key_args` is every argument, verbatim and
//!    in order (they all may change the outputs); the source is one of the
//!    arguments; crate name, crate types and emits are set; `outputs()` has
//!    one file per emitted kind (one per crate type for `link`), the crate
//!    first, exactly one with `-o`, and files rustc names itself (no
//!    `--emit=kind=PATH`, no `-o`) are distinct for distinct roles;
//!    `is_linked()` holds exactly when a bin, proc-macro or cdylib is linked.
//!    No argument starts with `@` (rustc reads any such argument, an
//!    option's value too, as an argument file).
//! 3. Arguments that must refuse (argument files, stdin, `-C incremental`,
//!    `-Z`, `--print`, ...) make it non-cacheable whether put before or
//!    after the others, and `-C link-arg` does exactly when a crate type is
//!    linked.
#![no_main]

use ccd_rustc::{CrateType, EmitKind, RustOutput, RustParsed, parse};
use libfuzzer_sys::fuzz_target;

/// Each must make any command line non-cacheable, first or last.
const REFUSING: &[&[&str]] = &[
    &["-Cincremental=/t/inc"],
    &["-C", "incremental=/t/inc"],
    &["--codegen=incremental=/t/inc"],
    &["-C", "save_temps"],
    &["-Cprofile-use=/t/p.profdata"],
    &["-Csplit-debuginfo=packed"],
    &["-Zunpretty=expanded"],
    &["--print=cfg"],
    &["-vV"],
    &["--env-set=A=B"],
    &["--crate-type=dylib"],
    &["@/t/args"],
    &["-"],
];

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let parsed = parse(&args);
    assert_eq!(parse(&args), parsed, "not deterministic: {args:?}");
    let RustParsed::Cacheable(inv) = parsed else {
        return;
    };

    assert_eq!(inv.key_args, args, "key_args is not every argument");
    // rustc reads any argument starting with `@` as an argument file, an
    // option's value too.
    assert!(!args.iter().any(|a| a.starts_with(b"@")), "argument file");
    assert!(args.contains(&&inv.source[..]));
    assert!(!inv.crate_name.is_empty());
    assert!(!inv.crate_types.is_empty());
    assert!(!inv.emits.is_empty());
    for e in &inv.extern_paths {
        assert!(
            args.iter().any(|a| a.ends_with(e)),
            "{e:?} from no argument"
        );
    }

    let outs: Vec<(&str, Vec<u8>)> = inv
        .outputs()
        .into_iter()
        .map(|(r, p)| (role(r), p))
        .collect();
    let expected: usize = inv
        .emits
        .iter()
        .map(|e| match e.kind {
            EmitKind::Link => inv.crate_types.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(outs.len(), expected, "{outs:?}");
    // The crate first: every `link:` role before every other one.
    let links = outs
        .iter()
        .take_while(|(r, _)| r.starts_with("link:"))
        .count();
    assert!(outs[links..].iter().all(|(r, _)| !r.starts_with("link:")));
    assert_eq!(links > 0, inv.emits(EmitKind::Link));
    if inv.output.is_some() {
        assert_eq!(outs.len(), 1, "-o with {outs:?}");
    }
    for e in &inv.emits {
        if let Some(p) = &e.path {
            assert!(outs.iter().any(|(_, q)| q == p), "{p:?} not in {outs:?}");
        }
    }
    if inv.output.is_none() && inv.emits.iter().all(|e| e.path.is_none()) {
        // rustc's own names: one file per role. `lib` and `rlib` are one
        // role (rustc writes one rlib); proc-macro and cdylib are both
        // `.so`, a mix rustc refuses.
        for (i, (r1, p1)) in outs.iter().enumerate() {
            for (r2, p2) in &outs[i + 1..] {
                let so = |r: &str| matches!(r, "link:proc-macro" | "link:cdylib");
                if r1 != r2 && !(so(r1) && so(r2)) {
                    assert_ne!(p1, p2, "{r1} and {r2} in {outs:?}");
                }
            }
        }
    }
    let linked_role = outs
        .iter()
        .any(|(r, _)| matches!(*r, "link:bin" | "link:proc-macro" | "link:cdylib"));
    assert_eq!(inv.is_linked(), linked_role, "{outs:?}");

    let with = |before: &[&str], after: &[&str]| {
        let mut v: Vec<&[u8]> = before.iter().map(|s| s.as_bytes()).collect();
        v.extend_from_slice(&args);
        v.extend(after.iter().map(|s| s.as_bytes()));
        parse(&v)
    };
    for r in REFUSING {
        for (before, after) in [(*r, &[][..]), (&[][..], *r)] {
            let got = with(before, after);
            assert!(
                matches!(got, RustParsed::NonCacheable(_)),
                "{args:?} with {before:?} before and {after:?} after: {got:?}"
            );
        }
    }
    let any_linked = inv.crate_types.iter().any(|t| t.is_linked());
    for link_arg in ["-Clink-arg=-Wl,-T,x.ld", "-Clink_args=x"] {
        let got = with(&[], &[link_arg]);
        assert_eq!(
            matches!(got, RustParsed::NonCacheable(_)),
            any_linked,
            "{args:?} + {link_arg}: {got:?}"
        );
    }
});

/// The role of an output as the daemon stores it: `lib` and `rlib` are one
/// (rustc writes one rlib).
fn role(r: RustOutput) -> &'static str {
    match r {
        RustOutput::Crate(CrateType::Lib | CrateType::Rlib) => "link:rlib",
        RustOutput::Crate(CrateType::Staticlib) => "link:staticlib",
        RustOutput::Crate(CrateType::ProcMacro) => "link:proc-macro",
        RustOutput::Crate(CrateType::Cdylib) => "link:cdylib",
        RustOutput::Crate(CrateType::Bin) => "link:bin",
        RustOutput::Emitted(kind) => match kind {
            EmitKind::Link => "link",
            EmitKind::Metadata => "metadata",
            EmitKind::DepInfo => "dep-info",
            EmitKind::Obj => "obj",
            EmitKind::Asm => "asm",
            EmitKind::LlvmIr => "llvm-ir",
            EmitKind::LlvmBc => "llvm-bc",
            EmitKind::Mir => "mir",
        },
    }
}
