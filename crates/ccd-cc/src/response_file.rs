//! `@file` response files, GNU style (libiberty's `buildargv`): arguments
//! separated by whitespace; single and double quotes group; a backslash
//! escapes the next character anywhere, also inside quotes.
//!
//! A NUL byte is kept inside its argument. gcc reads the file as a C string
//! and ignores everything from the first NUL on; clang reads on (each
//! argument then ends at its NUL). [`crate::parse`] refuses an argument
//! with a NUL, so neither reading is guessed.

/// Splits the contents of a response file into arguments.
pub fn split(text: &[u8]) -> Vec<Vec<u8>> {
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
        split(text.as_bytes())
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
}
