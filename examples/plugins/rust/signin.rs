//! signin-example-rust: the shared example sign_in policy written with the
//! Rust SDK (sdk/rust). Config `{"allowed_domains": ["example.com"], "group":
//! "group:default/staff"}`: an email whose domain (after the last '@',
//! compared case-insensitively) is allowed signs in as
//! `user:default/<local part lowercased>`, owning that user and the group;
//! anything else is refused with access_denied.
//!
//! Built by examples/plugins/examples.mk with Debian's rustc:
//! `/usr/bin/rustc --target wasm32-unknown-unknown --crate-type cdylib -O
//!  -C link-arg=-zstack-size=65536 --extern gatehouse=libgatehouse.rlib signin.rs`

use gatehouse::{hook, HookResult, Refusal, Request, Value};

fn sign_in(req: &Request) -> HookResult {
    let email = match req.input.get("profile").and_then(|p| p.get("email")).and_then(Value::as_str) {
        Some(e) if !e.is_empty() => e,
        _ => return Err(Refusal::access_denied("sign-in requires an email address")),
    };
    // ASCII lowercasing only: every example language must give byte-identical answers.
    let (local, domain) = match email.rfind('@') {
        Some(at) => (&email[..at], &email[at + 1..]),
        None => (email, ""),
    };
    let domain = domain.to_ascii_lowercase();
    let allowed = req
        .config
        .get("allowed_domains")
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .any(|d| d.as_str().map_or(false, |d| d.eq_ignore_ascii_case(&domain)));
    if !allowed {
        return Err(Refusal::access_denied(format!("email domain {} is not allowed", domain)));
    }
    let user = format!("user:default/{}", local.to_ascii_lowercase());
    let mut ent = vec![Value::from(user.as_str())];
    if let Some(group) = req.config.get("group").and_then(Value::as_str).filter(|g| !g.is_empty()) {
        ent.push(Value::from(group));
    }
    Ok(Value::object([("sub", Value::from(user)), ("ent", Value::Array(ent))]))
}

hook!(sign_in, sign_in);
