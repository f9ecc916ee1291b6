//! rustc's dep-info (`--emit=dep-info`): make rules listing the source
//! files the crate read, and `# env-dep:NAME=VALUE` lines for every
//! `env!`/`option_env!` it evaluated.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepInfo {
    /// Files read (as rustc spelled them: relative to the working
    /// directory, or absolute).
    pub files: Vec<Vec<u8>>,
    /// `(name, value)`; `None` when the variable was unset.
    pub env: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Reads rustc's own syntax (`write_out_deps` in `rustc_interface`), the
/// way cargo does, not make's: each output's rule `target: files` on one
/// line, with only the spaces in file names escaped (`\ `); every other
/// byte is the name's own (`$$`, `#`, `\#`, tabs). The files are the first
/// rule's. `None` without a rule, or when its last name ends in a
/// backslash (it would escape a space that is not there).
///
/// rustc's syntax cannot carry a file name with a line break, or one that
/// ends in a backslash (it reads as escaping the space after it); nor an
/// output path with `: ` (targets are not escaped). cargo reads those no
/// better.
pub fn parse_dep_info(bytes: &[u8]) -> Option<DepInfo> {
    let mut files = Vec::new();
    let mut env = Vec::new();
    let mut in_rule = false;
    for line in bytes.split(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"# env-dep:") {
            let (name, value) = match rest.iter().position(|b| *b == b'=') {
                Some(i) => (&rest[..i], Some(unescape(&rest[i + 1..]))),
                None => (rest, None),
            };
            env.push((unescape(name), value));
        } else if !in_rule && let Some(colon) = line.windows(2).position(|w| w == b": ") {
            in_rule = true;
            let mut names = line[colon + 2..].split(|b| *b == b' ');
            while let Some(first) = names.next() {
                // A rule without files ends in `: `.
                if first.is_empty() {
                    continue;
                }
                let mut name = first.to_vec();
                while name.last() == Some(&b'\\') {
                    name.pop();
                    name.push(b' ');
                    name.extend_from_slice(names.next()?);
                }
                files.push(name);
            }
        }
    }
    in_rule.then_some(DepInfo { files, env })
}

/// rustc writes `\n`, `\r` and `\\` escaped in env-dep names and values.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            match v[i + 1] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files_and_env() {
        let d = b"/t/deps/ws-1.d: src/lib.rs src/m\\ x.rs /abs/gen.rs\n\n/t/deps/libws-1.rlib: src/lib.rs src/m\\ x.rs /abs/gen.rs\n\nsrc/lib.rs:\nsrc/m\\ x.rs:\n/abs/gen.rs:\n\n# env-dep:CARGO_PKG_VERSION=0.1.0\n# env-dep:MULTI=a\\nb\n# env-dep:UNSET\n";
        let info = parse_dep_info(d).unwrap();
        assert_eq!(
            info.files,
            vec![
                b"src/lib.rs".to_vec(),
                b"src/m x.rs".to_vec(),
                b"/abs/gen.rs".to_vec()
            ]
        );
        assert_eq!(
            info.env,
            vec![
                (b"CARGO_PKG_VERSION".to_vec(), Some(b"0.1.0".to_vec())),
                (b"MULTI".to_vec(), Some(b"a\nb".to_vec())),
                (b"UNSET".to_vec(), None),
            ]
        );
    }

    /// What rustc 1.95 wrote for a crate reading files with odd names and
    /// variables with odd names and values (abridged; `include_str!`, `env!`,
    /// `option_env!`). rustc escapes only spaces in file names (`\ `) and
    /// `\n`, `\r`, `\\` in variable names and values; `$$`, `#`, `\#`,
    /// tabs and CRs are the file's own bytes. Make syntax read
    /// `hash#dollar$$.txt` as `hash#dollar$.txt`, `esc\#hash.txt` as
    /// `esc#hash.txt`, `bs\\ space.txt` as `bs\` and `space.txt`, split at
    /// the tab and the CR, and the variable `DI_WEIRD\NAME` kept its escape.
    /// `fuzz_dep_info`'s round trip failed at once on cargo's own
    /// dep-info (`src/data\ dir/...` names); this file is kept as
    /// `fuzz/regressions/fuzz_dep_info/rustc-escapes-only-spaces`.
    #[test]
    fn rustc_escapes_only_spaces() {
        let d = b"out/di.d: src/lib.rs src/sub\\ dir/with\\ space.txt src/hash#dollar$$.txt src/back\\slash.txt src/colon:name.txt src/tab\tname.txt src/bs\\\\ space.txt src/esc\\#hash.txt src/cr\rname.txt\n\nout/libdi.rmeta: src/lib.rs src/sub\\ dir/with\\ space.txt src/hash#dollar$$.txt src/back\\slash.txt src/colon:name.txt src/tab\tname.txt src/bs\\\\ space.txt src/esc\\#hash.txt src/cr\rname.txt\n\nsrc/lib.rs:\nsrc/sub\\ dir/with\\ space.txt:\nsrc/hash#dollar$$.txt:\nsrc/back\\slash.txt:\nsrc/colon:name.txt:\nsrc/tab\tname.txt:\nsrc/bs\\\\ space.txt:\nsrc/esc\\#hash.txt:\nsrc/cr\rname.txt:\n\n# env-dep:DI_EQ=NAME\n# env-dep:DI_MULTI=line1\\nline2\\\\back\\rcr=eq\n# env-dep:DI_PLAIN=1.0\n# env-dep:DI_UNSET\n# env-dep:DI_WEIRD\\\\NAME=w\n";
        let info = parse_dep_info(d).unwrap();
        let files: Vec<&[u8]> = info.files.iter().map(Vec::as_slice).collect();
        assert_eq!(
            files,
            [
                &b"src/lib.rs"[..],
                b"src/sub dir/with space.txt",
                b"src/hash#dollar$$.txt",
                b"src/back\\slash.txt",
                b"src/colon:name.txt",
                b"src/tab\tname.txt",
                b"src/bs\\ space.txt",
                b"src/esc\\#hash.txt",
                b"src/cr\rname.txt",
            ]
        );
        assert_eq!(
            info.env,
            vec![
                // rustc does not escape `=`: an unset `DI_EQ=NAME` reads
                // as `DI_EQ` set to `NAME` (cargo reads it so too).
                (b"DI_EQ".to_vec(), Some(b"NAME".to_vec())),
                (
                    b"DI_MULTI".to_vec(),
                    Some(b"line1\nline2\\back\rcr=eq".to_vec())
                ),
                (b"DI_PLAIN".to_vec(), Some(b"1.0".to_vec())),
                (b"DI_UNSET".to_vec(), None),
                (b"DI_WEIRD\\NAME".to_vec(), Some(b"w".to_vec())),
            ]
        );
    }
}
