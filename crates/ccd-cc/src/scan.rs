//! A conservative scan of a source or header file for what makes a cached
//! result depend on more than the files' contents: the headers it looks up
//! (`#include`, `#include_next`, `#import`, `__has_include`), lookups ccd
//! cannot follow (a macro as the operand), time macros, and embedded files.
//!
//! The scan over-approximates on purpose: a `#include` inside a comment or a
//! string still counts. An extra entry only costs a filesystem probe; a
//! missed one could serve a stale object.

use memchr::memmem;
use serde::{Deserialize, Serialize};

/// One header lookup the preprocessor may perform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lookup {
    /// `"name"` (searched from the including file's directory first) rather
    /// than `<name>`.
    pub quoted: bool,
    /// `#include_next` / `__has_include_next`: continues after the directory
    /// the current file was found in.
    pub next: bool,
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResult {
    pub lookups: Vec<Lookup>,
    /// An include or `__has_include` whose operand is a macro.
    pub computed_lookup: bool,
    pub uses_time: bool,
    pub uses_date: bool,
    pub uses_timestamp: bool,
    /// `.incbin`, `#embed` or `__has_embed`: file contents ccd cannot see.
    pub embeds_files: bool,
}

/// Scans `text` (the bytes of one file).
pub fn scan(text: &[u8]) -> ScanResult {
    // Backslash-newline splices can split a directive anywhere; remove them
    // first (rare, so only pay when present).
    let spliced;
    let text = if memmem::find(text, b"\\\n").is_some() || memmem::find(text, b"\\\r\n").is_some() {
        spliced = remove_splices(text);
        &spliced[..]
    } else {
        text
    };
    let mut r = ScanResult {
        uses_time: memmem::find(text, b"__TIME__").is_some(),
        uses_date: memmem::find(text, b"__DATE__").is_some(),
        uses_timestamp: memmem::find(text, b"__TIMESTAMP__").is_some(),
        embeds_files: memmem::find(text, b".incbin").is_some()
            || memmem::find(text, b"__has_embed").is_some(),
        ..Default::default()
    };

    // Directive introducers: `#`, the digraph `%:` and the trigraph `??=`.
    for (intro, len) in [(&b"#"[..], 1), (b"%:", 2), (b"??=", 3)] {
        for pos in memmem::find_iter(text, intro) {
            directive(text, pos + len, may_start_directive(text, pos), &mut r);
        }
    }
    for pos in memmem::find_iter(text, b"__has_include") {
        let mut i = pos + b"__has_include".len();
        let next = text[i..].starts_with(b"_next");
        if next {
            i += 5;
        }
        if text[i..].starts_with(b"__") {
            i += 2; // gcc's old `__has_include__` spelling
        }
        let i = skip_blank(text, i);
        if text.get(i) != Some(&b'(') {
            continue; // `#ifdef __has_include`: a mention, not a lookup
        }
        let i = skip_blank(text, i + 1);
        operand(text, i, next, &mut r);
    }
    r
}

/// Whether the `#` at `pos` can begin a directive: nothing but blanks
/// before it on its line, or a comment ending there (`/* x */ #include`).
/// libstdc++'s `You should @c \#include this file` comments are not
/// (taken for a computed include, they made every C++ miss record
/// every header under every search directory).
fn may_start_directive(text: &[u8], pos: usize) -> bool {
    let line = text[..pos]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |n| n + 1);
    let before = &text[line..pos];
    before
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c' | b'\r'))
        || memmem::find(before, b"*/").is_some()
}

/// `directive_start`: see [`may_start_directive`]. A name that is neither
/// `"..."` nor `<...>` elsewhere is text, not a computed include.
fn directive(text: &[u8], start: usize, directive_start: bool, r: &mut ScanResult) {
    let i = skip_blank(text, start);
    let word_end = text[i..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .map_or(text.len(), |n| i + n);
    let next = match &text[i..word_end] {
        b"include" | b"import" => false,
        b"include_next" => true,
        b"embed" => {
            r.embeds_files = true;
            return;
        }
        _ => return,
    };
    let j = skip_blank(text, word_end);
    if directive_start || matches!(text.get(j), Some(b'"' | b'<')) {
        operand(text, j, next, r);
    }
}

/// Reads `"name"` or `<name>` at `i`; anything else is a computed operand.
fn operand(text: &[u8], i: usize, next: bool, r: &mut ScanResult) {
    let close = match text.get(i) {
        Some(b'"') => b'"',
        Some(b'<') => b'>',
        _ => {
            r.computed_lookup = true;
            return;
        }
    };
    let rest = &text[i + 1..];
    match rest.iter().position(|b| *b == close || *b == b'\n') {
        Some(n) if rest[n] == close && n > 0 => r.lookups.push(Lookup {
            quoted: close == b'"',
            next,
            name: rest[..n].to_vec(),
        }),
        _ => r.computed_lookup = true,
    }
}

/// Skips spaces, tabs and `/* ... */` comments (which count as blanks).
fn skip_blank(text: &[u8], mut i: usize) -> usize {
    loop {
        match text.get(i) {
            Some(b' ' | b'\t' | b'\x0b' | b'\x0c') => i += 1,
            Some(b'/') if text.get(i + 1) == Some(&b'*') => {
                match memmem::find(&text[i + 2..], b"*/") {
                    Some(n) => i += n + 4,
                    None => return text.len(),
                }
            }
            _ => return i,
        }
    }
}

fn remove_splices(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            if text.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if text.get(i + 1) == Some(&b'\r') && text.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: &ScanResult) -> Vec<(bool, bool, String)> {
        r.lookups
            .iter()
            .map(|l| {
                (
                    l.quoted,
                    l.next,
                    String::from_utf8_lossy(&l.name).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_directives_in_all_spellings() {
        let src = b"#include <stdio.h>\n  #  include \"a.h\"\n/* c */ #include_next <b.h>\n%:import \"m.h\"\n??=include <t.h>\n#inc\\\nlude \"spliced.h\"\n#define X 1\n";
        let r = scan(src);
        assert_eq!(
            names(&r),
            vec![
                (false, false, "stdio.h".into()),
                (true, false, "a.h".into()),
                (false, true, "b.h".into()),
                (true, false, "spliced.h".into()),
                (true, false, "m.h".into()),
                (false, false, "t.h".into()),
            ]
        );
        assert!(!r.computed_lookup);
    }

    #[test]
    fn has_include_and_computed() {
        let r = scan(b"#if __has_include(<tbb/tbb.h>)\n#endif\n#ifdef __has_include\n#if __has_include_next (\"x.h\")\n#endif\n");
        assert_eq!(
            names(&r),
            vec![
                (false, false, "tbb/tbb.h".into()),
                (true, true, "x.h".into())
            ]
        );
        assert!(!r.computed_lookup);
        assert!(scan(b"#include FT_FREETYPE_H\n").computed_lookup);
        assert!(scan(b"  # include FT_FREETYPE_H\n").computed_lookup);
        assert!(scan(b"/* x */ #include FT_FREETYPE_H\n").computed_lookup);
        assert!(scan(b"x();\n/* a\n b */#include HDR\n").computed_lookup);
        // A mention in a comment (libstdc++'s <cstdio>) is not a lookup.
        let mention = scan(b" *  You should @c \\#include this file in your programs\n");
        assert!(!mention.computed_lookup);
        assert!(!scan(b"// then #include HDR\n").computed_lookup);
        assert!(scan(b"#if __has_include(HDR)\n").computed_lookup);
    }

    #[test]
    fn flags() {
        let r = scan(b"const char *t = __TIME__; const char *d = __DATE__;");
        assert!(r.uses_time && r.uses_date && !r.uses_timestamp);
        assert!(scan(b"asm(\".incbin \\\"x\\\"\");").embeds_files);
        assert!(scan(b"#embed \"data.bin\"\n").embeds_files);
        assert_eq!(
            scan(b"int main(void) { return 0; }\n"),
            ScanResult::default()
        );
    }
}
