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

pub fn parse_dep_info(bytes: &[u8]) -> Option<DepInfo> {
    let rule = ccd_cc::depfile::parse(bytes).ok()?;
    let mut env = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"# env-dep:") {
            let (name, value) = match rest.iter().position(|b| *b == b'=') {
                Some(i) => (&rest[..i], Some(unescape(&rest[i + 1..]))),
                None => (rest, None),
            };
            env.push((name.to_vec(), value));
        }
    }
    Some(DepInfo {
        files: rule.deps,
        env,
    })
}

/// rustc writes `\n` and `\\` escaped in env-dep values.
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
}
