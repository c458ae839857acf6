//! resolver-rust: the Backstage-style sign_in resolver of ../go, in Rust
//! (sdk/rust): user:<namespace>/<preferred_username or email local part>,
//! owning one group:<group_namespace>/<name> per entry of the groups claim;
//! with required_group set, only its members sign in. Same config, same
//! answers, byte for byte.
//!
//! Build with Debian's rustc (rustup's has no wasm32 std):
//! `/usr/bin/rustc --edition 2021 --target wasm32-unknown-unknown -O -C panic=abort
//!  --crate-type cdylib -C link-arg=-zstack-size=65536 --extern gatehouse=libgatehouse.rlib resolver.rs`

use gatehouse::{hook, HookResult, Refusal, Request, Value};

fn config_str<'a>(req: &'a Request, key: &str, default: &'a str) -> &'a str {
    req.config.get(key).and_then(Value::as_str).unwrap_or(default)
}

/// A Backstage entity name: 1 to 63 of [a-z0-9._-], starting and ending
/// with a letter or digit.
fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return false;
    }
    b.iter().enumerate().all(|(i, &c)| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || ((c == b'.' || c == b'_' || c == b'-') && i != 0 && i != b.len() - 1)
    })
}

fn sign_in(req: &Request) -> HookResult {
    let namespace = config_str(req, "namespace", "default");
    let groups_claim = config_str(req, "groups_claim", "groups");
    let group_namespace = config_str(req, "group_namespace", "default");
    let required = config_str(req, "required_group", "").to_ascii_lowercase();

    let claims = req.input.get("claims");
    let claim = |k: &str| claims.and_then(|c| c.get(k)).and_then(Value::as_str);
    let name = match claim("preferred_username").filter(|s| !s.is_empty()) {
        Some(n) => n.to_string(),
        None => {
            let email = req
                .input
                .get("profile")
                .and_then(|p| p.get("email"))
                .and_then(Value::as_str)
                .filter(|e| !e.is_empty())
                .or_else(|| claim("email"))
                .unwrap_or("");
            match email.rfind('@') {
                Some(at) => email[..at].to_string(),
                None => String::new(),
            }
        }
    }
    .to_ascii_lowercase();
    if !valid_name(&name) {
        return Err(Refusal::access_denied("cannot derive a user name from the provider's answer"));
    }
    let user = format!("user:{}/{}", namespace, name);
    let mut ent = vec![user.clone()];
    let mut member = required.is_empty();
    let groups = claims.and_then(|c| c.get(groups_claim)).and_then(Value::as_array).unwrap_or(&[]);
    for g in groups {
        let g = match g.as_str() {
            Some(g) => g.to_ascii_lowercase(),
            None => continue,
        };
        if !valid_name(&g) {
            continue;
        }
        let r = format!("group:{}/{}", group_namespace, g);
        if !ent.contains(&r) {
            ent.push(r);
        }
        if g == required {
            member = true;
        }
    }
    if !member {
        return Err(Refusal::access_denied(format!(
            "not a member of group {}",
            config_str(req, "required_group", "")
        )));
    }
    let ent = ent.into_iter().map(Value::from).collect();
    Ok(Value::object([("sub", Value::from(user)), ("ent", Value::Array(ent))]))
}

hook!(sign_in, sign_in);
