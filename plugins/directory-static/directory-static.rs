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
//! Built by plugins/core.mk into plugins/bin/directory-static.wasm.

use std::collections::HashMap;

use gatehouse::resolve_user::{ID_TOKEN_HINT, LOGIN_HINT, LOGIN_HINT_TOKEN, PURPOSE_PROFILE};
use gatehouse::text::{constant_time_eq, equal_fold, quote};
use gatehouse::{hook, json_struct, HookResult, Refusal, Request, Value};

json_struct! {
    struct User {
        sub: String,
        username: String,
        email: String,
        display_name: String = "displayName",
        picture: String,
        /// The secret the user gives the client to quote as user_code (CIBA
        /// Core §7.1), kept as the config gives it.
        user_code: String,
    }
}

json_struct! {
    struct Config {
        users: Vec<User>,
    }
}

json_struct! {
    /// The resolve_user input (sdk/ABI.md §6).
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
}

pub fn resolve_user(req: &Request) -> HookResult {
    let input: Input = req.decode_input()?;
    let users = users(req)?;
    let value = input.value.trim();
    let user = match input.kind.as_str() {
        LOGIN_HINT => {
            if value.is_empty() {
                return Err(Refusal::unknown_user("login_hint is empty"));
            }
            users
                .iter()
                .find(|u| u.sub == value)
                .or_else(|| users.iter().find(|u| !u.email.is_empty() && equal_fold(&u.email, value)))
                .or_else(|| users.iter().find(|u| !u.username.is_empty() && u.username == value))
        }
        ID_TOKEN_HINT => {
            if value.is_empty() {
                return Err(Refusal::unknown_user("id_token_hint carries no subject"));
            }
            users.iter().find(|u| u.sub == value)
        }
        LOGIN_HINT_TOKEN => return Err(Refusal::unknown_user("login_hint_token is not supported by directory-static")),
        other => return Err(Refusal::invalid_request(format!("unknown hint kind {}", quote(other)))),
    };
    let u = match user {
        Some(u) => u,
        None => return Err(Refusal::unknown_user(format!("no user matches the {}", input.kind))),
    };
    let mut code_verified = false;
    if !u.user_code.is_empty() && !(input.purpose == PURPOSE_PROFILE && input.user_code.is_empty()) {
        if input.user_code.is_empty() {
            return Err(Refusal::missing_user_code("the user has a user_code and the request carries none"));
        }
        if !constant_time_eq(input.user_code.as_bytes(), u.user_code.as_bytes()) {
            return Err(Refusal::invalid_user_code("the user_code is not the user's"));
        }
        code_verified = true;
    }
    // The profile's empty fields are left out.
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

hook!(resolve_user, resolve_user);

/// Decodes and checks the user list, reporting every problem at once; a
/// config error fails the call closed (server_error).
fn users(req: &Request) -> Result<Vec<User>, Refusal> {
    let users = req.decode_config::<Config>()?.users;
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
        return Err(Refusal::server_error(format!("plugin config: {}", errs.join("\n"))));
    }
    Ok(users)
}
