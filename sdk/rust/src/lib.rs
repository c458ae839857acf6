//! The Rust guest SDK for Gatehouse plugins, ABI version 1 (`sdk/ABI.md`).
//!
//! A plugin is a `cdylib` for `wasm32-unknown-unknown`. This crate exports
//! `gh_alloc`, `gh_free` and `gh_abi_version`; [`hook!`] exports one hook:
//!
//! ```ignore
//! use gatehouse::{hook, Refusal, Request, Value};
//!
//! fn sign_in(req: &Request) -> Result<Value, Refusal> {
//!     let email = req.input.get("profile").and_then(|p| p.get("email")).and_then(Value::as_str);
//!     match email {
//!         Some(e) => Ok(Value::object([("sub", Value::from(format!("user:default/{}", e)))])),
//!         None => Err(Refusal::access_denied("sign-in requires an email address")),
//!     }
//! }
//!
//! hook!(sign_in, sign_in);
//! ```
//!
//! Typed inputs and configs: declare them with [`json_struct!`] and decode
//! them with [`Request::decode_input`] and [`Request::decode_config`]
//! ([`decode`]); [`text`] has the string helpers decisions and messages
//! need.
//!
//! It has no dependencies (a small JSON module is in [`json`]), so it builds
//! with a bare `rustc`, such as Debian's with `libstd-rust-dev-wasm32`.

pub mod decode;
pub mod json;
pub mod text;

pub use decode::{Decode, Map};
pub use json::{parse, Value};

/// The ABI this SDK implements; `gh_abi_version` returns it.
pub const ABI_VERSION: i32 = 1;

/// Error codes of ABI v1.
pub const ACCESS_DENIED: &str = "access_denied";
/// resolve_user's answer for a hint naming nobody (CIBA Core 1.0 §13).
pub const UNKNOWN_USER_ID: &str = "unknown_user_id";
/// The input is not what the plugin can work with.
pub const INVALID_REQUEST: &str = "invalid_request";
/// The plugin could not decide (a dependency is down, a bug); the caller fails closed.
pub const SERVER_ERROR: &str = "server_error";
/// resolve_user's answer for a user_code that is not the user's (CIBA Core 1.0 §13).
pub const INVALID_USER_CODE: &str = "invalid_user_code";
/// resolve_user's answer when the user has a user_code and the request carries none (CIBA Core 1.0 §13).
pub const MISSING_USER_CODE: &str = "missing_user_code";
/// resolve_user's answer for a login_hint_token that has expired (CIBA Core 1.0 §13).
pub const EXPIRED_LOGIN_HINT_TOKEN: &str = "expired_login_hint_token";

/// The values of the resolve_user input's `kind` and `purpose` (sdk/ABI.md §6).
pub mod resolve_user {
    /// `value` is the login_hint as the client sent it (CIBA Core 1.0 §7.1).
    pub const LOGIN_HINT: &str = "login_hint";
    /// `value` is the `sub` of an ID token the host has verified.
    pub const ID_TOKEN_HINT: &str = "id_token_hint";
    /// `value` is the login_hint_token as the client sent it.
    pub const LOGIN_HINT_TOKEN: &str = "login_hint_token";
    /// A CIBA request: the user is asked to authorize it.
    pub const PURPOSE_CIBA: &str = "ciba";
    /// A profile lookup (consent): nobody is asked to authorize anything.
    pub const PURPOSE_PROFILE: &str = "profile";
}

/// One hook call: the envelope `{"abi":1,"hook":...,"config":...,"input":...}`.
#[derive(Debug)]
pub struct Request {
    pub hook: String,
    /// The plugin's config object from Gatehouse's config (`{}` when none).
    pub config: Value,
    /// The hook's input (see sdk/ABI.md for each hook's fields).
    pub input: Value,
}

impl Request {
    /// The input as a `T`. An input that does not fit is refused with
    /// invalid_request, naming every field that does not:
    /// `invalid input: field "profile.email": expected string, got number`.
    /// Members `T` has no field for are ignored.
    pub fn decode_input<T: Decode + Default>(&self) -> Result<T, Refusal> {
        decode::decode(&self.input, false).map_err(|e| Refusal::invalid_request(format!("invalid input: {}", e)))
    }

    /// The plugin's config as a `T`. A config that does not fit fails the
    /// call closed (server_error), naming every problem:
    /// `plugin config: unknown field "users[0].mail"`. A member `T` has no
    /// field for is an error: a misspelt key must not be silently ignored.
    pub fn decode_config<T: Decode + Default>(&self) -> Result<T, Refusal> {
        decode::decode(&self.config, true).map_err(|e| Refusal::server_error(format!("plugin config: {}", e)))
    }
}

/// A plugin's refusal: the response `{"error":{"code":...,"message":...}}`,
/// passed on by the host verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &str, message: impl Into<String>) -> Refusal {
        Refusal { code: code.to_string(), message: message.into() }
    }

    /// Refuses a sign-in (or any decision) with `access_denied`.
    pub fn access_denied(message: impl Into<String>) -> Refusal {
        Refusal::new(ACCESS_DENIED, message)
    }

    /// Answers resolve_user with `unknown_user_id`.
    pub fn unknown_user(message: impl Into<String>) -> Refusal {
        Refusal::new(UNKNOWN_USER_ID, message)
    }

    /// Refuses an input the plugin cannot work with (`invalid_request`).
    pub fn invalid_request(message: impl Into<String>) -> Refusal {
        Refusal::new(INVALID_REQUEST, message)
    }

    /// Reports that the plugin could not decide (`server_error`).
    pub fn server_error(message: impl Into<String>) -> Refusal {
        Refusal::new(SERVER_ERROR, message)
    }

    /// Answers resolve_user with `invalid_user_code`.
    pub fn invalid_user_code(message: impl Into<String>) -> Refusal {
        Refusal::new(INVALID_USER_CODE, message)
    }

    /// Answers resolve_user with `missing_user_code`.
    pub fn missing_user_code(message: impl Into<String>) -> Refusal {
        Refusal::new(MISSING_USER_CODE, message)
    }
}

/// What a hook handler returns: the result value, or a refusal.
pub type HookResult = Result<Value, Refusal>;

/// A hook handler.
pub type Handler = fn(&Request) -> HookResult;

/// Runs `handler` on a request document and returns the response document,
/// exactly as a hook export answers the host. Native tests call it directly.
pub fn respond(hook: &str, request: &[u8], handler: Handler) -> String {
    let env = match parse(request) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return error_response(INVALID_REQUEST, "request is not a JSON object"),
        Err(e) => return error_response(INVALID_REQUEST, &format!("malformed request: {}", e)),
    };
    if let Some(abi) = env.get("abi") {
        if abi.as_f64() != Some(ABI_VERSION as f64) {
            return error_response(SERVER_ERROR, "request is not ABI version 1");
        }
    }
    let (mut config, mut input, mut name) = (Value::Object(Vec::new()), Value::Null, hook.to_string());
    if let Value::Object(members) = env {
        for (k, v) in members {
            match k.as_str() {
                "config" if !v.is_null() => config = v,
                "input" => input = v,
                "hook" => {
                    if let Value::String(s) = v {
                        name = s
                    }
                }
                _ => {}
            }
        }
    }
    if name != hook {
        return error_response(INVALID_REQUEST, &format!("request for hook {} reached the {} export", name, hook));
    }
    match handler(&Request { hook: name, config, input }) {
        Ok(result) => {
            let mut out = String::with_capacity(128);
            out.push_str("{\"result\":");
            result.write_json(&mut out);
            out.push('}');
            out
        }
        Err(r) => error_response(if r.code.is_empty() { SERVER_ERROR } else { &r.code }, &r.message),
    }
}

fn error_response(code: &str, message: &str) -> String {
    let mut out = String::with_capacity(64 + message.len());
    out.push_str("{\"error\":{\"code\":");
    json::write_string(code, &mut out);
    out.push_str(",\"message\":");
    json::write_string(message, &mut out);
    out.push_str("}}");
    out
}

/// Exports `gh_<name>` served by `handler` (a [`Handler`]):
/// `hook!(sign_in, my_sign_in);`.
#[macro_export]
macro_rules! hook {
    ($name:ident, $handler:path) => {
        const _: () = {
            #[export_name = concat!("gh_", stringify!($name))]
            pub unsafe extern "C" fn __gatehouse_hook(ptr: *mut u8, len: u32) -> u64 {
                $crate::serve(stringify!($name), ptr, len, $handler)
            }
        };
    };
}

/// The body of a hook export: reads the request the host wrote at `ptr`,
/// runs `handler`, and returns the response packed as `ptr << 32 | len`.
///
/// # Safety
/// `ptr`/`len` must be a buffer from `gh_alloc` that the host filled.
pub unsafe fn serve(hook: &str, ptr: *mut u8, len: u32, handler: Handler) -> u64 {
    let request = std::slice::from_raw_parts(ptr as *const u8, len as usize);
    into_guest(respond(hook, request, handler).into_bytes())
}

/// Hands a buffer to the host, which frees it with `gh_free(ptr, len)`.
fn into_guest(bytes: Vec<u8>) -> u64 {
    if bytes.is_empty() {
        return 0;
    }
    let len = bytes.len() as u64;
    // A boxed slice's allocation has exactly len bytes, align 1: what gh_free deallocates.
    let ptr = Box::into_raw(bytes.into_boxed_slice()) as *mut u8 as usize as u64;
    ptr << 32 | len
}

fn layout(size: u32) -> std::alloc::Layout {
    // Size at least 1: a zero-sized allocation has no address to give the host.
    std::alloc::Layout::from_size_align(size.max(1) as usize, 1).expect("layout of a u32 size")
}

#[no_mangle]
pub extern "C" fn gh_abi_version() -> i32 {
    ABI_VERSION
}

#[no_mangle]
pub extern "C" fn gh_alloc(size: u32) -> *mut u8 {
    let p = unsafe { std::alloc::alloc(layout(size)) };
    if p.is_null() {
        std::alloc::handle_alloc_error(layout(size));
    }
    p
}

/// # Safety
/// `ptr` must come from `gh_alloc(size)` or be a response of this SDK of `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn gh_free(ptr: *mut u8, size: u32) {
    if !ptr.is_null() {
        std::alloc::dealloc(ptr, layout(size));
    }
}

/// Log levels of the `log` host function.
#[derive(Clone, Copy, Debug)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "gatehouse")]
    extern "C" {
        pub fn log(level: i32, ptr: *const u8, len: u32);
        pub fn http_request(ptr: *const u8, len: u32) -> u64;
        pub fn kv_get(kptr: *const u8, klen: u32) -> u64;
        pub fn kv_put(kptr: *const u8, klen: u32, vptr: *const u8, vlen: u32) -> i32;
    }

    /// Takes ownership of a buffer the host filled through gh_alloc.
    pub unsafe fn take(packed: u64) -> Vec<u8> {
        let (ptr, len) = ((packed >> 32) as usize as *mut u8, packed as u32 as usize);
        // gh_alloc allocated max(len, 1) bytes with align 1.
        Vec::from_raw_parts(ptr, len, len.max(1))
    }
}

/// Writes one line to Gatehouse's log, tagged with the plugin's name (always granted).
#[cfg(target_arch = "wasm32")]
pub fn log(level: Level, message: &str) {
    unsafe { host::log(level as i32, message.as_ptr(), message.len() as u32) }
}

/// Sends an HTTP request through the host (needs
/// `plugins.settings.<name>.http_allow` in the server's configuration). `request` is `{"method","url","headers","body"}`; the
/// answer is `{"status","headers","body"}`, or `Err` with the host's reason
/// (`url not allowed`, `timeout`, ...).
#[cfg(target_arch = "wasm32")]
pub fn http_request(request: &Value) -> Result<Value, String> {
    let body = request.to_json();
    let packed = unsafe { host::http_request(body.as_ptr(), body.len() as u32) };
    if packed == 0 {
        return Err("http_request returned no response".to_string());
    }
    let bytes = unsafe { host::take(packed) };
    let resp = parse(&bytes).map_err(|e| format!("http_request response: {}", e))?;
    match resp.get("error") {
        Some(e) => Err(e.as_str().unwrap_or("http_request failed").to_string()),
        None => Ok(resp),
    }
}

/// The value stored under `key` in the plugin's namespace (needs `kv: true`), or `None`.
#[cfg(target_arch = "wasm32")]
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    let packed = unsafe { host::kv_get(key.as_ptr(), key.len() as u32) };
    if packed == 0 {
        None
    } else {
        Some(unsafe { host::take(packed) })
    }
}

/// Stores `value` under `key` in the plugin's namespace (needs `kv: true`);
/// `Err` carries the host's non-zero status.
#[cfg(target_arch = "wasm32")]
pub fn kv_put(key: &str, value: &[u8]) -> Result<(), i32> {
    match unsafe { host::kv_put(key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) } {
        0 => Ok(()),
        n => Err(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(req: &Request) -> HookResult {
        if req.input.get("deny").is_some() {
            return Err(Refusal::access_denied("no \"way\""));
        }
        Ok(Value::object([("config", req.config.clone())]))
    }

    #[test]
    fn responds() {
        let cases: [(&[u8], &str); 6] = [
            (br#"{"abi":1,"hook":"sign_in","config":{"a":1},"input":{}}"#, r#"{"result":{"config":{"a":1}}}"#),
            (br#"{"hook":"sign_in","input":{}}"#, r#"{"result":{"config":{}}}"#),
            (br#"{"abi":1,"hook":"sign_in","input":{"deny":true}}"#, r#"{"error":{"code":"access_denied","message":"no \"way\""}}"#),
            (br#"{"abi":2,"hook":"sign_in"}"#, r#"{"error":{"code":"server_error","message":"request is not ABI version 1"}}"#),
            (br#"{"abi":1,"hook":"notify"}"#, r#"{"error":{"code":"invalid_request","message":"request for hook notify reached the sign_in export"}}"#),
            (b"[]", r#"{"error":{"code":"invalid_request","message":"request is not a JSON object"}}"#),
        ];
        for (req, want) in cases {
            assert_eq!(respond("sign_in", req, echo), want);
        }
    }

    crate::json_struct! {
        struct Typed { name: String }
    }

    fn typed(req: &Request) -> HookResult {
        let input: Typed = req.decode_input()?;
        let config: Typed = req.decode_config()?;
        Ok(Value::from(input.name + &config.name))
    }

    #[test]
    fn decodes_input_and_config() {
        let cases: [(&[u8], &str); 4] = [
            (br#"{"abi":1,"hook":"sign_in","config":{"Name":"b"},"input":{"name":"a","other":1}}"#, r#"{"result":"ab"}"#),
            (br#"{"abi":1,"hook":"sign_in","input":{"name":1}}"#,
                r#"{"error":{"code":"invalid_request","message":"invalid input: field \"name\": expected string, got number"}}"#),
            (br#"{"abi":1,"hook":"sign_in","config":{"nmae":"b"},"input":{}}"#,
                r#"{"error":{"code":"server_error","message":"plugin config: unknown field \"nmae\""}}"#),
            (br#"{"abi":1,"hook":"sign_in","config":{"name":[]},"input":[]}"#,
                r#"{"error":{"code":"invalid_request","message":"invalid input: expected object, got array"}}"#),
        ];
        for (req, want) in cases {
            assert_eq!(respond("sign_in", req, typed), want);
        }
    }
}
