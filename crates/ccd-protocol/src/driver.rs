//! What a compiler's file name says about it. The client uses it to choose
//! which environment variables to send, the daemon to choose how to read
//! the compile: one function, so the two can never disagree (had they, the
//! daemon would key rustc on variables the client never sent).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The kind of compiler driver a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// A GNU-style C/C++ driver (gcc, g++, cc, c++, clang, clang++, ...);
    /// also the answer for any name not recognised otherwise (the daemon
    /// then asks the compiler itself).
    Gnu,
    /// rustc, or clippy's driver, which cargo runs the same way.
    Rustc,
}

impl Driver {
    /// The driver of the executable at `path`, by its file name.
    pub fn of(path: &Path) -> Driver {
        let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
        let rustc = name.windows(5).any(|w| w == b"rustc") || name.starts_with(b"clippy-driver");
        if rustc { Driver::Rustc } else { Driver::Gnu }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for rustc in [
            "/home/u/.rustup/toolchains/stable/bin/rustc",
            "rustc",
            "x86_64-unknown-linux-gnu-rustc",
            "clippy-driver",
        ] {
            assert_eq!(Driver::of(Path::new(rustc)), Driver::Rustc, "{rustc}");
        }
        for gnu in [
            "/usr/bin/gcc",
            "clang++-14",
            "cc",
            "/opt/rustc-tools/bin/gcc",
        ] {
            assert_eq!(Driver::of(Path::new(gnu)), Driver::Gnu, "{gnu}");
        }
    }
}
