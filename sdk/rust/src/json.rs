//! A small JSON value type with a parser and a serializer: what a plugin
//! needs to read its request and write its response, with no crates.

use std::fmt::Write;

/// A JSON value. Objects keep their members in document order; `get`
/// returns the last member of a name, as Go's encoding/json does.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object; `None` for other values or a missing key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => {
                members.iter().rev().find(|(k, _)| eq_bytes(k.as_bytes(), key.as_bytes())).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// An object from `(key, value)` pairs: `Value::object([("sub", "x".into())])`.
    pub fn object<K: Into<String>, I: IntoIterator<Item = (K, Value)>>(members: I) -> Value {
        Value::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Sets `key` on an object (replacing an existing member); other values are left alone.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Value::Object(members) = self {
            match members.iter_mut().find(|(k, _)| k == key) {
                Some(m) => m.1 = value,
                None => members.push((key.to_string(), value)),
            }
        }
    }

    /// The value as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// Appends the value as JSON text to `out`.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => write_number(*n, out),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// `Null`.
impl Default for Value {
    fn default() -> Value {
        Value::Null
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Number(n as f64)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

fn write_number(n: f64, out: &mut String) {
    if !n.is_finite() {
        // NaN and infinities have no JSON form.
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", n as i64);
    } else {
        let _ = write!(out, "{}", n);
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut i = plain_run(bytes);
    let mut run = 0;
    while i < bytes.len() {
        let b = bytes[i];
        out.push_str(&s[run..i]);
        run = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        i = run + plain_run(&bytes[run..]);
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Why a document did not parse, and where.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub offset: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.reason)
    }
}

const MAX_DEPTH: usize = 128;

/// Parses one JSON document (surrounding whitespace allowed).
///
/// Speed note: under the host's call deadline (wazero's
/// WithCloseOnContextDone) every loop iteration costs a check of tens of
/// nanoseconds, far more than the work in it. So the document is checked
/// for UTF-8 once, strings are scanned eight bytes at a time, and loops that
/// usually run zero times are guarded by a test.
pub fn parse(text: &[u8]) -> Result<Value, ParseError> {
    let text = std::str::from_utf8(text).map_err(|e| ParseError { offset: e.valid_up_to(), reason: "invalid UTF-8" })?;
    let mut p = Parser { text, s: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing data"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

/// Flags (in each byte's high bit) the bytes of x that are '"', '\\' or
/// control characters; the lowest flag is exact.
#[inline]
fn special(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let q = x ^ (ONES * b'"' as u64);
    let b = x ^ (ONES * b'\\' as u64);
    (q.wrapping_sub(ONES) & !q | b.wrapping_sub(ONES) & !b | x.wrapping_sub(ONES * 0x20) & !x) & HIGHS
}

/// How many bytes at the start of s need no attention inside a JSON string,
/// eight at a time; fewer than eight bytes take no loop at all.
fn plain_run(s: &[u8]) -> usize {
    let word = |i: usize| u64::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7]]);
    let mut i = 0;
    if s.len() >= 8 {
        // The first word outside the loop: most strings end in it.
        let m = special(word(0));
        if m != 0 {
            return (m.trailing_zeros() / 8) as usize;
        }
        i = 8;
        while s.len() - i >= 8 {
            let m = special(word(i));
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
    }
    let rest = s.len() - i;
    if rest > 0 {
        let mut w = [b'a'; 8]; // padding that is not special
        w[..rest].copy_from_slice(&s[i..]);
        let m = special(u64::from_le_bytes(w));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
    }
    s.len()
}

/// Byte equality eight bytes at a time (a == on slices calls a byte-wise memcmp).
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    let word = |s: &[u8], i: usize| u64::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7]]);
    while a.len() - i > 8 {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
    x[..a.len() - i].copy_from_slice(&a[i..]);
    y[..b.len() - i].copy_from_slice(&b[i..]);
    u64::from_le_bytes(x) == u64::from_le_bytes(y)
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> ParseError {
        ParseError { offset: self.i, reason }
    }

    fn ws(&mut self) {
        let is_ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        // The host's requests have no whitespace: look once before looping.
        if self.i >= self.s.len() || !is_ws(self.s[self.i]) {
            return;
        }
        while self.i < self.s.len() && is_ws(self.s[self.i]) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected object key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    members.push((key, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(members));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(_) => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, ParseError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("unexpected character"))
        }
    }

    fn digits(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i > start
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else if !self.digits() {
            return Err(self.err("bad number"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.digits() {
                return Err(self.err("bad number"));
            }
        }
        if matches!(self.peek(), Some(b'e') | Some(b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+') | Some(b'-')) {
                self.i += 1;
            }
            if !self.digits() {
                return Err(self.err("bad number"));
            }
        }
        // The bytes are ASCII digits and signs: valid UTF-8 by construction.
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad number"))?;
        text.parse::<f64>().map(Value::Number).map_err(|_| self.err("bad number"))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("bad \\u escape")),
            };
            v = v << 4 | d as u32;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let start = self.i;
        self.i += plain_run(&self.s[self.i..]);
        if self.peek() == Some(b'"') {
            // No escapes, the common case: one copy, no loop.
            self.i += 1;
            return Ok(self.text[start..self.i - 1].to_string());
        }
        let mut out = String::new();
        let mut run = start;
        loop {
            let c = match self.peek() {
                Some(c) => c,
                None => return Err(self.err("unterminated string")),
            };
            match c {
                b'"' => {
                    out.push_str(&self.text[run..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.i]);
                    self.i += 1;
                    let e = match self.peek() {
                        Some(e) => e,
                        None => return Err(self.err("unterminated string")),
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    self.i = save;
                                }
                            }
                            // A lone surrogate decodes to U+FFFD, as in Go's encoding/json.
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("bad escape in string")),
                    }
                    run = self.i;
                    self.i += plain_run(&self.s[self.i..]);
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                // Only '"', '\\' and control characters stop plain_run.
                _ => unreachable!("plain_run stopped at an ordinary byte"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let doc = br#" {"a": [1, -2.5, 1e3, true, false, null], "s": "x\"\\\n\u00e9\ud83d\ude00", "o": {}} "#;
        let v = parse(doc).unwrap();
        assert_eq!(v.get("s").and_then(Value::as_str), Some("x\"\\\n\u{e9}\u{1F600}"));
        assert_eq!(
            v.to_json(),
            "{\"a\":[1,-2.5,1000,true,false,null],\"s\":\"x\\\"\\\\\\n\u{e9}\u{1F600}\",\"o\":{}}"
        );
        assert_eq!(parse(v.to_json().as_bytes()).unwrap(), v);
    }

    #[test]
    fn scans_words() {
        for len in 0..20 {
            let plain = vec![b'x'; len];
            assert_eq!(plain_run(&plain), len);
            for at in 0..len {
                for c in [b'"', b'\\', 0x01, 0x1f] {
                    let mut s = plain.clone();
                    s[at] = c;
                    assert_eq!(plain_run(&s), at, "len {} special {:#x} at {}", len, c, at);
                }
                let mut other = plain.clone();
                other[at] = b'y';
                assert!(!eq_bytes(&plain, &other));
            }
            assert!(eq_bytes(&plain, &plain.clone()));
        }
        // UTF-8 bytes (high bit set) are ordinary.
        assert_eq!(plain_run("é€😀abc\"".as_bytes()), "é€😀abc".len());
    }

    #[test]
    fn refuses_bad_documents() {
        for bad in [&b""[..], b"{", b"[1,]", b"\"\xff\"", b"{\"a\" 1}", b"01", b"\"\x01\"", b"tru", b"1 2", b"\"\\x\""] {
            assert!(parse(bad).is_err(), "{:?} parsed", std::str::from_utf8(bad));
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
