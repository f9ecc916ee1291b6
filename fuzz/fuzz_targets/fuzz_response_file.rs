//! `@file` response files, as the daemon expands them before classifying.
//!
//! 1. `split` never panics, and agrees with a model of what GCC's driver
//!    does (libiberty's `expandargv` and `buildargv`, GCC 12): the file is
//!    read as a C string, so it ends at its first NUL; a file of only
//!    whitespace gives no argument; otherwise arguments are separated by
//!    `ISSPACE` (space, `\t`, `\n`, `\v`, `\f`, `\r`), single and double
//!    quotes group, a backslash takes the next byte literally everywhere
//!    (inside single quotes too), an unterminated quote runs to the end and
//!    a trailing backslash is dropped. The model was checked against
//!    `gcc -###` (see the README).
//! 2. A NUL byte is the one thing the model and `split` read differently on
//!    purpose: gcc stops at it and clang reads on, so `split` keeps it
//!    inside its argument and `ccd_cc::parse` refuses such an argument list.
//!    Checked: with a NUL, `split` gives the model's arguments for the text
//!    before it, some argument holds a NUL, and the list never parses as a
//!    cacheable compile (nor with `-c a.c` around it).
//! 3. Round trip: arguments taken from the input (cut at NUL, as argv can
//!    hold none), written the way libiberty's `writeargv` does (a backslash
//!    before whitespace, `\`, `'` and `"`; `""` for an empty argument), or
//!    wrapped in double or single quotes, split back to the same arguments,
//!    and so does the model; clang's reading gives them back too, but for
//!    the empty ones.
#![no_main]

use ccd_cc::response_file::{Reader, split};
use ccd_cc::{Parsed, parse};
use libfuzzer_sys::fuzz_target;

/// libiberty's `ISSPACE` (safe-ctype, independent of the locale).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// `expandargv` + `buildargv` from GCC 12's libiberty, on the file's bytes.
fn gcc_model(file: &[u8]) -> Vec<Vec<u8>> {
    // fread into a buffer, then used as a C string.
    let s = match file.iter().position(|b| *b == 0) {
        Some(n) => &file[..n],
        None => file,
    };
    // `only_whitespace`: no arguments at all.
    if s.iter().all(|c| is_space(*c)) {
        return Vec::new();
    }
    let mut argv = Vec::new();
    let mut i = 0;
    let (mut squote, mut dquote, mut bsquote) = (false, false, false);
    loop {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        let mut arg = Vec::new();
        while i < s.len() {
            let c = s[i];
            if is_space(c) && !squote && !dquote && !bsquote {
                break;
            }
            if bsquote {
                bsquote = false;
                arg.push(c);
            } else if c == b'\\' {
                bsquote = true;
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
            } else if c == b'\'' {
                squote = true;
            } else if c == b'"' {
                dquote = true;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        argv.push(arg);
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
    }
    argv
}

/// libiberty's `writeargv`.
fn writeargv(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        for &c in *a {
            if is_space(c) || matches!(c, b'\\' | b'\'' | b'"') {
                out.push(b'\\');
            }
            out.push(c);
        }
        if a.is_empty() {
            out.extend_from_slice(b"\"\"");
        }
        out.push(b'\n');
    }
    out
}

/// Each argument in `q` quotes, a backslash before `q` and `\` inside.
fn quoted(args: &[&[u8]], q: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.push(q);
        for &c in *a {
            if c == q || c == b'\\' {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(q);
        out.push(b' ');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let got = split(data, Reader::Gcc);
    match data.iter().position(|b| *b == 0) {
        None => assert_eq!(got, gcc_model(data), "{:?}", String::from_utf8_lossy(data)),
        Some(n) => {
            assert_eq!(split(&data[..n], Reader::Gcc), gcc_model(data));
            assert!(got.iter().any(|a| a.contains(&0)), "{got:?}");
            let mut around = vec![b"-c".to_vec(), b"a.c".to_vec()];
            around.extend(got.iter().cloned());
            for argv in [&got, &around] {
                assert!(
                    !matches!(parse(argv), Parsed::Cacheable(_)),
                    "{argv:?} parses as a compile"
                );
            }
        }
    }

    let args: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let want: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    for text in [writeargv(&args), quoted(&args, b'"'), quoted(&args, b'\'')] {
        // `writeargv` of one empty argument is `""`, which is not only
        // whitespace: both give it back.
        assert_eq!(
            split(&text, Reader::Gcc),
            want,
            "{:?}",
            String::from_utf8_lossy(&text)
        );
        assert_eq!(gcc_model(&text), want);
        // clang reads the same quoting back, but for empty arguments (it
        // drops `""`) and a leading byte order mark (it skips one).
        if !text.starts_with(b"\xef\xbb\xbf") {
            let non_empty: Vec<Vec<u8>> = want.iter().filter(|a| !a.is_empty()).cloned().collect();
            assert_eq!(split(&text, Reader::Clang), non_empty);
        }
    }
});
