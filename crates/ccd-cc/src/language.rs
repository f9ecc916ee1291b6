//! Source languages, from `-x` or the file extension.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    C,
    Cxx,
    ObjC,
    ObjCxx,
    /// Already preprocessed C (`.i`) / C++ (`.ii`): no `#include` to follow.
    CPreprocessed,
    CxxPreprocessed,
    /// Assembler without (`.s`) and with (`.S`) the C preprocessor.
    Asm,
    AsmCpp,
    /// A header compiled on its own produces a precompiled header.
    CHeader,
    CxxHeader,
}

/// `-x` named a language ccd does not cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown language")]
pub struct UnknownLanguage;

impl Language {
    /// The language's name in cache keys: fixed, so that renaming a variant
    /// never changes a key (keys once came from `Debug` output).
    pub fn key_tag(self) -> &'static str {
        match self {
            Language::C => "C",
            Language::Cxx => "Cxx",
            Language::ObjC => "ObjC",
            Language::ObjCxx => "ObjCxx",
            Language::CPreprocessed => "CPreprocessed",
            Language::CxxPreprocessed => "CxxPreprocessed",
            Language::Asm => "Asm",
            Language::AsmCpp => "AsmCpp",
            Language::CHeader => "CHeader",
            Language::CxxHeader => "CxxHeader",
        }
    }

    pub fn from_extension(path: &[u8]) -> Option<Language> {
        let name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
        let dot = name.iter().rposition(|b| *b == b'.')?;
        Some(match &name[dot + 1..] {
            b"c" => Language::C,
            b"cc" | b"cp" | b"cxx" | b"cpp" | b"CPP" | b"c++" | b"C" => Language::Cxx,
            b"m" => Language::ObjC,
            b"mm" | b"M" => Language::ObjCxx,
            b"i" => Language::CPreprocessed,
            b"ii" => Language::CxxPreprocessed,
            b"s" => Language::Asm,
            b"S" | b"sx" => Language::AsmCpp,
            b"h" => Language::CHeader,
            b"hh" | b"hpp" | b"hxx" | b"H" | b"h++" | b"tcc" => Language::CxxHeader,
            _ => return None,
        })
    }

    /// The language of `path` for a C++ driver (g++, clang++, c++), which
    /// compiles `.c`, `.i` and `.h` files as C++.
    pub fn from_extension_for(path: &[u8], cxx_driver: bool) -> Option<Language> {
        let lang = Language::from_extension(path)?;
        Some(match (cxx_driver, lang) {
            (true, Language::C) => Language::Cxx,
            (true, Language::CPreprocessed) => Language::CxxPreprocessed,
            (true, Language::CHeader) => Language::CxxHeader,
            (_, l) => l,
        })
    }

    /// The language named by `-x NAME`; `Ok(None)` for `-x none`.
    pub fn from_x_option(name: &[u8]) -> Result<Option<Language>, UnknownLanguage> {
        Ok(Some(match name {
            b"none" => return Ok(None),
            b"c" => Language::C,
            b"c++" => Language::Cxx,
            b"objective-c" => Language::ObjC,
            b"objective-c++" => Language::ObjCxx,
            b"cpp-output" => Language::CPreprocessed,
            b"c++-cpp-output" => Language::CxxPreprocessed,
            b"assembler" => Language::Asm,
            b"assembler-with-cpp" => Language::AsmCpp,
            b"c-header" => Language::CHeader,
            b"c++-header" => Language::CxxHeader,
            _ => return Err(UnknownLanguage),
        }))
    }

    /// Whether the C preprocessor runs (and so headers can be involved).
    pub fn is_preprocessed_by_compiler(self) -> bool {
        !matches!(
            self,
            Language::CPreprocessed | Language::CxxPreprocessed | Language::Asm
        )
    }

    /// The `-x` name used to ask the compiler for its default include dirs.
    pub fn probe_name(self) -> &'static str {
        match self {
            Language::C | Language::CPreprocessed | Language::Asm | Language::AsmCpp => "c",
            Language::CHeader => "c",
            Language::Cxx | Language::CxxPreprocessed | Language::CxxHeader => "c++",
            Language::ObjC => "objective-c",
            Language::ObjCxx => "objective-c++",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cache keys are made from these: a change empties every cache.
    #[test]
    fn key_tags_are_fixed() {
        use Language::*;
        let all = [
            C,
            Cxx,
            ObjC,
            ObjCxx,
            CPreprocessed,
            CxxPreprocessed,
            Asm,
            AsmCpp,
            CHeader,
            CxxHeader,
        ];
        let tags = all.map(Language::key_tag);
        assert_eq!(
            tags,
            [
                "C",
                "Cxx",
                "ObjC",
                "ObjCxx",
                "CPreprocessed",
                "CxxPreprocessed",
                "Asm",
                "AsmCpp",
                "CHeader",
                "CxxHeader"
            ]
        );
    }

    #[test]
    fn extensions() {
        assert_eq!(Language::from_extension(b"src/a.c"), Some(Language::C));
        assert_eq!(Language::from_extension(b"a.C"), Some(Language::Cxx));
        assert_eq!(
            Language::from_extension(b"dir.d/a.cpp"),
            Some(Language::Cxx)
        );
        assert_eq!(Language::from_extension(b"a.S"), Some(Language::AsmCpp));
        assert_eq!(Language::from_extension(b"a.o"), None);
        assert_eq!(Language::from_extension(b"dir.c/a"), None);
        assert_eq!(
            Language::from_extension_for(b"a.c", true),
            Some(Language::Cxx)
        );
        assert_eq!(
            Language::from_extension_for(b"a.s", true),
            Some(Language::Asm)
        );
        assert_eq!(Language::from_x_option(b"c++"), Ok(Some(Language::Cxx)));
        assert_eq!(Language::from_x_option(b"none"), Ok(None));
        assert!(Language::from_x_option(b"fortran").is_err());
    }
}
