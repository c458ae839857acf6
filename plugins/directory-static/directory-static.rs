//! directory-static is the first-party resolve_user plugin: it resolves CIBA
//! hints (CIBA Core 1.0 §7.1 login_hint, id_token_hint) against a user list
//! in its config:
//!
//! ```text
//! users: [{sub, username, email, displayName, picture, user_code}]
//! ```
//!
//! A login_hint matches a user's sub, then email (case-insensitively), then
//! username. An id_token_hint arrives as the sub of a token the host has
//! already verified. Anything else answers unknown_user_id (CIBA Core 1.0 §13).
//! A user with a user_code configured must be asked with it (CIBA Core 1.0
//! §7.1, §13): a request without one answers missing_user_code, a code that
//! differs (compared in constant time) invalid_user_code, and the right one
//! is reported with "user_code_verified": true. For a user without a code
//! the answer does not report one verified, so the host refuses a request
//! that carries a code it cannot check. A profile lookup (purpose
//! "profile": consent, where nobody is asked to authorize anything) needs
//! no code.
//!
//! Its answers, refusal messages included, are exactly those of the Go
//! version it replaces (see ../shared/gostd.rs). Built by plugins/core.mk
//! into plugins/bin/directory-static.wasm.

#[path = "../shared/gostd.rs"]
mod gostd;

use std::collections::HashMap;

use gatehouse::{HookResult, Refusal, Request, Value};
use gostd::{constant_time_eq, equal_fold, quote, At, Decoder, ROOT};

/// Hint kinds of the resolve_user input (ABI v1).
const KIND_LOGIN_HINT: &str = "login_hint";
const KIND_ID_TOKEN_HINT: &str = "id_token_hint";
const KIND_LOGIN_HINT_TOKEN: &str = "login_hint_token";

/// CIBA Core 1.0 §13: the user_code is not the user's.
const INVALID_USER_CODE: &str = "invalid_user_code";
/// CIBA Core 1.0 §13: the user has a code and the request carries none.
const MISSING_USER_CODE: &str = "missing_user_code";
/// The purpose of a profile lookup (consent): no code is required then.
const PURPOSE_PROFILE: &str = "profile";

#[derive(Default)]
struct User {
    sub: String,
    username: String,
    email: String,
    display_name: String,
    picture: String,
    /// The secret the user gives the client to quote as user_code (CIBA
    /// Core §7.1), kept as the config gives it.
    user_code: String,
}

/// The resolve_user input, decoded (and type-checked) as the Go SDK's
/// resolveuser.Input is.
#[derive(Default)]
struct Input {
    kind: String,
    value: String,
    client_id: String,
    scope: String,
    user_code: String,
    /// "ciba", or "profile" when the host only wants a user's profile and
    /// nobody is asked to authorize anything ("" from older hosts).
    purpose: String,
}

pub fn resolve_user(req: &Request) -> HookResult {
    let input = decode_input(&req.input)?;
    let users = parse_config(&req.config).map_err(Refusal::server_error)?;
    let value = input.value.trim();
    let user = match input.kind.as_str() {
        KIND_LOGIN_HINT => {
            if value.is_empty() {
                return Err(Refusal::unknown_user("login_hint is empty"));
            }
            users
                .iter()
                .find(|u| u.sub == value)
                .or_else(|| users.iter().find(|u| !u.email.is_empty() && equal_fold(&u.email, value)))
                .or_else(|| users.iter().find(|u| !u.username.is_empty() && u.username == value))
        }
        KIND_ID_TOKEN_HINT => {
            if value.is_empty() {
                return Err(Refusal::unknown_user("id_token_hint carries no subject"));
            }
            users.iter().find(|u| u.sub == value)
        }
        KIND_LOGIN_HINT_TOKEN => return Err(Refusal::unknown_user("login_hint_token is not supported by directory-static")),
        other => return Err(Refusal::invalid_request(format!("unknown hint kind {}", quote(other)))),
    };
    let u = match user {
        Some(u) => u,
        None => return Err(Refusal::unknown_user(format!("no user matches the {}", input.kind))),
    };
    let mut code_verified = false;
    if !u.user_code.is_empty() && !(input.purpose == PURPOSE_PROFILE && input.user_code.is_empty()) {
        if input.user_code.is_empty() {
            return Err(Refusal::new(MISSING_USER_CODE, "the user has a user_code and the request carries none"));
        }
        if !constant_time_eq(input.user_code.as_bytes(), u.user_code.as_bytes()) {
            return Err(Refusal::new(INVALID_USER_CODE, "the user_code is not the user's"));
        }
        code_verified = true;
    }
    // The profile's empty fields are left out, as the Go SDK's omitempty does.
    let mut profile = Vec::with_capacity(3);
    for (k, v) in [("email", &u.email), ("displayName", &u.display_name), ("picture", &u.picture)] {
        if !v.is_empty() {
            profile.push((k, Value::from(v.as_str())));
        }
    }
    let mut result = vec![("sub", Value::from(u.sub.as_str())), ("profile", Value::object(profile))];
    if code_verified {
        // ABI v1's optional report that the code was compared and is right.
        result.push(("user_code_verified", Value::from(true)));
    }
    Ok(Value::object(result))
}

/// The gh_resolve_user export (sdk/ABI.md §4), answering as the Go SDK did.
///
/// # Safety
/// The host passes a buffer from gh_alloc that it filled with the request.
#[export_name = "gh_resolve_user"]
pub unsafe extern "C" fn gh_resolve_user(ptr: *const u8, len: u32) -> u64 {
    gostd::serve("resolve_user", ptr, len, resolve_user)
}

/// Decodes the input as the Go SDK does: a value of the wrong type answers
/// invalid_request before the handler runs.
fn decode_input(v: &Value) -> Result<Input, Refusal> {
    let mut d = Decoder::new(false);
    let mut input = Input::default();
    let fields = ["kind", "value", "client_id", "scope", "user_code", "purpose"];
    d.object(v, ROOT, "gatehouse.ResolveUserInput", &fields, |d, i, v| {
        let at = At { strukt: "ResolveUserInput", path: fields[i] };
        let dst = match i {
            0 => &mut input.kind,
            1 => &mut input.value,
            2 => &mut input.client_id,
            3 => &mut input.scope,
            4 => &mut input.user_code,
            _ => &mut input.purpose,
        };
        d.string(v, dst, at)
    });
    match d.error() {
        Some(e) => Err(Refusal::invalid_request(format!("resolve_user input: {}", e))),
        None => Ok(input),
    }
}

/// Decodes (strictly: an unknown key fails) and checks the user list,
/// reporting every problem at once; a config error fails the call closed
/// (server_error).
fn parse_config(raw: &Value) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    let mut d = Decoder::new(true);
    d.object(raw, ROOT, "main.config", &["users"], |d, _, v| {
        let at = At { strukt: "config", path: "users" };
        let fields = ["sub", "username", "email", "displayName", "picture", "user_code"];
        let paths = ["users.sub", "users.username", "users.email", "users.displayName", "users.picture", "users.user_code"];
        d.slice(v, &mut users, at, "[]main.user", |d, v, u: &mut User| {
            d.object(v, at, "main.user", &fields, |d, i, v| {
                let dst = match i {
                    0 => &mut u.sub,
                    1 => &mut u.username,
                    2 => &mut u.email,
                    3 => &mut u.display_name,
                    4 => &mut u.picture,
                    _ => &mut u.user_code,
                };
                d.string(v, dst, At { strukt: "user", path: paths[i] })
            })
        })
    });
    if let Some(e) = d.error() {
        return Err(format!("plugin config: {}", e));
    }
    let mut errs = Vec::new();
    let mut subs: HashMap<&str, usize> = HashMap::with_capacity(users.len());
    for (i, u) in users.iter().enumerate() {
        if u.sub.is_empty() {
            errs.push(format!("users[{}]: sub is required", i));
        } else if let Some(j) = subs.get(u.sub.as_str()) {
            errs.push(format!("users[{}]: sub {} is already users[{}]", i, quote(&u.sub), j));
        } else {
            subs.insert(&u.sub, i);
        }
    }
    if !errs.is_empty() {
        return Err(format!("plugin config: {}", gostd::join(&errs)));
    }
    Ok(users)
}
