//! The environment variables a compile can depend on (and the few the daemon
//! needs to run probes); everything else stays in the client.

use std::os::unix::ffi::OsStrExt;

use ccd_protocol::{ByteBuf, Driver};

const EXACT: &[&str] = &[
    "PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "SOURCE_DATE_EPOCH",
    "COMPILER_PATH",
    "LANG",
    "LANGUAGE",
    "DEPENDENCIES_OUTPUT",
    "SUNPRO_DEPENDENCIES",
    "TERM",
    "COLUMNS",
    "QA_OVERRIDE_GCC3_OPTIONS",
];

const PREFIXES: &[&str] = &["CCD_", "GCC_", "LC_", "CCC_"];

/// The variables to send for compiling with `compiler`. rustc gets the
/// whole environment: `env!` can read any variable (the daemon keys only
/// the ones the crate read, from its dep-info).
pub fn env_for(compiler: &std::path::Path) -> Vec<(ByteBuf, ByteBuf)> {
    let rustc = Driver::of(compiler) == Driver::Rustc;
    std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.as_bytes();
            rustc
                || EXACT.iter().any(|e| k == e.as_bytes())
                || PREFIXES.iter().any(|p| k.starts_with(p.as_bytes()))
        })
        .map(|(k, v)| {
            (
                ByteBuf::from(k.as_bytes().to_vec()),
                ByteBuf::from(v.as_bytes().to_vec()),
            )
        })
        .collect()
}
