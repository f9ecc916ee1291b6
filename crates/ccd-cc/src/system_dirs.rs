//! The compiler's built-in include directories, from the output of
//! `<cc> -x <lang> -E -v /dev/null` (both gcc and clang print the list).

/// Extracts the directories listed after `#include <...> search starts here:`.
pub fn parse_verbose_output(stderr: &[u8]) -> Vec<Vec<u8>> {
    let mut dirs = Vec::new();
    let mut inside = false;
    for line in stderr.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"#include <...> search starts here:")
            || line.starts_with(b"#include \"...\" search starts here:")
        {
            inside = true;
            continue;
        }
        if line.starts_with(b"End of search list.") {
            break;
        }
        if inside && line.first() == Some(&b' ') {
            let dir = line.trim_ascii();
            // macOS marks framework directories; they are still searched.
            let dir = dir.strip_suffix(b" (framework directory)").unwrap_or(dir);
            dirs.push(dir.to_vec());
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gcc_list() {
        let out = b"ignoring nonexistent directory \"/x\"\n#include \"...\" search starts here:\n#include <...> search starts here:\n /usr/lib/gcc/x86_64-linux-gnu/12/include\n /usr/local/include\n /usr/include\nEnd of search list.\n";
        assert_eq!(
            parse_verbose_output(out),
            vec![
                b"/usr/lib/gcc/x86_64-linux-gnu/12/include".to_vec(),
                b"/usr/local/include".to_vec(),
                b"/usr/include".to_vec()
            ]
        );
    }
}
