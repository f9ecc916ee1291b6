//! rustc's `@path` argument files: the file must be UTF-8 and each line is
//! one argument (no quoting, no nesting: a line that starts with `@` is an
//! argument as it is). `@shell:path` is read with shell quoting only after
//! `-Zshell-argfiles`, which ccd does not cache.

/// The arguments of an argument file, `None` when rustc would refuse it
/// (not UTF-8).
pub fn split(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(text.lines().map(|l| l.as_bytes().to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_argument_per_line() {
        let args =
            split(b"--remap-path-prefix=x=y --out-dir=/tmp/q\r\n-C\n opt-level=2 \n\n").unwrap();
        assert_eq!(
            args,
            [
                &b"--remap-path-prefix=x=y --out-dir=/tmp/q"[..],
                b"-C",
                b" opt-level=2 ",
                b""
            ]
        );
        assert!(split(b"-C\xff").is_none());
        assert!(split(b"").unwrap().is_empty());
    }
}
