//! signin-default is the first-party sign_in plugin: Backstage's stock
//! sign-in resolvers as one configurable plugin. Config:
//!
//! ```text
//! resolver: email_local_part | email | refuse   (required)
//! namespace: default                            (entity namespace for email_local_part)
//! users: [{email, ref, groups}]                 (the directory for the email resolver)
//! allowed_domains: [example.com]                (optional: refuse other email domains)
//! ```
//!
//! email_local_part is Backstage's emailLocalPartMatchingUserEntityName
//! (user:<namespace>/<local part>); email is emailMatchingUserEntityProfileEmail
//! against the users listed here; refuse turns sign-in off for a provider.
//!
//! Its answers, refusal messages included, are exactly those of the Go
//! version it replaces (see ../shared/gostd.rs). Built by plugins/core.mk
//! into plugins/bin/signin-default.wasm.

#[path = "../shared/gostd.rs"]
mod gostd;

use gatehouse::{HookResult, Refusal, Request, Value};
use gostd::{equal_fold, quote, to_lower, At, Decoder, ROOT};

/// Resolvers this plugin implements.
const RESOLVER_EMAIL_LOCAL_PART: &str = "email_local_part";
const RESOLVER_EMAIL: &str = "email";
const RESOLVER_REFUSE: &str = "refuse";

#[derive(Default)]
struct User {
    email: String,
    reference: String,
    groups: Vec<String>,
}

struct Config {
    resolver: String,
    namespace: String,
    users: Vec<User>,
    allowed_domains: Vec<String>,
}

/// The sign_in input fields this plugin reads (decoded, and type-checked,
/// as the Go SDK's signin.Input is).
#[derive(Default)]
struct Input {
    provider: String,
    env: String,
    email: String,
    display_name: String,
    picture: String,
}

pub fn sign_in(req: &Request) -> HookResult {
    let input = decode_input(&req.input)?;
    let cfg = parse_config(&req.config).map_err(Refusal::server_error)?;
    if cfg.resolver == RESOLVER_REFUSE {
        return Err(Refusal::access_denied("sign-in is refused by configuration"));
    }
    let email = input.email.trim();
    if email.is_empty() {
        return Err(Refusal::access_denied("sign-in requires an email address"));
    }
    let at = match email.rfind('@') {
        Some(at) if at > 0 && at != email.len() - 1 => at,
        _ => return Err(Refusal::access_denied(format!("email {} is not a valid address", quote(email)))),
    };
    let (local, domain) = (&email[..at], to_lower(&email[at + 1..]));
    if !cfg.allowed_domains.is_empty() && !cfg.allowed_domains.iter().any(|d| equal_fold(d, &domain)) {
        return Err(Refusal::access_denied(format!("email domain {} is not allowed", domain)));
    }

    if cfg.resolver == RESOLVER_EMAIL_LOCAL_PART {
        let name = to_lower(local);
        if !valid_entity_name(&name) {
            return Err(Refusal::access_denied(format!("email local part {} is not a valid user entity name", quote(local))));
        }
        let reference = format!("user:{}/{}", cfg.namespace, name);
        return Ok(result(reference.clone(), vec![reference]));
    }
    // The email resolver: parse_config admits nothing else.
    match cfg.users.iter().find(|u| equal_fold(&u.email, email)) {
        Some(u) => {
            let mut ent = Vec::with_capacity(1 + u.groups.len());
            ent.push(u.reference.clone());
            ent.extend(u.groups.iter().cloned());
            Ok(result(u.reference.clone(), ent))
        }
        None => Err(Refusal::access_denied("user not found")),
    }
}

fn result(sub: String, ent: Vec<String>) -> Value {
    Value::object([("sub", Value::from(sub)), ("ent", Value::from(ent))])
}

/// The gh_sign_in export (sdk/ABI.md §4), answering as the Go SDK did.
///
/// # Safety
/// The host passes a buffer from gh_alloc that it filled with the request.
#[export_name = "gh_sign_in"]
pub unsafe extern "C" fn gh_sign_in(ptr: *const u8, len: u32) -> u64 {
    gostd::serve("sign_in", ptr, len, sign_in)
}

/// Decodes the input as the Go SDK does: a value of the wrong type answers
/// invalid_request before the handler runs.
fn decode_input(v: &Value) -> Result<Input, Refusal> {
    let mut d = Decoder::new(false);
    let mut input = Input::default();
    d.object(v, ROOT, "gatehouse.SignInInput", &["provider", "env", "profile", "claims"], |d, i, v| match i {
        0 => d.string(v, &mut input.provider, At { strukt: "SignInInput", path: "provider" }),
        1 => d.string(v, &mut input.env, At { strukt: "SignInInput", path: "env" }),
        2 => d.object(
            v,
            At { strukt: "SignInInput", path: "profile" },
            "gatehouse.Profile",
            &["email", "displayName", "picture"],
            |d, i, v| match i {
                0 => d.string(v, &mut input.email, At { strukt: "Profile", path: "profile.email" }),
                1 => d.string(v, &mut input.display_name, At { strukt: "Profile", path: "profile.displayName" }),
                _ => d.string(v, &mut input.picture, At { strukt: "Profile", path: "profile.picture" }),
            },
        ),
        _ => {} // claims: any JSON value, kept raw and not read here
    });
    match d.error() {
        Some(e) => Err(Refusal::invalid_request(format!("sign_in input: {}", e))),
        None => Ok(input),
    }
}

/// Decodes and checks the config block strictly (an unknown key fails),
/// reporting every problem at once. A config error is a server_error: the
/// call fails closed.
fn parse_config(raw: &Value) -> Result<Config, String> {
    let mut cfg = Config { resolver: String::new(), namespace: "default".to_string(), users: Vec::new(), allowed_domains: Vec::new() };
    let mut d = Decoder::new(true);
    d.object(raw, ROOT, "main.config", &["resolver", "namespace", "users", "allowed_domains"], |d, i, v| match i {
        0 => d.string(v, &mut cfg.resolver, At { strukt: "config", path: "resolver" }),
        1 => d.string(v, &mut cfg.namespace, At { strukt: "config", path: "namespace" }),
        2 => {
            let at = At { strukt: "config", path: "users" };
            d.slice(v, &mut cfg.users, at, "[]main.user", |d, v, u: &mut User| {
                d.object(v, at, "main.user", &["email", "ref", "groups"], |d, i, v| match i {
                    0 => d.string(v, &mut u.email, At { strukt: "user", path: "users.email" }),
                    1 => d.string(v, &mut u.reference, At { strukt: "user", path: "users.ref" }),
                    _ => d.strings(v, &mut u.groups, At { strukt: "user", path: "users.groups" }),
                })
            })
        }
        _ => d.strings(v, &mut cfg.allowed_domains, At { strukt: "config", path: "allowed_domains" }),
    });
    if let Some(e) = d.error() {
        return Err(format!("plugin config: {}", e));
    }
    let mut errs = Vec::new();
    match cfg.resolver.as_str() {
        RESOLVER_EMAIL_LOCAL_PART | RESOLVER_EMAIL | RESOLVER_REFUSE => {}
        "" => errs.push("resolver is required (email_local_part, email or refuse)".to_string()),
        other => errs.push(format!("resolver {} is not one of email_local_part, email, refuse", quote(other))),
    }
    if !valid_entity_name(&cfg.namespace) {
        errs.push(format!("namespace {} is not a valid entity namespace", quote(&cfg.namespace)));
    }
    for (i, u) in cfg.users.iter().enumerate() {
        if u.email.is_empty() {
            errs.push(format!("users[{}]: email is required", i));
        }
        if !valid_ref(&u.reference) {
            errs.push(format!("users[{}]: ref {} is not an entity ref such as user:default/alice", i, quote(&u.reference)));
        }
        for (j, g) in u.groups.iter().enumerate() {
            if !valid_ref(g) {
                errs.push(format!("users[{}].groups[{}]: {} is not an entity ref such as group:default/staff", i, j, quote(g)));
            }
        }
    }
    if cfg.resolver == RESOLVER_EMAIL && cfg.users.is_empty() {
        errs.push("the email resolver needs users".to_string());
    }
    if !errs.is_empty() {
        return Err(format!("plugin config: {}", gostd::join(&errs)));
    }
    Ok(cfg)
}

/// Whether reference is a full entity ref kind:namespace/name.
fn valid_ref(reference: &str) -> bool {
    let (kind, rest) = match reference.split_once(':') {
        Some(p) => p,
        None => return false,
    };
    if !valid_entity_name(kind) {
        return false;
    }
    match rest.split_once('/') {
        Some((ns, name)) => valid_entity_name(ns) && valid_entity_name(name),
        None => false,
    }
}

/// Backstage's rule for entity names and namespaces: 1–63 characters,
/// [a-zA-Z0-9] runs separated by one of - _ .
fn valid_entity_name(s: &str) -> bool {
    if s.is_empty() || s.len() > 63 {
        return false;
    }
    let mut prev_sep = true; // a name may not start with a separator
    for c in s.bytes() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => prev_sep = false,
            b'-' | b'_' | b'.' => {
                if prev_sep {
                    return false;
                }
                prev_sep = true;
            }
            _ => return false,
        }
    }
    !prev_sep
}
