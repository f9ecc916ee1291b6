//! Classifies a rustc command line. Cargo's compiles are cacheable; probes
//! (`-vV`, `--print`, source on stdin) and anything whose outputs or inputs
//! ccd cannot know are passed through with a reason.

use crate::non_cacheable::NonCacheable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrateType {
    Lib,
    Rlib,
    Staticlib,
    Bin,
    ProcMacro,
    Cdylib,
}

impl CrateType {
    fn parse(s: &[u8]) -> Option<CrateType> {
        Some(match s {
            b"lib" => CrateType::Lib,
            b"rlib" => CrateType::Rlib,
            b"staticlib" => CrateType::Staticlib,
            b"bin" => CrateType::Bin,
            b"proc-macro" => CrateType::ProcMacro,
            b"cdylib" => CrateType::Cdylib,
            _ => return None,
        })
    }

    /// Linked by the system linker (the linker and native libraries are
    /// then inputs).
    pub fn is_linked(self) -> bool {
        matches!(
            self,
            CrateType::Bin | CrateType::ProcMacro | CrateType::Cdylib
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmitKind {
    Link,
    Metadata,
    DepInfo,
    Obj,
    Asm,
    LlvmIr,
    LlvmBc,
    Mir,
}

impl EmitKind {
    fn parse(s: &[u8]) -> Option<EmitKind> {
        Some(match s {
            b"link" => EmitKind::Link,
            b"metadata" => EmitKind::Metadata,
            b"dep-info" => EmitKind::DepInfo,
            b"obj" => EmitKind::Obj,
            b"asm" => EmitKind::Asm,
            b"llvm-ir" => EmitKind::LlvmIr,
            b"llvm-bc" => EmitKind::LlvmBc,
            b"mir" => EmitKind::Mir,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    pub kind: EmitKind,
    /// `--emit=kind=PATH`.
    pub path: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustInvocation {
    pub crate_name: Vec<u8>,
    pub crate_types: Vec<CrateType>,
    pub emits: Vec<Emit>,
    pub out_dir: Option<Vec<u8>>,
    pub output: Option<Vec<u8>>,
    pub extra_filename: Vec<u8>,
    pub source: Vec<u8>,
    /// `--extern name=path`: the paths (crates whose contents are inputs).
    pub extern_paths: Vec<Vec<u8>>,
    /// `-L [kind=]dir`, kinds `native`, `all` or none: where `-l` libraries
    /// are searched.
    pub native_dirs: Vec<Vec<u8>>,
    /// `-l [kind[:mods]=]name[:rename]`: the names.
    pub native_libs: Vec<Vec<u8>>,
    /// `-C linker=...`.
    pub linker: Option<Vec<u8>>,
    /// `--target` when it names a JSON target specification (an input).
    pub target_spec: Option<Vec<u8>>,
    /// Every argument (they all may change the outputs).
    pub key_args: Vec<Vec<u8>>,
    /// `--remap-path-prefix` values (FROM=TO).
    pub remaps: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RustParsed {
    Cacheable(Box<RustInvocation>),
    NonCacheable(NonCacheable),
}

/// A file rustc writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RustOutput {
    /// The crate itself (`--emit=link`) of this type.
    Crate(CrateType),
    /// Another `--emit` kind (metadata, dep-info, obj, ...).
    Emitted(EmitKind),
}

/// `-C` options refused: they read or write files ccd does not track.
const C_REFUSED: &[&str] = &["profile-use", "save-temps", "remark", "llvm-args", "passes"];

/// Long options that take a value (separate, or joined with `=`).
const LONG_VALUED: &[&str] = &[
    "--cfg",
    "--check-cfg",
    "--crate-type",
    "--crate-name",
    "--edition",
    "--emit",
    "--print",
    "--out-dir",
    "--explain",
    "--target",
    "--force-warn",
    "--warn",
    "--allow",
    "--deny",
    "--forbid",
    "--cap-lints",
    "--codegen",
    "--extern",
    "--sysroot",
    "--error-format",
    "--json",
    "--color",
    "--diagnostic-width",
    "--remap-path-prefix",
    "--crate-attr",
    "--env-set",
];

/// Short options that take a value (separate, or glued on: `-Cfoo`).
const SHORT_VALUED: &[u8] = b"CLloAWDFZ";

fn refuse(why: NonCacheable) -> RustParsed {
    RustParsed::NonCacheable(why)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An option that takes a value, last on the line: rustc refuses the
/// command line ("Argument to option 'C' missing").
fn without_value(option: &[u8]) -> RustParsed {
    refuse(NonCacheable::WithoutValue(lossy(option)))
}

pub fn parse<A: AsRef<[u8]>>(args: &[A]) -> RustParsed {
    let mut inv = RustInvocation {
        crate_name: Vec::new(),
        crate_types: Vec::new(),
        emits: Vec::new(),
        out_dir: None,
        output: None,
        extra_filename: Vec::new(),
        source: Vec::new(),
        extern_paths: Vec::new(),
        native_dirs: Vec::new(),
        native_libs: Vec::new(),
        linker: None,
        target_spec: None,
        key_args: Vec::new(),
        remaps: Vec::new(),
    };
    // rustc expands every argument that starts with `@` before reading
    // options, a value too (`--edition @f`).
    if args.iter().any(|a| a.as_ref().first() == Some(&b'@')) {
        return refuse(NonCacheable::ArgumentFile);
    }
    let mut sources = 0;
    let mut link_args = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        i += 1;
        inv.key_args.push(a.to_vec());
        if a == b"-" {
            return refuse(NonCacheable::SourceFromStdin);
        }
        if a.first() != Some(&b'-') {
            inv.source = a.to_vec();
            sources += 1;
            continue;
        }
        // Split `--opt=value`, `--opt value`, `-Cvalue`, `-C value`.
        let (name, value): (&[u8], Option<&[u8]>) = if a.starts_with(b"--") {
            match a.iter().position(|b| *b == b'=') {
                Some(eq) => (&a[..eq], Some(&a[eq + 1..])),
                None if LONG_VALUED.iter().any(|o| o.as_bytes() == a) => {
                    let Some(v) = args.get(i).map(AsRef::as_ref) else {
                        return without_value(a);
                    };
                    inv.key_args.push(v.to_vec());
                    i += 1;
                    (a, Some(v))
                }
                None => (a, None),
            }
        } else if a.len() >= 2 && SHORT_VALUED.contains(&a[1]) {
            if a.len() > 2 {
                (&a[..2], Some(&a[2..]))
            } else {
                let Some(v) = args.get(i).map(AsRef::as_ref) else {
                    return without_value(a);
                };
                inv.key_args.push(v.to_vec());
                i += 1;
                (a, Some(v))
            }
        } else {
            (a, None)
        };
        let needs = |v: Option<&[u8]>| v.map(<[u8]>::to_vec);
        match name {
            b"-V" | b"--version" | b"-vV" | b"-v" | b"--help" | b"-h" | b"--explain" => {
                return refuse(NonCacheable::InfoQuery);
            }
            b"--print" => return refuse(NonCacheable::Print),
            b"-Z" => return refuse(NonCacheable::UnstableOption),
            b"--test" | b"-g" | b"-O" => {}
            b"--crate-name" => match needs(value) {
                Some(v) => inv.crate_name = v,
                None => return refuse(NonCacheable::CrateNameWithoutValue),
            },
            b"--crate-type" => {
                for t in value.unwrap_or_default().split(|b| *b == b',') {
                    match CrateType::parse(t) {
                        Some(ct) => inv.crate_types.push(ct),
                        None => {
                            return refuse(NonCacheable::CrateType(lossy(t)));
                        }
                    }
                }
            }
            b"--emit" => {
                for e in value.unwrap_or_default().split(|b| *b == b',') {
                    let (k, p) = match e.iter().position(|b| *b == b'=') {
                        Some(eq) => (&e[..eq], Some(e[eq + 1..].to_vec())),
                        None => (e, None),
                    };
                    match EmitKind::parse(k) {
                        Some(kind) => inv.emits.push(Emit { kind, path: p }),
                        None => return refuse(NonCacheable::Emit(lossy(k))),
                    }
                }
            }
            b"--out-dir" => inv.out_dir = needs(value),
            b"-o" => inv.output = needs(value),
            b"--extern" => {
                if let Some(v) = value
                    && let Some(eq) = v.iter().position(|b| *b == b'=')
                {
                    inv.extern_paths.push(v[eq + 1..].to_vec());
                }
            }
            b"-L" => {
                let v = value.unwrap_or_default();
                match v.iter().position(|b| *b == b'=') {
                    Some(eq) if matches!(&v[..eq], b"native" | b"all") => {
                        inv.native_dirs.push(v[eq + 1..].to_vec());
                    }
                    Some(_) => {}
                    None => inv.native_dirs.push(v.to_vec()),
                }
            }
            b"-l" => {
                let v = value.unwrap_or_default();
                let name = v.rsplit(|b| *b == b'=').next().unwrap_or(v);
                let name = name.split(|b| *b == b':').next().unwrap_or(name);
                inv.native_libs.push(name.to_vec());
            }
            b"-C" | b"--codegen" => {
                let v = value.unwrap_or_default();
                let (k, val) = match v.iter().position(|b| *b == b'=') {
                    Some(eq) => (&v[..eq], &v[eq + 1..]),
                    None => (v, &b""[..]),
                };
                let k_str = String::from_utf8_lossy(k).replace('_', "-");
                if k_str == "incremental" {
                    return refuse(NonCacheable::Incremental);
                }
                if C_REFUSED.contains(&k_str.as_str()) {
                    return refuse(NonCacheable::Codegen(k_str));
                }
                match k_str.as_str() {
                    "extra-filename" => inv.extra_filename = val.to_vec(),
                    "linker" => inv.linker = Some(val.to_vec()),
                    "link-arg" | "link-args" => link_args = true,
                    "split-debuginfo" if val != b"off" => {
                        return refuse(NonCacheable::SplitDebuginfo);
                    }
                    _ => {}
                }
            }
            b"--target" => {
                if let Some(v) = value
                    && v.ends_with(b".json")
                {
                    inv.target_spec = Some(v.to_vec());
                }
            }
            b"--remap-path-prefix" => inv.remaps.extend(needs(value)),
            b"--cfg"
            | b"--check-cfg"
            | b"--edition"
            | b"--cap-lints"
            | b"--error-format"
            | b"--json"
            | b"--color"
            | b"--diagnostic-width"
            | b"--crate-attr"
            | b"--sysroot"
            | b"-A"
            | b"-W"
            | b"-D"
            | b"-F"
            | b"--force-warn"
            | b"--warn"
            | b"--allow"
            | b"--deny"
            | b"--forbid" => {}
            b"--env-set" => return refuse(NonCacheable::EnvSet),
            _ => return refuse(NonCacheable::Unsupported(lossy(a))),
        }
    }
    if sources != 1 {
        return refuse(if sources == 0 {
            NonCacheable::NoSource
        } else {
            NonCacheable::SeveralSources
        });
    }
    if inv.crate_name.is_empty() {
        return refuse(NonCacheable::NoCrateName);
    }
    if inv.crate_types.is_empty() {
        // The source could choose with #![crate_type]: do not guess.
        return refuse(NonCacheable::NoCrateType);
    }
    if inv.emits.is_empty() {
        inv.emits.push(Emit {
            kind: EmitKind::Link,
            path: None,
        });
    }
    // What the crate read is learned from its own dep-info: adding one it
    // was not asked for changes the crate rustc writes (the outputs asked
    // for are part of its metadata).
    if !inv.emits(EmitKind::DepInfo) {
        return refuse(NonCacheable::NoDepInfo);
    }
    if link_args && inv.crate_types.iter().any(|t| t.is_linked()) {
        return refuse(NonCacheable::LinkArgOnLinkedCrate);
    }
    if inv.output.is_some() && inv.outputs().len() != 1 {
        return refuse(NonCacheable::OutputForSeveral);
    }
    RustParsed::Cacheable(Box::new(inv))
}

impl RustInvocation {
    /// The files rustc writes, with what each is, the crate first.
    pub fn outputs(&self) -> Vec<(RustOutput, Vec<u8>)> {
        let stem = [&self.crate_name[..], &self.extra_filename[..]].concat();
        let dir = self.out_dir.clone().unwrap_or_default();
        let in_dir = |name: Vec<u8>| -> Vec<u8> {
            if dir.is_empty() {
                name
            } else {
                [&dir[..], b"/", &name[..]].concat()
            }
        };
        let mut v = Vec::new();
        for e in &self.emits {
            let mut named = |role: RustOutput, file: Vec<u8>| {
                let path = match (&e.path, &self.output) {
                    (Some(p), _) => p.clone(),
                    (None, Some(o)) => o.clone(),
                    (None, None) => in_dir(file),
                };
                v.push((role, path));
            };
            let lib = |ext: &str| [&b"lib"[..], &stem, ext.as_bytes()].concat();
            match e.kind {
                EmitKind::Link => {
                    for ct in &self.crate_types {
                        let file = match ct {
                            CrateType::Lib | CrateType::Rlib => lib(".rlib"),
                            CrateType::Staticlib => lib(".a"),
                            CrateType::ProcMacro | CrateType::Cdylib => lib(".so"),
                            CrateType::Bin => stem.clone(),
                        };
                        named(RustOutput::Crate(*ct), file);
                    }
                }
                EmitKind::Metadata => named(RustOutput::Emitted(e.kind), lib(".rmeta")),
                kind => {
                    let ext: &[u8] = match kind {
                        EmitKind::DepInfo => b".d",
                        EmitKind::Obj => b".o",
                        EmitKind::Asm => b".s",
                        EmitKind::LlvmIr => b".ll",
                        EmitKind::LlvmBc => b".bc",
                        _ => b".mir",
                    };
                    named(RustOutput::Emitted(kind), [&stem[..], ext].concat());
                }
            }
        }
        // The crate itself first: that is what a build waits for.
        v.sort_by_key(|(role, _)| !matches!(role, RustOutput::Crate(_)));
        v
    }

    pub fn emits(&self, kind: EmitKind) -> bool {
        self.emits.iter().any(|e| e.kind == kind)
    }

    pub fn is_linked(&self) -> bool {
        self.emits(EmitKind::Link) && self.crate_types.iter().any(|t| t.is_linked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cargo_lib() -> Vec<&'static str> {
        "--crate-name dep --edition=2024 dep/src/lib.rs --error-format=json \
         --json=diagnostic-rendered-ansi,artifacts,future-incompat --crate-type lib \
         --emit=dep-info,metadata,link -C embed-bitcode=no -C debuginfo=2 \
         --check-cfg cfg(docsrs,test) -C metadata=590ac74a74d4339a \
         -C extra-filename=-054e37a5e5b0dc4b --out-dir /t/debug/deps \
         -L dependency=/t/debug/deps --extern serde=/t/debug/deps/libserde-1.rmeta"
            .split_whitespace()
            .collect()
    }

    #[test]
    fn cargo_library_compile() {
        let RustParsed::Cacheable(i) = parse(&cargo_lib()) else {
            panic!()
        };
        assert_eq!(i.crate_name, b"dep");
        assert_eq!(i.crate_types, vec![CrateType::Lib]);
        assert_eq!(i.source, b"dep/src/lib.rs");
        assert_eq!(
            i.extern_paths,
            vec![b"/t/debug/deps/libserde-1.rmeta".to_vec()]
        );
        let outs: Vec<(RustOutput, String)> = i
            .outputs()
            .into_iter()
            .map(|(r, p)| (r, String::from_utf8(p).unwrap()))
            .collect();
        assert_eq!(
            outs,
            vec![
                (
                    RustOutput::Crate(CrateType::Lib),
                    "/t/debug/deps/libdep-054e37a5e5b0dc4b.rlib".into()
                ),
                (
                    RustOutput::Emitted(EmitKind::DepInfo),
                    "/t/debug/deps/dep-054e37a5e5b0dc4b.d".into()
                ),
                (
                    RustOutput::Emitted(EmitKind::Metadata),
                    "/t/debug/deps/libdep-054e37a5e5b0dc4b.rmeta".into()
                ),
            ]
        );
    }

    #[test]
    fn refused() {
        let reason = |a: &str| match parse(&a.split_whitespace().collect::<Vec<_>>()) {
            RustParsed::NonCacheable(r) => r,
            RustParsed::Cacheable(_) => panic!("{a} cacheable"),
        };
        assert_eq!(reason("-vV"), NonCacheable::InfoQuery);
        assert_eq!(
            reason("- --crate-name ___ --print=file-names"),
            NonCacheable::SourceFromStdin
        );
        let mut incremental = cargo_lib();
        incremental.extend(["-C", "incremental=/t/inc"]);
        assert_eq!(reason(&incremental.join(" ")), NonCacheable::Incremental);
        let mut profile = cargo_lib();
        profile.extend(["-Cprofile_use=/t/p"]);
        assert_eq!(
            reason(&profile.join(" ")),
            NonCacheable::Codegen("profile-use".into())
        );
        assert_eq!(
            reason("--crate-name x src/lib.rs"),
            NonCacheable::NoCrateType
        );
        assert_eq!(
            reason(
                "--crate-name x --crate-type bin src/main.rs --emit=dep-info,link -C link-arg=-Wl,-T,x.ld"
            ),
            NonCacheable::LinkArgOnLinkedCrate
        );
        // Its own dep-info says what a crate read; one added by ccd would
        // change the crate rustc writes.
        assert_eq!(
            reason("--crate-name x --crate-type lib src/lib.rs --emit=link"),
            NonCacheable::NoDepInfo
        );
        assert_eq!(
            reason("--crate-name x --crate-type dylib src/lib.rs"),
            NonCacheable::CrateType("dylib".into())
        );
        // An argument file has its own bucket in the statistics (it once
        // fell into "unsupported option").
        let mut with_file = cargo_lib();
        with_file.push("@/t/args");
        assert_eq!(reason(&with_file.join(" ")).label(), "rustc: argument file");
    }

    fn refusal(args: &[&str]) -> NonCacheable {
        match parse(args) {
            RustParsed::NonCacheable(r) => r,
            RustParsed::Cacheable(i) => panic!("{args:?} cacheable: {i:?}"),
        }
    }

    /// rustc expands every argument that starts with `@`, option values
    /// too: `--edition @f` reads the edition from `f`. Seen while reading
    /// `fuzz_rustc_args`'s first crash (below); the target now checks it,
    /// and keeps `fuzz/regressions/fuzz_rustc_args/argument-file-as-a-value`.
    #[test]
    fn argument_file_as_an_option_value_is_refused() {
        for opt in ["--edition", "-o", "--cfg", "-C", "-L"] {
            let mut args = cargo_lib();
            args.extend([opt, "@/t/args"]);
            assert_eq!(refusal(&args), NonCacheable::ArgumentFile, "{opt}");
        }
    }

    /// rustc refuses a command line that ends in an option still waiting
    /// for its value ("Argument to option 'edition' missing"); ccd took it
    /// for a compile, and an argument added after it for that value (an
    /// appended `-C incremental=...` became the edition). Found by
    /// `fuzz_rustc_args`, kept as
    /// `fuzz/regressions/fuzz_rustc_args/option-without-its-value`.
    #[test]
    fn option_without_its_value_is_refused() {
        for opt in [
            "--edition",
            "-C",
            "--codegen",
            "-o",
            "-L",
            "-l",
            "--extern",
            "--out-dir",
            "--cfg",
            "--target",
            "-A",
            "--cap-lints",
        ] {
            let mut args = cargo_lib();
            args.push(opt);
            assert_eq!(refusal(&args), NonCacheable::WithoutValue(opt.into()));
        }
    }

    #[test]
    fn lint_levels_from_cargo_lints_tables() {
        let mut args = cargo_lib();
        args.extend([
            "--warn=rust_2018_idioms",
            "--allow",
            "clippy::all",
            "--deny=unsafe_code",
            "--forbid=x",
        ]);
        assert!(matches!(parse(&args), RustParsed::Cacheable(_)));
    }

    #[test]
    fn binaries_and_checks() {
        let RustParsed::Cacheable(i) = parse(&[
            "--crate-name",
            "app",
            "--crate-type",
            "bin",
            "src/main.rs",
            "--emit=dep-info,link",
            "-C",
            "extra-filename=-9",
            "--out-dir",
            "out",
        ]) else {
            panic!()
        };
        assert!(i.is_linked());
        assert_eq!(
            i.outputs()[0],
            (RustOutput::Crate(CrateType::Bin), b"out/app-9".to_vec())
        );
        let RustParsed::Cacheable(i) = parse(&[
            "--crate-name",
            "c",
            "--crate-type",
            "lib",
            "src/lib.rs",
            "--emit=dep-info,metadata",
        ]) else {
            panic!()
        };
        assert!(!i.emits(EmitKind::Link));
        assert_eq!(i.outputs()[0].0, RustOutput::Emitted(EmitKind::DepInfo));
    }
}
