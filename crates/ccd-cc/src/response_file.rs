//! `@file` response files, read as the compiler that gets them reads them.
//! gcc and clang agree on the common cases (whitespace separates, single
//! and double quotes group, a backslash escapes the next character, also
//! inside quotes) and differ at the edges, where reading one compiler's
//! way for the other would key a compile on arguments it never sees:
//!
//! | | gcc (libiberty's `buildargv`) | clang (LLVM's `TokenizeGNUCommandLine`) |
//! |---|---|---|
//! | `\v`, `\f` | separate arguments | are part of one |
//! | a trailing `\` | dropped | kept |
//! | `""` alone | an empty argument | nothing |
//! | a UTF-8 byte order mark | part of the first argument | skipped |
//!
//! A NUL byte is kept inside its argument. gcc reads the file as a C string
//! and ignores everything from the first NUL on; clang reads on (each
//! argument then ends at its NUL). [`crate::parse`] refuses an argument
//! with a NUL, so neither reading is guessed.

/// Whose rules a response file is read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reader {
    Gcc,
    Clang,
}

/// Splits the contents of a response file into arguments as `reader` does.
pub fn split(text: &[u8], reader: Reader) -> Vec<Vec<u8>> {
    match reader {
        Reader::Gcc => split_gcc(text),
        Reader::Clang => split_clang(text),
    }
}

/// LLVM's `TokenizeGNUCommandLine`, as clang's driver expands `@file`.
fn split_clang(text: &[u8]) -> Vec<Vec<u8>> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let mut args = Vec::new();
    let mut token = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'\\' && i + 1 < text.len() {
            token.push(text[i + 1]);
            i += 2;
        } else if c == b'"' || c == b'\'' {
            // A quoted run, up to the same quote (or the end of the file).
            i += 1;
            while i < text.len() && text[i] != c {
                if text[i] == b'\\' && i + 1 < text.len() {
                    i += 1;
                }
                token.push(text[i]);
                i += 1;
            }
            i += 1;
        } else if is_space(c) {
            // An argument ends here; one that is still empty (`""`) is
            // no argument at all.
            if !token.is_empty() {
                args.push(std::mem::take(&mut token));
            }
            i += 1;
        } else {
            token.push(c);
            i += 1;
        }
    }
    if !token.is_empty() {
        args.push(token);
    }
    args
}

/// libiberty's `buildargv`, as gcc's driver expands `@file`.
fn split_gcc(text: &[u8]) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut i = 0;
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    while i < text.len() {
        while i < text.len() && is_space(text[i]) {
            i += 1;
        }
        if i >= text.len() {
            break;
        }
        let mut arg = Vec::new();
        let (mut squote, mut dquote, mut escaped) = (false, false, false);
        while i < text.len() {
            let c = text[i];
            if escaped {
                arg.push(c);
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if squote {
                if c == b'\'' {
                    squote = false;
                } else {
                    arg.push(c);
                }
            } else if dquote {
                if c == b'"' {
                    dquote = false;
                } else {
                    arg.push(c);
                }
            } else if is_space(c) {
                break;
            } else if c == b'\'' {
                squote = true;
            } else if c == b'"' {
                dquote = true;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        args.push(arg);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Vec<String> {
        read(text, Reader::Gcc)
    }

    fn read(text: &str, reader: Reader) -> Vec<String> {
        split(text.as_bytes(), reader)
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn gnu_quoting() {
        assert_eq!(
            s("  -c\ta.c \n -o 'out dir/a.o'"),
            ["-c", "a.c", "-o", "out dir/a.o"]
        );
        assert_eq!(
            s(r#"-DX="a b" -DY=\"q\" 'it''s' """#),
            ["-DX=a b", "-DY=\"q\"", "its", ""]
        );
        assert_eq!(s(r"a\ b c\\d 'x\'y'"), ["a b", r"c\d", "x'y"]);
        assert!(s("").is_empty());
    }

    /// Each row seen with `gcc -###` and `clang -###` (clang 14).
    #[test]
    fn gcc_and_clang_differ_at_the_edges() {
        let both = |text: &str| (read(text, Reader::Gcc), read(text, Reader::Clang));
        assert_eq!(
            both("-DX=1\x0b-DY"),
            (
                vec!["-DX=1".into(), "-DY".into()],
                vec!["-DX=1\x0b-DY".into()]
            )
        );
        assert_eq!(
            both("-DX=1\\"),
            (vec!["-DX=1".into()], vec!["-DX=1\\".into()])
        );
        assert_eq!(
            both("a \"\" b"),
            (
                vec!["a".into(), "".into(), "b".into()],
                vec!["a".into(), "b".into()]
            )
        );
        assert_eq!(
            read("\u{feff}-c 'x y'", Reader::Clang),
            ["-c", "x y"],
            "clang skips a byte order mark"
        );
        // The common cases read alike.
        let common = r#"  -c\ta.c -o 'out dir/a.o' -DX="a b" -DY=\"q\" 'it''s' a\ b"#;
        assert_eq!(read(common, Reader::Gcc), read(common, Reader::Clang));
    }
}
