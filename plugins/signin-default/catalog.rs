//! The Backstage catalog lookup of the sign-in resolvers: one GET of the
//! catalog's entity query API (`GET {catalog}/entities/by-query`, as
//! Backstage's CatalogClient.queryEntities sends it) through the host's
//! http_request, and the found user entity turned into an identity the
//! way Backstage's getDefaultOwnershipEntityRefs does: the user's ref plus
//! the groups it is a member of.

use gatehouse::text::{quote, to_lower};
use gatehouse::{json_struct, Refusal, Value};

use crate::{valid_entity_name, valid_ref};

json_struct! {
    /// Where the catalog is and how to call it (config `catalog`).
    pub struct Catalog {
        /// The catalog's base URL, `https://backstage.example.com/api/catalog`,
        /// without a trailing slash.
        pub url: String,
        /// A Backstage service token (`backend.auth.externalAccess`, type
        /// static), sent as `Authorization: Bearer`; empty sends none.
        pub token: String,
    }
}

/// The members of an entity the lookup asks the catalog for: enough for
/// the ref and the ownership, and a bounded answer.
const FIELDS: &str = "kind,metadata.namespace,metadata.name,spec.memberOf,relations";

/// What a found user signs in as: `sub` and `ent`.
pub struct Identity {
    pub sub: String,
    pub ent: Vec<String>,
}

/// Finds the one user entity whose `key` (a catalog filter key such as
/// `spec.profile.email` or `metadata.annotations.github.com/user-login`)
/// equals `value`, in `namespace` when one is given. No entity, or more
/// than one, refuses the sign-in; a catalog that cannot answer fails it
/// closed (server_error).
pub fn find_user(cat: &Catalog, namespace: Option<&str>, key: &str, value: &str) -> Result<Identity, Refusal> {
    // The catalog splits a filter at commas: a value with one cannot be
    // asked for exactly, so it matches nobody.
    if value.contains(',') {
        return Err(not_found(key, value));
    }
    let mut filter = String::from("kind=user");
    if let Some(ns) = namespace {
        filter.push_str(",metadata.namespace=");
        filter.push_str(ns);
    }
    filter.push(',');
    filter.push_str(key);
    filter.push('=');
    filter.push_str(value);
    // Two are enough to tell one from many.
    let url = format!("{}/entities/by-query?filter={}&limit=2&fields={}", cat.url, escape(&filter), escape(FIELDS));
    let mut headers = vec![("Accept", Value::from("application/json"))];
    if !cat.token.is_empty() {
        headers.push(("Authorization", Value::from(format!("Bearer {}", cat.token))));
    }
    let req = Value::object([("method", Value::from("GET")), ("url", Value::from(url.clone())), ("headers", Value::object(headers))]);
    let resp = gatehouse::http_request(&req).map_err(|e| unavailable(&format!("{} ({})", e, url)))?;
    let status = resp.get("status").and_then(Value::as_f64).unwrap_or(0.0);
    if status == 401.0 || status == 403.0 {
        return Err(unavailable(&format!("the catalog refused the lookup with status {}: check catalog.token", status)));
    }
    if status != 200.0 {
        return Err(unavailable(&format!("the catalog answered status {} to {}", status, url)));
    }
    let body = resp.get("body").and_then(Value::as_str).unwrap_or("");
    let answer = gatehouse::parse(body.as_bytes()).map_err(|e| unavailable(&format!("the catalog's answer is not JSON: {}", e)))?;
    let items = match answer.get("items").and_then(Value::as_array) {
        Some(items) => items,
        None => return Err(unavailable("the catalog's answer has no items list")),
    };
    let total = answer.get("totalItems").and_then(Value::as_f64).unwrap_or(0.0);
    match items.len() {
        0 => Err(not_found(key, value)),
        1 if total <= 1.0 => identity(&items[0]),
        _ => Err(ambiguous(key, value)),
    }
}

/// A lookup that found nobody.
pub fn not_found(key: &str, value: &str) -> Refusal {
    Refusal::unknown_user(format!("user not found: no user entity has {} {}", key, quote(value)))
}

/// A lookup that found several users: signing in as any of them would be a guess.
pub fn ambiguous(key: &str, value: &str) -> Refusal {
    Refusal::access_denied(format!("more than one user entity has {} {}: sign-in refused", key, quote(value)))
}

fn unavailable(why: &str) -> Refusal {
    gatehouse::log(gatehouse::Level::Warn, &format!("catalog lookup failed: {}", why));
    Refusal::server_error(format!("the user catalog could not be asked: {}", why))
}

/// The identity of a user entity: `user:<namespace>/<name>`, and its groups
/// from the memberOf relations and spec.memberOf (refs relative to the
/// user's namespace, kind group by default), as Backstage's default
/// ownership resolution. Refs are lower case, as Backstage compares them.
fn identity(entity: &Value) -> Result<Identity, Refusal> {
    let meta = entity.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("");
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("default");
    let kind = entity.get("kind").and_then(Value::as_str).unwrap_or("user");
    if !kind.eq_ignore_ascii_case("user") || !valid_entity_name(name) || !valid_entity_name(namespace) {
        return Err(unavailable(&format!("the catalog answered an entity that is not a user ref: {}:{}/{}", quote(kind), quote(namespace), quote(name))));
    }
    let namespace = to_lower(namespace);
    let sub = format!("user:{}/{}", namespace, to_lower(name));
    let mut ent = vec![sub.clone()];
    let mut add = |r: String| {
        if valid_ref(&r) && !ent.contains(&r) {
            ent.push(r);
        }
    };
    if let Some(rels) = entity.get("relations").and_then(Value::as_array) {
        for rel in rels {
            if rel.get("type").and_then(Value::as_str) != Some("memberOf") {
                continue;
            }
            if let Some(target) = rel.get("targetRef").and_then(Value::as_str) {
                let target = to_lower(target);
                if target.starts_with("group:") {
                    add(target);
                }
            }
        }
    }
    if let Some(groups) = entity.get("spec").and_then(|s| s.get("memberOf")).and_then(Value::as_array) {
        for g in groups.iter().filter_map(Value::as_str) {
            if let Some(r) = group_ref(g, &namespace) {
                add(r);
            }
        }
    }
    Ok(Identity { sub, ent })
}

/// Backstage's parseEntityRef with default kind group and the user's
/// namespace: `group:ns/name`, `group:name`, `ns/name` or `name`; a ref
/// of another kind is not a group.
fn group_ref(r: &str, namespace: &str) -> Option<String> {
    let (kind, rest) = match r.split_once(':') {
        Some((k, rest)) => (to_lower(k), rest),
        None => ("group".to_string(), r),
    };
    if kind != "group" {
        return None;
    }
    let (ns, name) = match rest.split_once('/') {
        Some((ns, name)) => (to_lower(ns), name),
        None => (namespace.to_string(), rest),
    };
    Some(format!("group:{}/{}", ns, to_lower(name)))
}

/// Percent-encodes everything but RFC 3986's unreserved characters: the
/// catalog decodes the query parameter before it splits it at `,` and `=`.
fn escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}
