//! Compiler families ccd understands.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    Gcc,
    Clang,
}

impl Family {
    /// Guesses the family from the executable name (`x86_64-linux-gnu-gcc-12`,
    /// `clang++-14`, `cc`). `None` means the name alone does not tell; the
    /// daemon then probes the compiler's predefined macros.
    pub fn from_name(file_name: &[u8]) -> Option<Family> {
        let name = std::str::from_utf8(file_name).ok()?;
        if name.contains("clang") {
            return Some(Family::Clang);
        }
        if name.contains("gcc") || name.contains("g++") {
            return Some(Family::Gcc);
        }
        None
    }

    /// True when `file_name` looks like any C/C++ driver ccd may cache,
    /// including the generic `cc`/`c++` names whose family needs a probe.
    pub fn is_known_driver_name(file_name: &[u8]) -> bool {
        Family::from_name(file_name).is_some() || matches!(file_name, b"cc" | b"c++" | b"CC")
    }

    /// Whether a driver of this name compiles C sources as C++ (`g++`,
    /// `clang++-14`, `c++`, `x86_64-linux-gnu-g++-12`).
    pub fn is_cxx_driver_name(file_name: &[u8]) -> bool {
        memchr::memmem::find(file_name, b"++").is_some()
    }

    /// Decides the family from `-E -dM` output of an empty translation unit.
    pub fn from_predefined_macros(macros: &[u8]) -> Option<Family> {
        let has = |needle: &[u8]| memchr::memmem::find(macros, needle).is_some();
        if has(b"#define __clang__ ") {
            Some(Family::Clang)
        } else if has(b"#define __GNUC__ ") {
            Some(Family::Gcc)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Gcc => "gcc",
            Family::Clang => "clang",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            Family::from_name(b"x86_64-linux-gnu-gcc-12"),
            Some(Family::Gcc)
        );
        assert_eq!(Family::from_name(b"g++"), Some(Family::Gcc));
        assert_eq!(Family::from_name(b"clang++-14"), Some(Family::Clang));
        assert_eq!(Family::from_name(b"cc"), None);
        assert!(Family::is_known_driver_name(b"cc"));
        assert!(!Family::is_known_driver_name(b"ld"));
        assert!(Family::is_cxx_driver_name(b"clang++-14"));
        assert!(!Family::is_cxx_driver_name(b"gcc"));
    }

    #[test]
    fn macros() {
        let clang = b"#define __GNUC__ 4\n#define __clang__ 1\n";
        assert_eq!(Family::from_predefined_macros(clang), Some(Family::Clang));
        assert_eq!(
            Family::from_predefined_macros(b"#define __GNUC__ 12\n"),
            Some(Family::Gcc)
        );
        assert_eq!(Family::from_predefined_macros(b""), None);
    }
}
