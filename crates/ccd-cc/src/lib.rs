//! What ccd knows about GNU-style C/C++ compiler drivers (gcc, g++, cc, c++,
//! clang, clang++): how to classify an invocation, where it writes its
//! outputs, how its dependency files look, and which `#include`s a source
//! file asks for. Pure functions over bytes; no I/O except where noted.

pub mod args;
pub mod depfile;
pub mod family;
pub mod invocation;
pub mod language;
pub mod response_file;
pub mod scan;
pub mod search_path;
pub mod strict_paths;
pub mod system_dirs;

pub use args::{dependency_pass_args, parse, parse_for};
pub use family::Family;
pub use invocation::{
    DepKind, DepOptions, DepTarget, Invocation, Mode, NonCacheable, Parsed, SideOutput,
};
pub use language::Language;
