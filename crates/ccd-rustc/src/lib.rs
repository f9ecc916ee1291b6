//! What ccd knows about `rustc` as cargo runs it (`RUSTC_WRAPPER=ccd`):
//! which invocations can be cached, which files they write, and what their
//! dep-info says they read. Pure functions over bytes.

pub mod argfile;
pub mod args;
pub mod dep_info;
pub mod non_cacheable;

pub use args::{CrateType, Emit, EmitKind, RustInvocation, RustOutput, RustParsed, parse};
pub use dep_info::{DepInfo, parse_dep_info};
pub use non_cacheable::NonCacheable;
