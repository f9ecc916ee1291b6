//! Strict path validation: include-type paths that
//! name one header through several spellings (`inc/../inc`, `a//b`, `./x`)
//! defeat caching across builds and checkouts. A build can ask ccd to
//! reject them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    /// Paths spelled canonically: no `.`/`..` or empty components, no
    /// trailing slash, no backslash. Relative paths are allowed.
    Consistent,
    /// Consistent, and absolute.
    Absolute,
}

impl Mode {
    pub fn parse(v: &str) -> Result<Mode, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "off" | "false" | "no" => Ok(Mode::Off),
            "consistent" => Ok(Mode::Consistent),
            "1" | "on" | "true" | "yes" | "absolute" => Ok(Mode::Absolute),
            other => Err(format!(
                "unknown strict-paths mode `{other}` (expected off, consistent or absolute)"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Consistent => "consistent",
            Mode::Absolute => "absolute",
        }
    }
}

/// Options whose value is an include-type path.
const CHECKED: &[&str] = &[
    "-iwithprefixbefore",
    "-iwithprefix",
    "-include-pch",
    "-idirafter",
    "-isysroot",
    "-isystem",
    "-imacros",
    "-include",
    "-iprefix",
    "-iquote",
    "--sysroot",
    "-I",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub flag: String,
    pub path: String,
    pub rule: &'static str,
    pub mode: Mode,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ccd: error: {} {}: {} (--strict-paths={})",
            self.flag,
            self.path,
            self.rule,
            self.mode.name()
        )
    }
}

/// Checks every include-type path of `args` (response files expanded).
pub fn validate<A: AsRef<[u8]>>(mode: Mode, args: &[A]) -> Result<(), Violation> {
    if mode == Mode::Off {
        return Ok(());
    }
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        i += 1;
        let Some(flag) = CHECKED.iter().find(|f| a.starts_with(f.as_bytes())) else {
            continue;
        };
        let rest = &a[flag.len()..];
        let value: &[u8] = if rest.is_empty() {
            match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.as_ref()
                }
                None => continue,
            }
        } else {
            rest.strip_prefix(b"=").unwrap_or(rest)
        };
        if let Some(rule) = rule_broken(mode, value) {
            return Err(Violation {
                flag: flag.to_string(),
                path: String::from_utf8_lossy(value).into_owned(),
                rule,
                mode,
            });
        }
    }
    Ok(())
}

fn rule_broken(mode: Mode, p: &[u8]) -> Option<&'static str> {
    if mode == Mode::Absolute && p.first() != Some(&b'/') {
        return Some("path must be absolute");
    }
    if p.contains(&b'\\') {
        return Some("path contains a backslash");
    }
    if p.len() > 1 && p.ends_with(b"/") {
        return Some("path ends with a slash");
    }
    let body = p.strip_prefix(b"/").unwrap_or(p);
    for c in body.split(|b| *b == b'/') {
        match c {
            b"" if !body.is_empty() => return Some("path has an empty component (//)"),
            b"." if p != b"." => return Some("path has a '.' component"),
            b".." => return Some("path has a '..' component"),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(mode: Mode, args: &str) -> Result<(), String> {
        let v: Vec<&str> = args.split_whitespace().collect();
        validate(mode, &v).map_err(|e| e.to_string())
    }

    #[test]
    fn modes() {
        let ok = "-c a.c -I/usr/inc -isystem /opt/x -include /p/pre.h --sysroot=/sr";
        for m in [Mode::Off, Mode::Consistent, Mode::Absolute] {
            assert!(check(m, ok).is_ok());
        }
        assert!(check(Mode::Consistent, "-Iinc -iquote sub/dir -I.").is_ok());
        let e = check(Mode::Absolute, "-Iinc").unwrap_err();
        assert_eq!(
            e,
            "ccd: error: -I inc: path must be absolute (--strict-paths=absolute)"
        );
        assert!(
            check(Mode::Consistent, "-I ../inc")
                .unwrap_err()
                .contains("'..'")
        );
        assert!(
            check(Mode::Consistent, "-I/a//b")
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            check(Mode::Consistent, "-include ./x.h")
                .unwrap_err()
                .contains("'.'")
        );
        assert!(
            check(Mode::Consistent, "-Iinc/")
                .unwrap_err()
                .contains("slash")
        );
        assert!(check(Mode::Off, "-I ../inc").is_ok());
        assert_eq!(Mode::parse("1"), Ok(Mode::Absolute));
        assert!(Mode::parse("bogus").is_err());
    }
}
