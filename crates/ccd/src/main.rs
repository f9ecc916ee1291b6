//! `ccd`: compiler wrapper, admin commands and daemon in one binary.
//!
//! The wrapper runs once per compile, so its start-up is kept minimal: the
//! C `main` is ours (`no_main`), which skips the Rust runtime's start-up
//! work (stack-guard discovery through /proc/self/maps, signal set-up) that
//! a one-shot wrapper does not need, and the wrapper path decides from
//! `argv` alone, before any argument parser or configuration is touched:
//! `ccd gcc ...`, or a symlink named like a compiler. Everything else is an
//! admin command.

#![no_main]

mod admin;
mod analyze;
mod doctor;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ccd_client::Invocation;

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    // glibc hands argv to the Rust runtime through .init_array, so args_os
    // works without the Rust `main`.
    let args: Vec<OsString> = std::env::args_os().collect();
    match std::panic::catch_unwind(|| dispatch(args.clone())) {
        Ok(code) => code,
        // A bug in ccd must not fail the build: in wrapper mode, run the
        // compiler itself.
        Err(_) => match wrapper_invocation(args) {
            Some(inv) => ccd_client::run_compiler_directly(inv),
            None => 101,
        },
    }
}

fn dispatch(args: Vec<OsString>) -> i32 {
    let argv0 = args.first().cloned().unwrap_or_default();
    match wrapper_invocation(args.clone()) {
        Some(inv) => ccd_client::run_wrapper(inv),
        None => admin::main(argv0, args.into_iter().skip(1).collect()),
    }
}

/// The compile this command line asks for, unless it is an admin command.
fn wrapper_invocation(args: Vec<OsString>) -> Option<Invocation> {
    let mut it = args.into_iter();
    let argv0 = it.next().unwrap_or_default();
    let name = Path::new(&argv0).file_name()?.as_bytes().to_vec();
    if ccd_cc::Family::is_known_driver_name(&name) {
        return Some(Invocation::Masquerade {
            name: OsString::from(std::ffi::OsStr::from_bytes(&name)),
            args: it.collect(),
        });
    }
    let mut first = it.next()?;
    if admin::is_admin_word(&first) {
        return None;
    }
    // `ccd --strict-paths[=MODE] gcc ...`: wrapper options before the
    // compiler travel to the daemon as CCD_STRICT_PATHS.
    while let Some(mode) = first.as_bytes().strip_prefix(b"--strict-paths") {
        let mode = match mode {
            b"" => "absolute".to_string(),
            m => String::from_utf8_lossy(m.strip_prefix(b"=").unwrap_or(m)).into_owned(),
        };
        // SAFETY: the wrapper is single-threaded at this point.
        unsafe { std::env::set_var("CCD_STRICT_PATHS", mode) };
        first = it.next()?;
    }
    Some(Invocation::Explicit {
        compiler: first,
        args: it.collect(),
    })
}
