//! rustc's dep-info (`--emit=dep-info`), as the daemon reads it after a miss.
//!
//! 1. `parse_dep_info` never panics on any bytes; no file it returns is
//!    empty or holds a line break.
//! 2. Round trip: file names and `env!` entries taken from the input,
//!    written exactly as rustc writes them (`write_out_deps` in
//!    `rustc_interface::passes`: a `target: files` rule per output, each
//!    followed by an empty line, with only spaces escaped as `\ `; a
//!    `file:` line per file; then, if any variable was read, an empty line
//!    and the sorted `# env-dep:NAME[=VALUE]` lines with `\n`, `\r` and `\\`
//!    escaped in names and values), parse back to the same files in the
//!    same order and the same variables. The same with the `# checksum:`
//!    lines `-Z checksum-hash-algorithm` adds.
//!
//! What rustc's syntax cannot carry stays out of the round trip: a file
//! name with a line break (rustc writes it raw and the line ends) or ending
//! in a backslash (it reads as escaping the space after it), an empty one
//! (rustc never writes one), and `=` in a variable name (rustc does not
//! escape it: `# env-dep:A=B` is `A` set to `B` or an unset `A=B`; cargo
//! reads it the first way too).
#![no_main]

use ccd_rustc::{DepInfo, parse_dep_info};
use libfuzzer_sys::fuzz_target;

/// Outputs as cargo names them, and one with a space (rustc writes targets
/// unescaped).
const TARGETS: &[&[&[u8]]] = &[
    &[
        b"/t/debug/deps/dep-054e37a5.d",
        b"/t/debug/deps/libdep-054e37a5.rmeta",
    ],
    &[b"out dir/app-1"],
];

fuzz_target!(|data: &[u8]| {
    if let Some(d) = parse_dep_info(data) {
        for f in &d.files {
            assert!(!f.is_empty());
            assert!(!f.contains(&b'\n'), "{f:?}");
        }
    }

    // Records are cut at NUL. A record starting with `# env-dep:` is a
    // variable: NAME up to the first `=`, VALUE after it (none without
    // `=`), both with `\n`, `\r` and `\\` read as escapes so the fuzzer
    // (and the rustc-made seeds) reach line breaks. Any other record is
    // file names, one a line.
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut env: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for record in data.split(|b| *b == 0) {
        if let Some(rest) = record.strip_prefix(b"# env-dep:") {
            let (name, value) = match rest.iter().position(|b| *b == b'=') {
                Some(i) => (unescape(&rest[..i]), Some(unescape(&rest[i + 1..]))),
                None => (unescape(rest), None),
            };
            if !name.contains(&b'=') && !env.contains(&(name.clone(), value.clone())) {
                env.push((name, value));
            }
            continue;
        }
        for name in record.split(|b| *b == b'\n') {
            if !name.is_empty() && !name.ends_with(b"\\") && !files.iter().any(|f| f == name) {
                files.push(name.to_vec());
            }
        }
    }
    // rustc sorts the escaped pairs.
    env.sort_by_cached_key(|(k, v)| (escape_env(k), v.as_deref().map(escape_env)));

    for targets in TARGETS {
        for checksums in [false, true] {
            let text = render(targets, &files, &env, checksums);
            let back = parse_dep_info(&text)
                .unwrap_or_else(|| panic!("unreadable: {:?}", String::from_utf8_lossy(&text)));
            assert_eq!(
                back,
                DepInfo {
                    files: files.clone(),
                    env: env.clone(),
                },
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }
});

/// rustc's `escape_dep_filename`: spaces only.
fn escape_file(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for &c in name {
        if c == b' ' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out
}

/// rustc's `escape_dep_env`.
fn escape_env(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    for &c in s {
        match c {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(c),
        }
    }
    out
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (s[i], s.get(i + 1)) {
            (b'\\', Some(b'n')) => out.push(b'\n'),
            (b'\\', Some(b'r')) => out.push(b'\r'),
            (b'\\', Some(b'\\')) => out.push(b'\\'),
            (c, _) => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    out
}

/// `write_out_deps`, byte for byte.
fn render(
    targets: &[&[u8]],
    files: &[Vec<u8>],
    env: &[(Vec<u8>, Option<Vec<u8>>)],
    checksums: bool,
) -> Vec<u8> {
    let escaped: Vec<Vec<u8>> = files.iter().map(|f| escape_file(f)).collect();
    let mut out = Vec::new();
    for t in targets {
        out.extend_from_slice(t);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&escaped.join(&b' '));
        out.extend_from_slice(b"\n\n");
    }
    for f in &escaped {
        out.extend_from_slice(f);
        out.extend_from_slice(b":\n");
    }
    if !env.is_empty() {
        out.push(b'\n');
        for (k, v) in env {
            out.extend_from_slice(b"# env-dep:");
            out.extend_from_slice(&escape_env(k));
            if let Some(v) = v {
                out.push(b'=');
                out.extend_from_slice(&escape_env(v));
            }
            out.push(b'\n');
        }
    }
    if checksums {
        for f in &escaped {
            out.extend_from_slice(b"# checksum:blake3=");
            out.extend_from_slice(&[b'0'; 64]);
            out.extend_from_slice(b" file_len:0 ");
            out.extend_from_slice(f);
            out.push(b'\n');
        }
    }
    out
}
