//! String helpers a plugin's decisions and messages need: quoting what a
//! client or user sent, case-insensitive comparison of e-mail addresses and
//! domains, and comparison of secrets.

/// `s` as a double-quoted literal with everything that is not printable
/// escaped (`"a\nb\u{202e}"`), so that a value cannot forge a line of a log
/// or hide in one: `str::escape_debug`, which leaves combining marks after
/// the first character as they are (Devanagari, decomposed accents), but
/// without escaping `'`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    // Every escape is a backslash and what follows it: \' becomes '.
    let mut escaped = s.escape_debug();
    while let Some(c) = escaped.next() {
        if c == '\\' {
            match escaped.next() {
                Some('\'') => out.push('\''),
                Some(d) => {
                    out.push('\\');
                    out.push(d);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Whether `a` and `b` are equal under Unicode simple case folding
/// (`K`, `k` and the Kelvin sign `K` are all equal; `ß` and `ss` are not).
pub fn equal_fold(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    let (mut x, mut y) = (a.chars(), b.chars());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(c), Some(d)) if c == d || fold_eq(c, d) => {}
            _ => return false,
        }
    }
}

fn fold_eq(c: char, d: char) -> bool {
    // The Turkish dotted and dotless i fold only to themselves.
    if matches!(c, '\u{130}' | '\u{131}') || matches!(d, '\u{130}' | '\u{131}') {
        return false;
    }
    lower(c) == lower(d) || upper(c) == upper(d)
}

/// `s` in lower case, one character for one (Unicode's simple mapping:
/// `İ` becomes `i`, where `str::to_lowercase` gives two characters).
pub fn to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(lower).collect()
}

fn lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut m = c.to_lowercase();
    match (m.next(), m.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn upper(c: char) -> char {
    let mut m = c.to_uppercase();
    match (m.next(), m.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Whether two secrets are equal, in a time that depends on their lengths
/// only, never on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut v = 0u8;
    for (x, y) in a.iter().zip(b) {
        v |= x ^ y;
    }
    // A volatile read keeps the compiler from turning the loop into an early exit.
    unsafe { std::ptr::read_volatile(&v) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(quote("a+b"), r#""a+b""#);
        assert_eq!(quote("a\u{202e}b\n\"\\"), r#""a\u{202e}b\n\"\\""#);
        assert_eq!(quote("é'\\'"), r#""é'\\'""#);
        assert_eq!(quote("x\u{301} हिन्दी \u{1}"), "\"x\u{301} हिन्दी \\u{1}\"");
        assert_eq!(quote("\u{301}"), r#""\u{301}""#);
    }

    #[test]
    fn folds() {
        assert!(equal_fold("Alice@Example.COM", "alice@example.com"));
        assert!(equal_fold("\u{212a}im", "KIM"));
        assert!(equal_fold("σ", "ς") && equal_fold("Σ", "ς"));
        assert!(!equal_fold("ß", "ss") && !equal_fold("\u{130}", "i") && !equal_fold("a", "ab"));
        assert_eq!(to_lower("\u{130}Σ\u{212a}"), "iσk");
        assert!(constant_time_eq(b"4711", b"4711") && !constant_time_eq(b"4711", b"4712") && !constant_time_eq(b"47", b"4711"));
    }
}
