//! Typed decoding of a hook's input and a plugin's config, with messages
//! that name the field and say what was wrong with it.
//!
//! Declare the shape with [`json_struct!`](crate::json_struct) and decode
//! with [`Request::decode_input`](crate::Request::decode_input) or
//! [`Request::decode_config`](crate::Request::decode_config):
//!
//! ```ignore
//! gatehouse::json_struct! {
//!     struct Profile { email: String, display_name: String = "displayName" }
//! }
//! gatehouse::json_struct! {
//!     struct Input { provider: String, profile: Profile }
//! }
//!
//! fn sign_in(req: &Request) -> HookResult {
//!     let input: Input = req.decode_input()?;
//!     // {"profile":{"email":1}} was refused with invalid_request:
//!     // invalid input: field "profile.email": expected string, got number
//!     ...
//! }
//! ```
//!
//! The rules: a member's name matches a field's case-insensitively (an
//! exact match first); `null` leaves a field as it was (its default), and
//! empties a `Vec`, a [`Map`] or an `Option`; members naming no field are
//! ignored in an input and are errors in a config (a misspelt key should
//! not be silently dropped); every problem is reported, one a line.

use std::fmt::{self, Display};

use crate::json::{eq_bytes, Value};
use crate::text::quote;

/// Where a value sits in the document: `users[0].groups[1]`. Built on the
/// stack as decoding descends, and written out only for an error.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    /// The member `key` of the object at this path.
    pub fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    /// The element `i` of the array at this path.
    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => f.write_str(k),
            Path::Key(parent, k) => write!(f, "{}.{}", parent, k),
            Path::Index(parent, i) => write!(f, "{}[{}]", parent, i),
        }
    }
}

/// The name of a value's JSON type, as the messages use it.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Collects the problems of one decoding.
pub struct Decoder {
    strict: bool,
    problems: Vec<String>,
}

impl Decoder {
    /// A decoder; `strict` makes a member that names no field an error.
    pub fn new(strict: bool) -> Decoder {
        Decoder { strict, problems: Vec::new() }
    }

    /// Records a problem with the value at `at`: `field "users[0].sub": <problem>`.
    pub fn error(&mut self, at: Path, problem: impl Display) {
        let msg = match at {
            Path::Root => problem.to_string(),
            at => format!("field {}: {}", quote(&at.to_string()), problem),
        };
        self.problems.push(msg);
    }

    /// Records that the value at `at` is not of the JSON type `want`.
    pub fn expected(&mut self, at: Path, want: &str, got: &Value) {
        self.error(at, format_args!("expected {}, got {}", want, kind(got)));
    }

    /// Decodes an object's members into fields named by `keys`:
    /// `field(decoder, key, value, path)` runs for each member, in document
    /// order, with the entry of `keys` its name matches. `null` does nothing.
    pub fn object<F>(&mut self, v: &Value, at: Path, keys: &[&'static str], mut field: F)
    where
        F: FnMut(&mut Decoder, &'static str, &Value, Path),
    {
        let members = match v {
            Value::Null => return,
            Value::Object(members) => members,
            other => return self.expected(at, "object", other),
        };
        for (name, value) in members {
            let found = keys.iter().find(|k| eq_bytes(k.as_bytes(), name.as_bytes())).or_else(|| keys.iter().find(|k| key_matches(k, name)));
            match found {
                Some(key) => field(self, key, value, at.key(name)),
                None if self.strict => {
                    let unknown = at.key(name).to_string();
                    self.problems.push(format!("unknown field {}", quote(&unknown)));
                }
                None => {}
            }
        }
    }

    /// The problems, one a line, if there were any.
    pub fn finish(self) -> Result<(), String> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems.join("\n"))
        }
    }
}

/// Whether a member named `name` fills the field `key` (ASCII): equal
/// but for case, the Kelvin sign counting as `k` and the long s as `s`.
fn key_matches(key: &str, name: &str) -> bool {
    let (mut k, mut n) = (key.chars(), name.chars());
    loop {
        match (k.next(), n.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
            (Some('k' | 'K'), Some('\u{212a}')) | (Some('s' | 'S'), Some('\u{17f}')) => {}
            _ => return false,
        }
    }
}

/// Decodes `v` as a `T` (strictly: see [`Decoder::new`]); the error is
/// every problem, one a line.
pub fn decode<T: Decode + Default>(v: &Value, strict: bool) -> Result<T, String> {
    let mut d = Decoder::new(strict);
    let mut t = T::default();
    t.decode(v, Path::Root, &mut d);
    d.finish().map(|()| t)
}

/// A type a JSON value decodes into. [`json_struct!`](crate::json_struct)
/// implements it for a struct; implement it by hand for a value with a
/// form of its own (a timestamp), reporting problems with [`Decoder::error`].
pub trait Decode {
    /// Decodes `v`, found at `at`, into `self`.
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder);
}

impl Decode for String {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => {}
            Value::String(s) => self.clone_from(s),
            other => d.expected(at, "string", other),
        }
    }
}

impl Decode for bool {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => {}
            Value::Bool(b) => *self = *b,
            other => d.expected(at, "boolean", other),
        }
    }
}

impl Decode for f64 {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => {}
            Value::Number(n) => *self = *n,
            other => d.expected(at, "number", other),
        }
    }
}

/// Any JSON value, as it is.
impl Decode for Value {
    fn decode(&mut self, v: &Value, _: Path, _: &mut Decoder) {
        *self = v.clone();
    }
}

impl<T: Decode + Default> Decode for Vec<T> {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => self.clear(),
            Value::Array(items) => {
                self.clear();
                for (i, item) in items.iter().enumerate() {
                    let mut t = T::default();
                    t.decode(item, at.index(i), d);
                    self.push(t);
                }
            }
            other => d.expected(at, "array", other),
        }
    }
}

/// `None` for null (or when absent), so a default can tell them from a value.
impl<T: Decode + Default> Decode for Option<T> {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => *self = None,
            v => self.get_or_insert_with(T::default).decode(v, at, d),
        }
    }
}

/// A JSON object of any member names, each value a `T`, in document order
/// (a repeated name keeps its last value).
#[derive(Debug, Clone, PartialEq)]
pub struct Map<T>(pub Vec<(String, T)>);

impl<T> Default for Map<T> {
    fn default() -> Map<T> {
        Map(Vec::new())
    }
}

impl<T> Map<T> {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl<T: Decode + Default> Decode for Map<T> {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => self.0.clear(),
            Value::Object(members) => {
                self.0.clear();
                for (name, value) in members {
                    let mut t = T::default();
                    t.decode(value, at.key(name), d);
                    self.0.retain(|(k, _)| k != name);
                    self.0.push((name.clone(), t));
                }
            }
            other => d.expected(at, "object", other),
        }
    }
}

/// Declares a struct that decodes from a JSON object, one member a field:
///
/// ```ignore
/// gatehouse::json_struct! {
///     /// A user of the static directory.
///     pub struct User {
///         pub sub: String,
///         /// Named in JSON as written after `=`.
///         pub display_name: String = "displayName",
///         pub groups: Vec<String>,
///     }
/// }
/// ```
///
/// The struct derives `Default` (every field's default) and implements
/// [`Decode`]; each field's type must implement `Decode` and `Default`.
#[macro_export]
macro_rules! json_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty $(= $key:literal)?),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Default)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::decode::Decode for $name {
            fn decode(&mut self, v: &$crate::Value, at: $crate::decode::Path, d: &mut $crate::decode::Decoder) {
                d.object(v, at, &[$($crate::__json_key!($field $(, $key)?)),*], |d, key, v, at| {
                    $(if key == $crate::__json_key!($field $(, $key)?) {
                        return $crate::decode::Decode::decode(&mut self.$field, v, at, d);
                    })*
                });
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __json_key {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $key:literal) => {
        $key
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    crate::json_struct! {
        #[derive(Debug)]
        struct Profile { email: String, display_name: String = "displayName" }
    }
    crate::json_struct! {
        #[derive(Debug)]
        struct Doc {
            name: String,
            on: bool,
            profile: Profile,
            tags: Vec<String>,
            labels: Map<String>,
            namespace: Option<String>,
            users: Vec<Profile>,
        }
    }

    fn doc(text: &str, strict: bool) -> Result<Doc, String> {
        decode(&parse(text.as_bytes()).unwrap(), strict)
    }

    #[test]
    fn decodes() {
        let d = doc(r#"{"NAME":"x","on":true,"profile":{"DisplayName":"A","email":null},"tags":["a"],"labels":{"k":"1","k":"2"},"namespace":null,"other":1}"#, false).unwrap();
        assert_eq!((d.name.as_str(), d.on, d.profile.display_name.as_str(), d.tags.len()), ("x", true, "A", 1));
        assert_eq!((d.labels.get("k").map(String::as_str), d.labels.0.len(), d.namespace), (Some("2"), 1, None));
        assert_eq!(doc(r#"{"namespace":""}"#, true).unwrap().namespace.as_deref(), Some(""));
        let folded = "{\"tag\u{17f}\":[\"a\"],\"na\u{212a}e\":1}";
        assert_eq!(doc(folded, false).unwrap().tags, ["a"]);
        assert_eq!(doc(folded, true).unwrap_err(), "unknown field \"na\u{212a}e\"");
    }

    #[test]
    fn reports_every_problem() {
        let cases = [
            ("[]", false, "expected object, got array"),
            (r#"{"profile":{"email":1}}"#, false, r#"field "profile.email": expected string, got number"#),
            (r#"{"users":[{},{"email":true}],"on":"yes"}"#, false,
                "field \"users[1].email\": expected string, got boolean\nfield \"on\": expected boolean, got string"),
            (r#"{"labels":{"a.b":2},"tags":{}}"#, false,
                "field \"labels.a.b\": expected string, got number\nfield \"tags\": expected array, got object"),
            (r#"{"nmae":"x","users":[{"mail":""}]}"#, true, "unknown field \"nmae\"\nunknown field \"users[0].mail\""),
        ];
        for (text, strict, want) in cases {
            assert_eq!(doc(text, strict).unwrap_err(), want, "{}", text);
        }
    }
}
