//! Classifies a GNU-style driver command line (gcc, clang and their C++
//! variants): cacheable with everything the key needs, or non-cacheable with
//! a reason. Options are accepted only when ccd knows what they do; anything
//! unknown makes the invocation non-cacheable rather than risk a wrong hit.

use crate::invocation::{
    DepKind, DepOptions, DepTarget, Invocation, Mode, NonCacheable, Parsed, SearchOptions,
    SideOutputs,
};
use crate::language::Language;

/// `-f` options ccd does not cache: they read inputs ccd does not track,
/// write files it does not know about, or print non-deterministic reports.
const F_REFUSED: &[&str] = &[
    "-fdump-",
    "-fplugin",
    "-fpass-plugin",
    "-fprofile-use",
    "-fprofile-sample-use",
    "-fprofile-instr-use",
    "-fprofile-remapping-file",
    "-fprofile-list",
    "-fprofile-note",
    "-fauto-profile",
    "-fsave-optimization-record",
    "-foptimization-record-file",
    "-fmodules",
    "-fmodule-",
    "-fimplicit-module",
    "-fcxx-modules",
    "-fdeps-",
    "-fcallgraph-info",
    "-fsanitize-blacklist",
    "-fsanitize-ignorelist",
    "-fsanitize-coverage-allowlist",
    "-fsanitize-coverage-ignorelist",
    "-fsanitize-coverage-blocklist",
    "-fsanitize-coverage-whitelist",
    "-fxray-attr-list",
    "-fxray-always-instrument",
    "-fxray-never-instrument",
    "-ftime-report",
    "-ftime-trace",
    "-fmem-report",
    "-fstats",
    "-fcompare-debug",
    "-fpch-preprocess",
    "-fthinlto-index",
    "-fembed-offload-object",
    "-fdiagnostics-format=sarif-file",
    "-fdiagnostics-format=json-file",
    "-fdiagnostics-add-output",
    "-fdiagnostics-set-output",
];

/// Options without a value that only change what is compiled (or linked),
/// never where anything is written.
const PLAIN_FLAGS: &[&str] = &[
    "-ansi",
    "-w",
    "-pipe",
    "-pthread",
    "-C",
    "-CC",
    "-P",
    "-trigraphs",
    "-undef",
    "-traditional",
    "-traditional-cpp",
    "-integrated-as",
    "-no-integrated-as",
    "-Qunused-arguments",
    "-emit-llvm",
    "-static",
    "-shared",
    "-rdynamic",
    "-s",
    "-nostdlib",
    "-nodefaultlibs",
    "-nostartfiles",
    "-nolibc",
    "-pie",
    "-no-pie",
    "-static-pie",
    "-static-libgcc",
    "-static-libstdc++",
    "-shared-libgcc",
    "--coverage",
];

/// Options that take the next argument (or a joined value) and only affect
/// linking or code generation.
const VALUE_OPTIONS: &[&str] = &[
    "-Xassembler",
    "-Xlinker",
    "-mllvm",
    "-L",
    "-l",
    "-u",
    "-z",
    "-T",
    "-e",
    "-A",
    "--param",
];

/// Options ccd refuses because they add hidden inputs or outputs.
const REFUSED: &[&str] = &[
    "-aux-info",
    "-dumpbase",
    "-dumpbase-ext",
    "-dumpdir",
    "-specs",
    "-B",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-imultilib",
    "-imultiarch",
    "-isystem-after",
    "-cxx-isystem",
    "-MJ",
    "-MG",
    "-I-",
    "-H",
    "-Q",
    "-time",
    "-ftime-report",
];

/// `-Xclang` values that load code or read/write files behind ccd's back.
const XCLANG_REFUSED: &[&str] = &[
    "-load",
    "-plugin",
    "-add-plugin",
    "-emit-pch",
    "-include-pch",
    "-dependency-file",
    "-dependency-dot",
    "-header-include-file",
    "-MT",
    "-fmodule",
];

/// Classifies `args` (the arguments after the compiler name) for a C
/// driver (gcc, clang, cc).
pub fn parse<A: AsRef<[u8]>>(args: &[A]) -> Parsed {
    parse_for(args, false)
}

/// Classifies `args` for a C driver or, with `cxx_driver`, a C++ driver
/// (g++, clang++, c++), which compiles `.c` files as C++.
pub fn parse_for<A: AsRef<[u8]>>(args: &[A], cxx_driver: bool) -> Parsed {
    let parser = Parser {
        cxx_driver,
        ..Parser::default()
    };
    match parser.run(args) {
        Ok(inv) => Parsed::Cacheable(Box::new(inv)),
        Err(Split::Sources(positions)) => Parsed::MultiFile {
            jobs: positions
                .iter()
                .map(|keep| {
                    args.iter()
                        .enumerate()
                        .filter(|(i, _)| i == keep || !positions.contains(i))
                        .map(|(_, a)| a.as_ref().to_vec())
                        .collect()
                })
                .collect(),
            sources: positions
                .iter()
                .map(|&i| args[i].as_ref().to_vec())
                .collect(),
        },
        Err(Split::No(reason)) => Parsed::NonCacheable(reason),
    }
}

#[derive(Default)]
struct Parser {
    cxx_driver: bool,
    compile_only: bool,
    assembly: bool,
    preprocess: bool,
    deps_only: bool,
    syntax_only: bool,
    output: Option<Vec<u8>>,
    lang_override: Option<Language>,
    sources: Vec<(Vec<u8>, Option<Language>)>,
    /// Argument positions of the sources.
    source_positions: Vec<usize>,
    position: usize,
    linker_inputs: usize,
    deps: DepOptions,
    search: SearchOptions,
    side: SideOutputs,
    key_args: Vec<Vec<u8>>,
    record_f: bool,
    record_g: bool,
    debug: bool,
}

type Step = Result<(), NonCacheable>;

/// Why a command line is not one cacheable compile.
enum Split {
    /// Several sources, at these argument positions, each cacheable alone.
    Sources(Vec<usize>),
    No(NonCacheable),
}

impl From<NonCacheable> for Split {
    fn from(r: NonCacheable) -> Split {
        Split::No(r)
    }
}

fn unsupported(arg: &[u8]) -> NonCacheable {
    NonCacheable::UnsupportedOption(String::from_utf8_lossy(arg).into_owned())
}

impl Parser {
    fn run<A: AsRef<[u8]>>(mut self, args: &[A]) -> Result<Invocation, Split> {
        // Only a response file can hold a NUL (argv cannot). gcc stops
        // reading the file at it, clang reads on: which arguments the
        // compiler sees depends on the compiler.
        if args.iter().any(|a| a.as_ref().contains(&0)) {
            return Err(Split::No(NonCacheable::ResponseFile));
        }
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_ref();
            let next = args.get(i + 1).map(AsRef::as_ref);
            self.position = i;
            i += self.one(arg, next)?;
        }
        self.finish()
    }

    /// Handles `arg` (and possibly `next`); returns how many arguments it used.
    fn one(&mut self, arg: &[u8], next: Option<&[u8]>) -> Result<usize, NonCacheable> {
        if arg == b"-" {
            return Err(NonCacheable::StdinInput);
        }
        if arg.first() == Some(&b'@') {
            return Err(NonCacheable::ResponseFile);
        }
        if arg.first() != Some(&b'-') {
            self.input(arg);
            return Ok(1);
        }
        let s = match std::str::from_utf8(arg) {
            Ok(s) => s,
            Err(_) => return Err(unsupported(arg)),
        };

        if PLAIN_FLAGS.contains(&s) {
            if s == "--coverage" {
                self.side.coverage = true;
            }
            self.key_args.push(arg.to_vec());
            return Ok(1);
        }
        if REFUSED.iter().any(|r| s.starts_with(r)) {
            return Err(unsupported(arg));
        }
        // Options whose value may be joined (`-Idir`) or separate (`-I dir`).
        if let Some((name, value, used)) = split_value(s, next)? {
            self.valued(name, value)?;
            return Ok(used);
        }

        match s {
            "-c" => self.compile_only = true,
            "-S" => self.assembly = true,
            "-E" => self.preprocess = true,
            "-M" | "-MM" => self.deps_only = true,
            "-MD" => {
                self.deps.kind = Some(DepKind::All);
                return Ok(1);
            }
            "-MMD" => {
                self.deps.kind = Some(DepKind::User);
                return Ok(1);
            }
            "-MP" => {
                self.deps.phony = true;
                return Ok(1);
            }
            "-fsyntax-only" => self.syntax_only = true,
            "-v" | "-###" | "--version" | "--help" | "-dumpversion" | "-dumpfullversion"
            | "-dumpmachine" | "-dumpspecs" => return Err(NonCacheable::InfoQuery),
            _ if s.starts_with("-print-") || s.starts_with("--print-") => {
                return Err(NonCacheable::InfoQuery);
            }
            _ if s.starts_with("-save-temps") || s == "--save-temps" => {
                return Err(NonCacheable::SaveTemps);
            }
            _ if s.starts_with("-O") || s.starts_with("-std=") || s.starts_with("--std=") => {}
            _ if s.starts_with("-pedantic") => {}
            _ if s.starts_with("-g") => self.debug_flag(s),
            _ if s.starts_with("-f") => self.f_flag(s)?,
            _ if s.starts_with("-Wp,") => return self.wp(arg).map(|()| 1),
            _ if s.starts_with("-Wa,") => self.wa(s)?,
            _ if s.starts_with("-W") => {}
            _ if s.starts_with("-m") => self.search.system_affecting.push(arg.to_vec()),
            "-nostdinc" | "-nostdinc++" | "-nobuiltininc" => {
                self.search.system_affecting.push(arg.to_vec())
            }
            _ if s.starts_with("--sysroot=")
                || s.starts_with("--target=")
                || s.starts_with("-stdlib=")
                || s.starts_with("--gcc-toolchain=")
                || s.starts_with("--gcc-install-dir=")
                || s.starts_with("-resource-dir=") =>
            {
                self.search.system_affecting.push(arg.to_vec())
            }
            _ => return Err(unsupported(arg)),
        }
        self.key_args.push(arg.to_vec());
        Ok(1)
    }

    fn input(&mut self, arg: &[u8]) {
        let lang = self
            .lang_override
            .or_else(|| Language::from_extension_for(arg, self.cxx_driver));
        match lang {
            None if has_linker_input_suffix(arg) => self.linker_inputs += 1,
            _ => {
                self.sources.push((arg.to_vec(), lang));
                self.source_positions.push(self.position);
            }
        }
        self.key_args.push(arg.to_vec());
    }

    fn valued(&mut self, name: &'static str, value: &[u8]) -> Step {
        let mut keyed = true;
        match name {
            "-o" => {
                self.output = Some(value.to_vec());
                keyed = false;
            }
            "-MF" => {
                self.deps.file = Some(value.to_vec());
                keyed = false;
            }
            "-MT" | "-MQ" => {
                self.deps.targets.push(DepTarget {
                    name: value.to_vec(),
                    quoted: name == "-MQ",
                });
                keyed = false;
            }
            "-x" => {
                self.lang_override =
                    Language::from_x_option(value).map_err(|_| NonCacheable::UnknownLanguage)?;
            }
            "-I" => self.search.angle.push(value.to_vec()),
            "-iquote" => self.search.quote.push(value.to_vec()),
            "-isystem" => self.search.system.push(value.to_vec()),
            "-idirafter" => self.search.after.push(value.to_vec()),
            "-include" | "-imacros" => self.search.forced.push(value.to_vec()),
            "-include-pch" => self.search.pch.push(value.to_vec()),
            "--sysroot" | "-isysroot" | "-target" | "-arch" => {
                self.search
                    .system_affecting
                    .extend([name.as_bytes().to_vec(), value.to_vec()]);
            }
            "-D" | "-U" => {}
            "-Xclang" => {
                let v = String::from_utf8_lossy(value);
                if XCLANG_REFUSED.iter().any(|r| v.starts_with(r)) {
                    return Err(unsupported(value));
                }
                if v.contains("record-command-line") {
                    self.record_f = true;
                }
            }
            "-Xpreprocessor" => {
                if value.starts_with(b"-M") {
                    return Err(unsupported(value));
                }
            }
            _ if VALUE_OPTIONS.contains(&name) => {}
            _ => return Err(unsupported(name.as_bytes())),
        }
        if keyed {
            self.key_args.push(name.as_bytes().to_vec());
            self.key_args.push(value.to_vec());
        }
        Ok(())
    }

    fn debug_flag(&mut self, s: &str) {
        match s {
            "-g0" => self.debug = false,
            "-gsplit-dwarf" | "-gsplit-dwarf=split" => {
                self.side.split_dwarf = true;
            }
            "-grecord-command-line" | "-grecord-gcc-switches" => self.record_g = true,
            "-gno-record-command-line" | "-gno-record-gcc-switches" => self.record_g = false,
            _ if s.starts_with("-gsplit-dwarf") || s.starts_with("-gz") => {}
            _ if s.starts_with("-gno-") || s.starts_with("-gcolumn") => {}
            _ => self.debug = true,
        }
    }

    fn f_flag(&mut self, s: &str) -> Step {
        if F_REFUSED.iter().any(|r| s.starts_with(r))
            || (s.starts_with("-fopt-info") && s.contains('='))
        {
            return Err(unsupported(s.as_bytes()));
        }
        match s {
            "-fsyntax-only" => self.syntax_only = true,
            "-fstack-usage" => self.side.stack_usage = true,
            "-fno-stack-usage" => self.side.stack_usage = false,
            "-ftest-coverage" => self.side.coverage = true,
            "-fno-test-coverage" => self.side.coverage = false,
            "-frecord-command-line" | "-frecord-gcc-switches" => self.record_f = true,
            "-fno-record-command-line" | "-fno-record-gcc-switches" => self.record_f = false,
            _ => {}
        }
        Ok(())
    }

    /// `-Wp,OPT,...` passes options straight to the preprocessor.
    fn wp(&mut self, arg: &[u8]) -> Step {
        let mut kept: Vec<&[u8]> = Vec::new();
        let mut it = arg[4..].split(|b| *b == b',');
        while let Some(tok) = it.next() {
            match tok {
                b"-MD" | b"-MMD" => {
                    let file = it.next().ok_or_else(|| unsupported(arg))?;
                    self.deps.kind = Some(if tok == b"-MD" {
                        DepKind::All
                    } else {
                        DepKind::User
                    });
                    self.deps.file = Some(file.to_vec());
                    self.deps.via_wp = true;
                }
                b"-MP" => self.deps.phony = true,
                b"-MT" | b"-MQ" => {
                    let t = it.next().ok_or_else(|| unsupported(arg))?;
                    self.deps.targets.push(DepTarget {
                        name: t.to_vec(),
                        quoted: tok == b"-MQ",
                    });
                }
                _ if tok.starts_with(b"-D") || tok.starts_with(b"-U") => kept.push(tok),
                _ if tok.starts_with(b"-I") && tok.len() > 2 => {
                    self.search.angle.push(tok[2..].to_vec());
                    kept.push(tok);
                }
                _ => return Err(unsupported(arg)),
            }
        }
        if !kept.is_empty() {
            self.key_args
                .push([&b"-Wp,"[..], &kept.join(&b","[..])].concat());
        }
        Ok(())
    }

    /// `-Wa,...` goes to the assembler; listings and dependency output would
    /// be files ccd does not know about.
    fn wa(&mut self, s: &str) -> Step {
        let writes_file = s[4..]
            .split(',')
            .any(|t| t.starts_with("-a") || t.starts_with("--MD") || t.starts_with("-MD"));
        if writes_file {
            return Err(unsupported(s.as_bytes()));
        }
        Ok(())
    }

    fn finish(self) -> Result<Invocation, Split> {
        if self.preprocess {
            return Err(NonCacheable::Preprocess.into());
        }
        if self.deps_only {
            return Err(NonCacheable::DepsOnly.into());
        }
        if self.syntax_only {
            return Err(NonCacheable::NoObjectOutput.into());
        }
        let headers_only = !self.sources.is_empty()
            && self
                .sources
                .iter()
                .all(|(_, l)| matches!(l, Some(Language::CHeader | Language::CxxHeader)));
        let mode = if headers_only && !self.assembly {
            // Compiling a header makes a precompiled header, with or
            // without -c.
            Mode::Pch
        } else if self.assembly {
            Mode::Assembly
        } else if self.compile_only {
            Mode::Object
        } else {
            return Err(NonCacheable::Link.into());
        };
        if self.sources.len() > 1 {
            return Err(self.split_sources());
        }
        let mut sources = self.sources;
        let (source, language) = match sources.len() {
            0 => return Err(NonCacheable::NoSource.into()),
            _ => sources.remove(0),
        };
        if self.linker_inputs > 0 {
            return Err(NonCacheable::LinkerInput.into());
        }
        let language = language.ok_or(NonCacheable::UnknownLanguage)?;
        if matches!(language, Language::CHeader | Language::CxxHeader) && mode != Mode::Pch {
            return Err(NonCacheable::PrecompiledHeader.into());
        }
        let pch = mode == Mode::Pch || !self.search.pch.is_empty();
        Ok(Invocation {
            mode,
            source,
            language,
            output: self.output,
            deps: self.deps,
            search: self.search,
            side: self.side,
            key_args: self.key_args,
            records_command_line: self.record_f || (self.record_g && self.debug),
            debug_info: self.debug,
            pch,
        })
    }
}

impl Parser {
    /// `gcc -c a.c b.c`: each source can be its own compile when every one
    /// goes to its default output (`-o`, `-MF`, `-MT` and `-MQ` would apply
    /// to all of them at once) and no two default outputs collide.
    fn split_sources(&self) -> Split {
        let shared_outputs = self.output.is_some()
            || self.deps.file.is_some()
            || !self.deps.targets.is_empty()
            || self.linker_inputs > 0;
        let all_known = self
            .sources
            .iter()
            .all(|(_, l)| l.is_some_and(|l| !matches!(l, Language::CHeader | Language::CxxHeader)));
        let mut stems: Vec<&[u8]> = self
            .sources
            .iter()
            .map(|(s, _)| {
                let name = crate::invocation::basename(s);
                name.iter()
                    .rposition(|b| *b == b'.')
                    .map_or(name, |i| &name[..i])
            })
            .collect();
        stems.sort_unstable();
        let collide = stems.windows(2).any(|w| w[0] == w[1]);
        if shared_outputs || !all_known || collide {
            return Split::No(NonCacheable::MultipleSources);
        }
        Split::Sources(self.source_positions.clone())
    }
}

/// Options that take a value, joined (`-Ifoo`, `--sysroot=/x`) or as the
/// next argument. Longer names first so `-isystem` is not read as `-i`.
const SEPARABLE: &[&str] = &[
    "-include-pch",
    "-Xpreprocessor",
    "-Xassembler",
    "-idirafter",
    "-Xlinker",
    "-isysroot",
    "-imacros",
    "-include",
    "-isystem",
    "--sysroot",
    "-Xclang",
    "-iquote",
    "--param",
    "-target",
    "-mllvm",
    "-arch",
    "-MF",
    "-MT",
    "-MQ",
    "-o",
    "-x",
    "-I",
    "-D",
    "-U",
    "-L",
    "-l",
    "-u",
    "-z",
    "-T",
    "-e",
    "-A",
];

/// Options whose value may only be given separately or with `=`, never
/// glued on (`-target x86_64`, `--param=x`): a glued form is another option.
const NOT_GLUED: &[&str] = &[
    "-Xpreprocessor",
    "-Xassembler",
    "-Xlinker",
    "-Xclang",
    "-mllvm",
    "-target",
    "-arch",
    "-e",
    "-z",
    "-u",
    "-T",
];

type ValueSplit<'a> = Option<(&'static str, &'a [u8], usize)>;

/// Recognises a value-taking option; returns its canonical name, the value
/// and the number of arguments consumed.
fn split_value<'a>(s: &'a str, next: Option<&'a [u8]>) -> Result<ValueSplit<'a>, NonCacheable> {
    for &name in SEPARABLE {
        if s == name {
            return match next {
                Some(v) => Ok(Some((name, v, 2))),
                None => Err(unsupported(s.as_bytes())),
            };
        }
        if let Some(rest) = s.strip_prefix(name) {
            if let Some(v) = rest.strip_prefix('=')
                && matches!(name, "--sysroot" | "--param")
            {
                return Ok(Some((name, v.as_bytes(), 1)));
            }
            // `-emit-llvm` is not `-e mit-llvm`, nor `-undef` `-u ndef`.
            if NOT_GLUED.contains(&name) || name.starts_with("--") {
                continue;
            }
            return Ok(Some((name, rest.as_bytes(), 1)));
        }
    }
    Ok(None)
}

fn has_linker_input_suffix(arg: &[u8]) -> bool {
    let name = crate::invocation::basename(arg);
    [&b".o"[..], b".a", b".so", b".obj", b".lo", b".la"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || memchr::memmem::find(name, b".so.").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &str) -> Parsed {
        let v: Vec<&str> = args.split_whitespace().collect();
        parse(&v)
    }

    fn inv(args: &str) -> Invocation {
        match p(args) {
            Parsed::Cacheable(i) => *i,
            Parsed::NonCacheable(r) => panic!("{args}: not cacheable: {r}"),
            Parsed::MultiFile { .. } => panic!("{args}: split into several compiles"),
        }
    }

    fn reason(args: &str) -> NonCacheable {
        match p(args) {
            Parsed::NonCacheable(r) => r,
            Parsed::Cacheable(i) => panic!("{args}: unexpectedly cacheable: {i:?}"),
            Parsed::MultiFile { .. } => panic!("{args}: split into several compiles"),
        }
    }

    #[test]
    fn simple_compile() {
        let i = inv("-c a.c -o out/a.o -O2 -Iinc -I other -DX=1 -Wall");
        assert_eq!(i.mode, Mode::Object);
        assert_eq!(i.source, b"a.c");
        assert_eq!(i.output.as_deref(), Some(&b"out/a.o"[..]));
        assert_eq!(i.search.angle, vec![b"inc".to_vec(), b"other".to_vec()]);
        // -o is not part of the key, everything else is.
        assert!(!i.key_args.iter().any(|a| a == b"out/a.o" || a == b"-o"));
        assert!(
            i.key_args
                .windows(2)
                .any(|w| w[0] == b"-D" && w[1] == b"X=1")
        );
    }

    /// A NUL byte can only come from a response file (argv holds none).
    /// gcc reads the file as a C string and stops at it, clang reads on:
    /// for `-c a.c -o a.o -DX<NUL> -o b.o` gcc writes `a.o` and clang
    /// `b.o`, so no reading of the file is right for both (ccd read
    /// `b.o`). Seen comparing `gcc -###` and `clang -###` on response
    /// files; `fuzz_response_file` checks it, and keeps
    /// `fuzz/regressions/fuzz_response_file/nul-ends-gcc-not-clang`.
    #[test]
    fn argument_with_nul_is_refused() {
        let args = crate::response_file::split(
            b"-c a.c -o a.o -DX\0 -o b.o\n",
            crate::response_file::Reader::Gcc,
        );
        assert_eq!(
            parse(&args),
            Parsed::NonCacheable(NonCacheable::ResponseFile)
        );
        let args: [&[u8]; 4] = [b"-c", b"a.c", b"-o", b"a\0.o"];
        assert_eq!(
            parse(&args),
            Parsed::NonCacheable(NonCacheable::ResponseFile)
        );
        let args: [&[u8]; 3] = [b"-c", b"a.c", b"b\0.c"];
        assert_eq!(
            parse(&args),
            Parsed::NonCacheable(NonCacheable::ResponseFile)
        );
    }

    #[test]
    fn non_cacheable_reasons() {
        assert_eq!(reason("a.c -o a"), NonCacheable::Link);
        assert_eq!(reason("-E a.c"), NonCacheable::Preprocess);
        assert_eq!(reason("-M a.c"), NonCacheable::DepsOnly);
        assert_eq!(reason("-c -MM a.c"), NonCacheable::DepsOnly);
        assert_eq!(reason("-c a.c b.c -o x.o"), NonCacheable::MultipleSources);
        assert_eq!(reason("-c a.c dir/a.c"), NonCacheable::MultipleSources);
        assert_eq!(reason("-c -x c -"), NonCacheable::StdinInput);
        assert_eq!(reason("-c a.c -save-temps"), NonCacheable::SaveTemps);
        assert_eq!(reason("-c a.c -save-temps=obj"), NonCacheable::SaveTemps);
        assert_eq!(reason("-c @args"), NonCacheable::ResponseFile);
        assert_eq!(reason("-S a.h"), NonCacheable::PrecompiledHeader);
        assert_eq!(reason("--version"), NonCacheable::InfoQuery);
        assert_eq!(reason("-c a.c -v"), NonCacheable::InfoQuery);
        assert_eq!(reason("-c a.c x.o"), NonCacheable::LinkerInput);
        assert_eq!(reason("-c a.unknown"), NonCacheable::UnknownLanguage);
        assert_eq!(reason("-c"), NonCacheable::NoSource);
        assert!(matches!(
            reason("-c a.c -fplugin=x.so"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c -fprofile-use=x"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c --frobnicate"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c -Wa,-adhln=a.lst"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c -Wp,-frob"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c -B/x"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c -MG"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert!(matches!(
            reason("-c a.c -o"),
            NonCacheable::UnsupportedOption(_)
        ));
        assert_eq!(reason("-c a.c -fsyntax-only"), NonCacheable::NoObjectOutput);
    }

    #[test]
    fn precompiled_headers() {
        let i = inv("-c pre.h");
        assert_eq!(i.mode, Mode::Pch);
        assert!(i.pch);
        assert_eq!(i.output_path(), b"pre.h.gch");
        let i = inv("-x c-header pre.h -o out/pre.pch");
        assert_eq!(i.mode, Mode::Pch);
        assert_eq!(i.output_path(), b"out/pre.pch");
        let i = inv("-include-pch pre.pch -c a.c");
        assert_eq!(i.search.pch, vec![b"pre.pch".to_vec()]);
        assert!(i.pch);
        assert!(!inv("-c a.c").pch);
    }

    #[test]
    fn cxx_driver_compiles_c_as_cxx() {
        let v = ["-c", "a.c"];
        let Parsed::Cacheable(i) = parse_for(&v, true) else {
            panic!()
        };
        assert_eq!(i.language, Language::Cxx);
        let v = ["-x", "c", "-c", "a.c"];
        let Parsed::Cacheable(i) = parse_for(&v, true) else {
            panic!()
        };
        assert_eq!(i.language, Language::C);
    }

    #[test]
    fn several_sources_split_into_one_compile_each() {
        let v = ["-O2", "-c", "a.c", "-DX", "b.cc", "-Wall"];
        let Parsed::MultiFile { jobs, sources } = parse(&v) else {
            panic!()
        };
        assert_eq!(sources, [b"a.c".to_vec(), b"b.cc".to_vec()]);
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            jobs[0],
            ["-O2", "-c", "a.c", "-DX", "-Wall"].map(|s| s.as_bytes().to_vec())
        );
        assert_eq!(
            jobs[1],
            ["-O2", "-c", "-DX", "b.cc", "-Wall"].map(|s| s.as_bytes().to_vec())
        );
        for job in &jobs {
            assert!(matches!(parse(job), Parsed::Cacheable(_)));
        }
    }

    #[test]
    fn language_override_is_positional() {
        assert_eq!(inv("-x c++ -c a.c").language, Language::Cxx);
        assert_eq!(inv("-c a.c -x c++").language, Language::C);
        assert_eq!(inv("-x c++ -x none -c a.c").language, Language::C);
        assert_eq!(inv("-xc++ -c a.weird").language, Language::Cxx);
        assert_eq!(reason("-x fortran -c a.f"), NonCacheable::UnknownLanguage);
    }

    #[test]
    fn search_options() {
        let i = inv(
            "-c a.c -iquote q -isystem s -isystemS2 -idirafter late -include pre.h -imacros m.h --sysroot=/sr -I. -nostdinc",
        );
        assert_eq!(i.search.quote, vec![b"q".to_vec()]);
        assert_eq!(i.search.system, vec![b"s".to_vec(), b"S2".to_vec()]);
        assert_eq!(i.search.after, vec![b"late".to_vec()]);
        assert_eq!(i.search.angle, vec![b".".to_vec()]);
        assert_eq!(i.search.forced, vec![b"pre.h".to_vec(), b"m.h".to_vec()]);
        assert_eq!(
            i.search.system_affecting,
            vec![
                b"--sysroot".to_vec(),
                b"/sr".to_vec(),
                b"-nostdinc".to_vec()
            ]
        );
    }

    #[test]
    fn dependency_options() {
        let i = inv("-c a.c -MD -MF x.d -MT t1 -MQ t$2 -MP");
        assert_eq!(i.deps.kind, Some(DepKind::All));
        assert_eq!(i.deps.file.as_deref(), Some(&b"x.d"[..]));
        assert_eq!(i.deps.targets.len(), 2);
        assert!(i.deps.targets[1].quoted);
        assert!(i.deps.phony);
        assert!(
            !i.key_args
                .iter()
                .any(|a| a.starts_with(b"-M") || a == b"x.d" || a == b"t1")
        );

        let i = inv("-c a.c -Wp,-MMD,dir/.a.o.d,-DFOO");
        assert_eq!(i.deps.kind, Some(DepKind::User));
        assert_eq!(i.deps.file.as_deref(), Some(&b"dir/.a.o.d"[..]));
        assert!(i.deps.via_wp);
        assert!(i.key_args.iter().any(|a| a == b"-Wp,-DFOO"));
        assert_eq!(
            inv("-c a.c -MFx.d -MMD").deps.file.as_deref(),
            Some(&b"x.d"[..])
        );
    }

    #[test]
    fn side_outputs_and_debug() {
        let i = inv("-c a.c -g -gsplit-dwarf --coverage -fstack-usage");
        assert!(i.side.split_dwarf && i.side.coverage && i.side.stack_usage);
        assert!(i.debug_info);
        assert!(!inv("-c a.c -g -g0").debug_info);
        assert!(!inv("-c a.c -gsplit-dwarf=single").side.split_dwarf);
    }

    #[test]
    fn record_command_line() {
        assert!(inv("-c a.c -frecord-command-line").records_command_line);
        assert!(!inv("-c a.c -grecord-command-line").records_command_line);
        assert!(inv("-c a.c -g -grecord-command-line").records_command_line);
        assert!(!inv("-c a.c -frecord-gcc-switches -fno-record-gcc-switches").records_command_line);
    }

    #[test]
    fn glued_values_do_not_swallow_flags() {
        // `-emit-llvm` is not `-e mit-llvm`; `-static` is not `-s tatic`.
        let i =
            inv("-c a.c -emit-llvm -static -Xclang -fno-pch-timestamp -target x86_64-linux-gnu");
        assert!(i.key_args.iter().any(|a| a == b"-emit-llvm"));
        assert_eq!(
            i.search.system_affecting,
            vec![b"-target".to_vec(), b"x86_64-linux-gnu".to_vec()]
        );
        assert!(matches!(
            reason("-c a.c -Xclang -load -Xclang x.so"),
            NonCacheable::UnsupportedOption(_)
        ));
    }

    #[test]
    fn m_flags_affect_system_dirs() {
        let i = inv("-c a.c -m32 -march=native");
        assert_eq!(
            i.search.system_affecting,
            vec![b"-m32".to_vec(), b"-march=native".to_vec()]
        );
    }
}

/// The user's arguments turned into a dependency-only run of the
/// preprocessor (`-M -MF depfile`): used to learn every header when the
/// compile itself cannot be given a private depfile (`-MMD` omits system
/// headers; `-frecord-command-line` would record the extra flags).
pub fn dependency_pass_args<A: AsRef<[u8]>>(args: &[A], depfile: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(args.len() + 3);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        i += 1;
        match a {
            b"-c" | b"-S" | b"-MD" | b"-MMD" | b"-MP" => continue,
            b"-o" | b"-MF" | b"-MT" | b"-MQ" => {
                i += 1;
                continue;
            }
            // Any other option with a separate value keeps it, whatever the
            // value looks like (`-D -MFx` defines a macro named `-MFx`, `-I -o`
            // adds a directory named `-o`): dropping it would hand the option
            // the next argument instead, the `-M` of this pass included.
            _ if SEPARABLE.iter().any(|s| s.as_bytes() == a) => {
                out.push(a.to_vec());
                if let Some(v) = args.get(i) {
                    out.push(v.as_ref().to_vec());
                    i += 1;
                }
                continue;
            }
            _ if a.starts_with(b"-o")
                || a.starts_with(b"-MF")
                || a.starts_with(b"-MT")
                || a.starts_with(b"-MQ") =>
            {
                continue;
            }
            _ if a.starts_with(b"-Wp,") => {
                let mut kept: Vec<&[u8]> = Vec::new();
                let mut toks = a[4..].split(|b| *b == b',');
                while let Some(t) = toks.next() {
                    match t {
                        b"-MD" | b"-MMD" | b"-MT" | b"-MQ" => {
                            toks.next();
                        }
                        b"-MP" => {}
                        _ => kept.push(t),
                    }
                }
                if !kept.is_empty() {
                    out.push([&b"-Wp,"[..], &kept.join(&b","[..])].concat());
                }
                continue;
            }
            _ => out.push(a.to_vec()),
        }
    }
    out.extend([b"-M".to_vec(), b"-MF".to_vec(), depfile.to_vec()]);
    out
}

#[cfg(test)]
mod dependency_pass_tests {
    use super::*;

    #[test]
    fn strips_outputs_and_dep_options() {
        let args = [
            "-c",
            "a.c",
            "-o",
            "a.o",
            "-MMD",
            "-MF",
            "a.d",
            "-MT",
            "t",
            "-Wp,-MD,x.d,-DQ",
            "-Iinc",
            "-oother",
        ];
        let got = dependency_pass_args(&args, b"/tmp/p.d");
        let got: Vec<String> = got
            .into_iter()
            .map(|v| String::from_utf8(v).unwrap())
            .collect();
        assert_eq!(got, ["a.c", "-Wp,-DQ", "-Iinc", "-M", "-MF", "/tmp/p.d"]);
    }

    /// Found by fuzz_args (fuzz/regressions/fuzz_args/): a separate value
    /// that looks like an output or dependency option was dropped, so its
    /// option took the next argument, and in the end the pass's own `-M`
    /// (`-D -M`: the pass linked instead of listing dependencies).
    #[test]
    fn keeps_separate_values_that_look_like_options() {
        let cases: [&[&[u8]]; 4] = [
            &[
                b"-c",
                b"a.c",
                b"-D",
                b"-MF\xb3\xb3D",
                b"-MF",
                b"a.d",
                b"-MT",
                b"to",
            ],
            &[b"-c", b"a.c", b"-I", b"-o", b"-Iinc"],
            &[b"-c", b"a.c", b"-Xpreprocessor", b"-c", b"-include", b"-MD"],
            // The pass ran `-iquote -Iinc`: `inc` left the search path, and
            // it listed another `<x.h>` than the compile read.
            &[
                b"-c",
                b"n.c",
                b"-MMD",
                b"-iquote",
                b"-Wp,-MD,x.d",
                b"-Iinc",
                b"-isystem",
                b"other",
            ],
        ];
        for args in cases {
            let Parsed::Cacheable(inv) = parse(args) else {
                panic!("{args:?} should be cacheable");
            };
            let pass = dependency_pass_args(args, b"/tmp/p.d");
            assert_eq!(
                parse(&pass),
                Parsed::NonCacheable(NonCacheable::DepsOnly),
                "{pass:?}"
            );
            let mut compile = pass[..pass.len() - 3].to_vec();
            compile.push(b"-c".to_vec());
            let Parsed::Cacheable(again) = parse(&compile) else {
                panic!("{compile:?} should be cacheable");
            };
            assert_eq!((&again.source, &again.search), (&inv.source, &inv.search));
        }
        let got = dependency_pass_args(&["-c", "a.c", "-I", "-o", "-Iinc"], b"p.d");
        assert_eq!(
            got,
            [&b"a.c"[..], b"-I", b"-o", b"-Iinc", b"-M", b"-MF", b"p.d"]
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::Family;
    use crate::depfile::targets_for;
    use proptest::prelude::*;
    use proptest::sample::{Index, select};

    fn bytes(s: &'static str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    /// Any argument: an option ccd knows, glued to a few bytes or not, or
    /// arbitrary bytes.
    fn any_arg() -> impl Strategy<Value = Vec<u8>> {
        let mut known: Vec<&'static str> =
            [SEPARABLE, PLAIN_FLAGS, VALUE_OPTIONS, REFUSED].concat();
        known.extend([
            "-c",
            "-S",
            "-E",
            "-M",
            "-MM",
            "-MD",
            "-MMD",
            "-MP",
            "-g",
            "-g0",
            "-O2",
            "-Wall",
            "-Wp,-MD,x.d",
            "-Wp,-MT",
            "-Wa,-adhln",
            "-m32",
            "-",
            "@rsp",
            "a.c",
            "h.h",
            "x.o",
            "-v",
            "-save-temps",
            "-fplugin=x.so",
        ]);
        let known = select(known).prop_map(bytes);
        prop_oneof![
            4 => known.clone(),
            2 => (known, prop::collection::vec(any::<u8>(), 0..4))
                .prop_map(|(k, v)| [k, v].concat()),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ]
    }

    /// A value for an option: ordinary, or one that looks like an option.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => select(vec![
                "inc", "X=1", "c", "c++", "none", "-o", "-MF", "-MT", "-MQ", "-MD", "-MMD",
                "-MP", "-M", "-c", "-S", "-oout.o", "-MFx.d", "-Iinc", "-Wp,-MD,x.d",
                "-Wp,-DX,-MT,t", "-x",
            ])
            .prop_map(bytes),
            1 => prop::collection::vec(any::<u8>(), 0..6),
        ]
    }

    /// One or two arguments that mostly keep a compile cacheable.
    fn item() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let flags = [
            PLAIN_FLAGS,
            &[
                "-MD",
                "-MMD",
                "-MP",
                "-g",
                "-O2",
                "-Wall",
                "-fPIC",
                "-gsplit-dwarf",
                "-m64",
                "--coverage",
                "-fstack-usage",
                "-frecord-command-line",
                "-grecord-command-line",
                "-Wp,-MD,x.d",
                "-Wp,-MMD,d/.a.d,-DX,-Iwp",
                "-Wp,-MT,t,-MQ,q$,-MP",
                "-S",
            ],
        ]
        .concat();
        prop_oneof![
            4 => (select(SEPARABLE), value()).prop_map(|(o, v)| vec![bytes(o), v]),
            3 => select(flags).prop_map(|f| vec![bytes(f)]),
            1 => (select(vec!["-o", "-I", "-D", "-MF", "-MT", "-MQ", "-include"]), value())
                .prop_map(|(o, v)| vec![[bytes(o), v].concat()]),
            1 => any_arg().prop_map(|a| vec![a]),
        ]
    }

    /// `-c`, one source and options around them.
    fn compile_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
        (
            prop::collection::vec(item(), 0..8),
            select(vec!["a.c", "dir/b.cpp", "s.S", "m.m", "p.i"]),
            any::<Index>(),
            any::<Index>(),
        )
            .prop_map(|(mut items, source, at_c, at_source)| {
                let n = items.len();
                items.insert(at_c.index(n + 1), vec![bytes("-c")]);
                items.insert(at_source.index(n + 2), vec![bytes(source)]);
                items.concat()
            })
    }

    fn check(args: &[Vec<u8>], cxx: bool) -> Result<(), TestCaseError> {
        let Parsed::Cacheable(inv) = parse_for(args, cxx) else {
            return Ok(());
        };
        prop_assert!(args.contains(&inv.source));
        let _ = (
            inv.output_path(),
            inv.user_depfile_path(),
            inv.side_output_paths(),
        );
        for family in [Family::Gcc, Family::Clang] {
            prop_assert!(!targets_for(family, &inv).is_empty());
        }
        // The dependency-only pass lists the dependencies of the same
        // compile: its `-M` takes effect, and the source, language and search
        // path are those of the compile.
        let pass = dependency_pass_args(args, b"/tmp/p.d");
        prop_assert_eq!(
            parse_for(&pass, cxx),
            Parsed::NonCacheable(NonCacheable::DepsOnly),
            "{:?}",
            pass
        );
        let mut compile = pass[..pass.len() - 3].to_vec();
        compile.push(b"-c".to_vec());
        let Parsed::Cacheable(again) = parse_for(&compile, cxx) else {
            return Err(TestCaseError::fail(format!("{compile:?} is not cacheable")));
        };
        prop_assert_eq!(&again.source, &inv.source);
        prop_assert_eq!(again.language, inv.language);
        prop_assert_eq!(&again.search, &inv.search);
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics(args in prop::collection::vec(any_arg(), 0..12), cxx in any::<bool>()) {
            check(&args, cxx)?;
        }

        #[test]
        fn cacheable_compiles_have_a_faithful_dependency_pass(
            args in compile_args(),
            cxx in any::<bool>(),
        ) {
            check(&args, cxx)?;
        }
    }
}
