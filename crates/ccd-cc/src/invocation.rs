//! A classified compiler invocation and the files it will write.

use std::fmt;

use crate::Language;

/// The outcome of classifying an argument list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Cacheable(Box<Invocation>),
    /// Several sources compiled to their default outputs (`gcc -c a.c b.c`):
    /// one argument list per source, each compiling that source alone.
    MultiFile {
        jobs: Vec<Vec<Vec<u8>>>,
        sources: Vec<Vec<u8>>,
    },
    /// Runs the compiler unchanged; the reason is shown in `ccd status`.
    NonCacheable(NonCacheable),
}

/// Why an invocation is passed through without caching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NonCacheable {
    Link,
    Preprocess,
    DepsOnly,
    MultipleSources,
    NoSource,
    StdinInput,
    SaveTemps,
    PrecompiledHeader,
    ResponseFile,
    NoObjectOutput,
    InfoQuery,
    UnknownLanguage,
    LinkerInput,
    UnsupportedOption(String),
}

impl NonCacheable {
    /// A short stable label, used as the key of the per-reason statistics.
    pub fn label(&self) -> &'static str {
        match self {
            NonCacheable::Link => "link",
            NonCacheable::Preprocess => "preprocess-only (-E)",
            NonCacheable::DepsOnly => "dependencies only (-M/-MM)",
            NonCacheable::MultipleSources => "multiple source files",
            NonCacheable::NoSource => "no source file",
            NonCacheable::StdinInput => "source from stdin",
            NonCacheable::SaveTemps => "-save-temps",
            NonCacheable::PrecompiledHeader => "precompiled header",
            NonCacheable::ResponseFile => "response file",
            NonCacheable::NoObjectOutput => "no object output",
            NonCacheable::InfoQuery => "version/info query",
            NonCacheable::UnknownLanguage => "unknown language",
            NonCacheable::LinkerInput => "linker input with -c",
            NonCacheable::UnsupportedOption(_) => "unsupported option",
        }
    }
}

impl fmt::Display for NonCacheable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonCacheable::UnsupportedOption(o) => write!(f, "unsupported option {o}"),
            other => f.write_str(other.label()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `-c`: an object file.
    Object,
    /// `-S`: assembly text.
    Assembly,
    /// A header compiled on its own: a precompiled header.
    Pch,
}

impl Mode {
    /// The mode's name in cache keys: fixed, so that renaming a variant
    /// never changes a key (keys once came from `Debug` output).
    pub fn key_tag(self) -> &'static str {
        match self {
            Mode::Object => "Object",
            Mode::Assembly => "Assembly",
            Mode::Pch => "Pch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepKind {
    /// `-MD`: every header.
    All,
    /// `-MMD`: user headers only (no system headers).
    User,
}

impl DepKind {
    /// The requested kind's name in cache keys (fixed, see
    /// [`Mode::key_tag`]); `None` when no dependency file is asked for.
    pub fn key_tag(kind: Option<DepKind>) -> &'static str {
        match kind {
            None => "None",
            Some(DepKind::All) => "Some(All)",
            Some(DepKind::User) => "Some(User)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DepTarget {
    pub name: Vec<u8>,
    /// `-MQ` (make-quoted) rather than `-MT` (verbatim).
    pub quoted: bool,
}

/// Dependency-file options the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DepOptions {
    pub kind: Option<DepKind>,
    /// `-MF FILE`, or the file of `-Wp,-MD,FILE`.
    pub file: Option<Vec<u8>>,
    pub targets: Vec<DepTarget>,
    /// `-MP`: a phony target per header.
    pub phony: bool,
    /// Requested through `-Wp,-MD,FILE` / `-Wp,-MMD,FILE`.
    pub via_wp: bool,
}

/// Include-path options, in the order the preprocessor searches them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SearchOptions {
    /// `-iquote`: searched for `#include "..."` only, before `-I`.
    pub quote: Vec<Vec<u8>>,
    /// `-I`.
    pub angle: Vec<Vec<u8>>,
    /// `-isystem`.
    pub system: Vec<Vec<u8>>,
    /// `-idirafter`.
    pub after: Vec<Vec<u8>>,
    /// `-include` / `-imacros` files, processed before the source.
    pub forced: Vec<Vec<u8>>,
    /// `-include-pch` files (clang).
    pub pch: Vec<Vec<u8>>,
    /// Arguments that change the compiler's default system directories
    /// (`--sysroot`, `-nostdinc`, `-target`, `-m32`, ...): the daemon asks the
    /// compiler for its search list with exactly these.
    pub system_affecting: Vec<Vec<u8>>,
}

/// A file a flag asks the compiler to write next to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SideOutput {
    /// `-gsplit-dwarf`: `.dwo`.
    SplitDwarf,
    /// `--coverage` / `-ftest-coverage`: `.gcno`.
    Coverage,
    /// `-fstack-usage`: `.su`.
    StackUsage,
}

/// Files a flag asks the compiler to write next to the object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SideOutputs {
    pub split_dwarf: bool,
    pub coverage: bool,
    pub stack_usage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub mode: Mode,
    /// The source path exactly as given (it is written into the object).
    pub source: Vec<u8>,
    pub language: Language,
    /// `-o FILE`.
    pub output: Option<Vec<u8>>,
    pub deps: DepOptions,
    pub search: SearchOptions,
    pub side: SideOutputs,
    /// The arguments that can change what the compiler produces: everything
    /// except where outputs go (`-o`, `-MF`, `-MT`, `-MQ`) and dependency-file
    /// switches, which are keyed separately through `deps`.
    pub key_args: Vec<Vec<u8>>,
    /// The compiler records its own command line in the object (clang's
    /// `-frecord-command-line`): no extra argument may be added.
    pub records_command_line: bool,
    /// Debug information that records the working directory.
    pub debug_info: bool,
    /// Makes (`-x c-header`) or explicitly uses (`-include-pch`) a
    /// precompiled header.
    pub pch: bool,
}

impl Invocation {
    /// The file the compiler writes its main output to.
    pub fn output_path(&self) -> Vec<u8> {
        if let Some(o) = &self.output {
            return o.clone();
        }
        match self.mode {
            Mode::Object => [stem(basename(&self.source)), b".o"].concat(),
            Mode::Assembly => [stem(basename(&self.source)), b".s"].concat(),
            // gcc and clang: `pre.h` -> `pre.h.gch`, next to the header.
            Mode::Pch => [&self.source[..], b".gch"].concat(),
        }
    }

    /// The dependency file the user asked for, if any.
    pub fn user_depfile_path(&self) -> Option<Vec<u8>> {
        self.deps.kind?;
        if let Some(f) = &self.deps.file {
            return Some(f.clone());
        }
        // gcc and clang: the -o name with its suffix replaced, else the
        // source's base name with a .d suffix.
        let base = match &self.output {
            Some(o) => strip_suffix(o).to_vec(),
            None => stem(basename(&self.source)).to_vec(),
        };
        Some([&base[..], b".d"].concat())
    }

    /// Paths of the side files the flags ask for, each with what it is.
    pub fn side_output_paths(&self) -> Vec<(SideOutput, Vec<u8>)> {
        let base = match &self.output {
            Some(o) => strip_suffix(o).to_vec(),
            None => stem(basename(&self.source)).to_vec(),
        };
        let mut v = Vec::new();
        let mut push = |on: bool, side: SideOutput, ext: &[u8]| {
            if on {
                v.push((side, [&base[..], ext].concat()));
            }
        };
        push(self.side.split_dwarf, SideOutput::SplitDwarf, b".dwo");
        push(self.side.coverage, SideOutput::Coverage, b".gcno");
        push(self.side.stack_usage, SideOutput::StackUsage, b".su");
        v
    }

    /// Whether the output's own path ends up inside the outputs (split DWARF
    /// names its .dwo, coverage names its .gcda), so it must be in the key.
    pub fn output_path_is_recorded(&self) -> bool {
        self.side.split_dwarf || self.side.coverage
    }

    /// Precompiled headers embed absolute paths that no prefix map
    /// removes: such results must never cross checkouts.
    pub fn uses_or_makes_pch(&self) -> bool {
        self.pch
    }
}

/// The final path component.
pub fn basename(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// `name` without its last `.suffix` (a leading dot is not a suffix).
fn stem(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|b| *b == b'.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// `path` with the suffix of its last component removed.
fn strip_suffix(path: &[u8]) -> &[u8] {
    let base_start = path.len() - basename(path).len();
    &path[..base_start + stem(&path[base_start..]).len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(source: &str, output: Option<&str>) -> Invocation {
        Invocation {
            mode: Mode::Object,
            source: source.into(),
            language: Language::C,
            output: output.map(Into::into),
            deps: DepOptions {
                kind: Some(DepKind::All),
                ..Default::default()
            },
            search: SearchOptions::default(),
            side: SideOutputs {
                split_dwarf: true,
                coverage: false,
                stack_usage: true,
            },
            key_args: vec![],
            records_command_line: false,
            debug_info: false,
            pch: false,
        }
    }

    /// Cache keys are made from these: a change empties every cache.
    #[test]
    fn key_tags_are_fixed() {
        let modes = [Mode::Object, Mode::Assembly, Mode::Pch].map(Mode::key_tag);
        assert_eq!(modes, ["Object", "Assembly", "Pch"]);
        let deps = [None, Some(DepKind::All), Some(DepKind::User)].map(DepKind::key_tag);
        assert_eq!(deps, ["None", "Some(All)", "Some(User)"]);
    }

    #[test]
    fn default_paths() {
        let i = inv("src/a.c", None);
        assert_eq!(i.output_path(), b"a.o");
        assert_eq!(i.user_depfile_path().unwrap(), b"a.d");
        let i = inv("src/a.c", Some("out.dir/y.obj.o"));
        assert_eq!(i.user_depfile_path().unwrap(), b"out.dir/y.obj.d");
        assert_eq!(
            i.side_output_paths(),
            vec![
                (SideOutput::SplitDwarf, b"out.dir/y.obj.dwo".to_vec()),
                (SideOutput::StackUsage, b"out.dir/y.obj.su".to_vec())
            ]
        );
        let i = inv("a.c", Some("dir.x/noext"));
        assert_eq!(i.user_depfile_path().unwrap(), b"dir.x/noext.d");
    }
}
