//! signin-default is the first-party sign_in plugin: Backstage's stock
//! sign-in resolvers as one configurable plugin. Config (README.md next to
//! this file describes every key):
//!
//! ```text
//! resolver: usernameMatchingUserEntityName | emailMatchingUserEntityProfileEmail
//!         | emailLocalPartMatchingUserEntityName | emailMatchingUserEntityAnnotation
//!         | usernameMatchingUserEntityAnnotation | userIdMatchingUserEntityAnnotation
//!         | email_local_part | email | refuse        (required)
//! annotation: github.com/user-login                (the *Annotation resolvers' key)
//! email_verified: required | if_present            (default required)
//! namespace: default
//! catalog: {url, token}                            (look users up in a Backstage catalog)
//! users: [{email, ref, groups, annotations}]       (the static directory, without a catalog)
//! allowed_domains: [example.com]
//! providers: {<provider id>: {resolver, annotation, email_verified}}
//! ```
//!
//! The Backstage-named resolvers look the user up, in the catalog through
//! http_request (catalog.rs) or in the static users; not found and
//! ambiguous refuse. email_local_part (user:<namespace>/<local part>, no
//! lookup), email (the static users by email) and refuse are Gatehouse's
//! own. Every resolver matching by e-mail needs the upstream to have
//! verified the address. Built by plugins/core.mk into
//! plugins/bin/signin-default.wasm.

mod catalog;

use catalog::Catalog;
use gatehouse::decode::{Decoder, Path};
use gatehouse::text::{equal_fold, quote, to_lower};
use gatehouse::{hook, json_struct, Decode, HookResult, Map, Refusal, Request, Value};

/// Gatehouse's own resolvers.
const RESOLVER_EMAIL_LOCAL_PART: &str = "email_local_part";
const RESOLVER_EMAIL: &str = "email";
const RESOLVER_REFUSE: &str = "refuse";
/// Backstage's stock resolvers, by their Backstage names.
const USERNAME_NAME: &str = "usernameMatchingUserEntityName";
const EMAIL_PROFILE: &str = "emailMatchingUserEntityProfileEmail";
const EMAIL_LOCAL_NAME: &str = "emailLocalPartMatchingUserEntityName";
const EMAIL_ANNOTATION: &str = "emailMatchingUserEntityAnnotation";
const USERNAME_ANNOTATION: &str = "usernameMatchingUserEntityAnnotation";
const USERID_ANNOTATION: &str = "userIdMatchingUserEntityAnnotation";

const RESOLVERS: [&str; 9] = [
    USERNAME_NAME,
    EMAIL_PROFILE,
    EMAIL_LOCAL_NAME,
    EMAIL_ANNOTATION,
    USERNAME_ANNOTATION,
    USERID_ANNOTATION,
    RESOLVER_EMAIL_LOCAL_PART,
    RESOLVER_EMAIL,
    RESOLVER_REFUSE,
];

/// email_verified policies: what an absent email_verified claim means. A
/// claim that is present and not true always refuses.
const VERIFIED_REQUIRED: &str = "required";
const VERIFIED_IF_PRESENT: &str = "if_present";

json_struct! {
    /// A user of the static directory.
    struct User {
        email: String,
        reference: String = "ref",
        groups: Vec<String>,
        annotations: Map<String>,
    }
}

json_struct! {
    /// How one provider's people are resolved: the top level of the config,
    /// or a providers entry (whose empty fields inherit the top level's).
    #[derive(Clone)]
    struct Resolve {
        resolver: String,
        annotation: String,
        email_verified: String,
    }
}

json_struct! {
    /// The config as written (README.md next to this file).
    struct Settings {
        resolver: String,
        annotation: String,
        email_verified: String,
        namespace: Option<String>,
        users: Vec<User>,
        allowed_domains: Vec<String>,
        catalog: Option<Catalog>,
        providers: Map<Resolve>,
    }
}

/// The config, checked.
struct Config {
    top: Resolve,
    namespace: String,
    users: Vec<User>,
    allowed_domains: Vec<String>,
    catalog: Option<Catalog>,
    providers: Map<Resolve>,
}

impl Config {
    /// The resolution of provider: its providers entry over the top level.
    fn resolve_for(&self, provider: &str) -> Resolve {
        let mut r = self.top.clone();
        if let Some(p) = self.providers.get(provider) {
            for (dst, src) in [(&mut r.resolver, &p.resolver), (&mut r.annotation, &p.annotation), (&mut r.email_verified, &p.email_verified)] {
                if !src.is_empty() {
                    *dst = src.clone();
                }
            }
        }
        if r.email_verified.is_empty() {
            r.email_verified = VERIFIED_REQUIRED.to_string();
        }
        r
    }
}

json_struct! {
    struct Profile {
        email: String,
        display_name: String = "displayName",
        picture: String,
    }
}

json_struct! {
    /// The sign_in input fields this plugin reads (sdk/ABI.md §6).
    struct Input {
        provider: String,
        env: String,
        profile: Profile,
        claims: Claims,
    }
}

/// The upstream claims the resolvers read, when the claims are an object
/// (Null otherwise): only those, not a copy of them all.
#[derive(Default)]
struct Claims(Value);

/// The upstream claims the resolvers read.
const CLAIMS: [&str; 6] = ["login", "username", "preferred_username", "sub", "id", "email_verified"];

impl Decode for Claims {
    /// Any JSON value; only an object has claims to read.
    fn decode(&mut self, v: &Value, _: Path, _: &mut Decoder) {
        self.0 = match v {
            Value::Object(_) => Value::object(CLAIMS.iter().filter_map(|&k| v.get(k).map(|c| (k, c.clone()))).collect::<Vec<_>>()),
            _ => Value::Null,
        };
    }
}

impl Input {
    /// The first of the claims that is a non-empty string.
    fn claim(&self, names: &[&str]) -> Option<String> {
        names.iter().filter_map(|n| self.claims.0.get(n).and_then(Value::as_str)).map(str::trim).find(|s| !s.is_empty()).map(String::from)
    }

    /// The upstream's user name: GitHub's login, GitLab's username, OIDC's
    /// preferred_username.
    fn username(&self) -> Option<String> {
        self.claim(&["login", "username", "preferred_username"])
    }

    /// The upstream's user id: OIDC's sub, else GitHub's and GitLab's id
    /// (a number there).
    fn user_id(&self) -> Option<String> {
        if let Some(s) = self.claim(&["sub"]) {
            return Some(s);
        }
        match self.claims.0.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(format!("{}", *n as i64)),
            _ => None,
        }
    }

    /// The email_verified claim: Some(true) only for true (or the string
    /// "true", as some upstreams send it), Some(false) for any other value,
    /// None when absent or null.
    fn email_verified(&self) -> Option<bool> {
        match self.claims.0.get("email_verified") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
            Some(_) => Some(false),
        }
    }
}

pub fn sign_in(req: &Request) -> HookResult {
    let input: Input = req.decode_input()?;
    let cfg = config(req)?;
    let how = cfg.resolve_for(&input.provider);
    let resolver = how.resolver.as_str();
    if resolver == RESOLVER_REFUSE {
        return Err(Refusal::access_denied("sign-in is refused by configuration"));
    }
    let by_email = matches!(resolver, RESOLVER_EMAIL_LOCAL_PART | RESOLVER_EMAIL | EMAIL_PROFILE | EMAIL_LOCAL_NAME | EMAIL_ANNOTATION);
    let email = input.profile.email.trim();
    let mut local = "";
    if by_email || !cfg.allowed_domains.is_empty() {
        if email.is_empty() {
            return Err(Refusal::access_denied("sign-in requires an email address"));
        }
        let at = match email.rfind('@') {
            Some(at) if at > 0 && at != email.len() - 1 => at,
            _ => return Err(Refusal::access_denied(format!("email {} is not a valid address", quote(email)))),
        };
        let domain = to_lower(&email[at + 1..]);
        local = &email[..at];
        if !cfg.allowed_domains.is_empty() && !cfg.allowed_domains.iter().any(|d| equal_fold(d, &domain)) {
            return Err(Refusal::access_denied(format!("email domain {} is not allowed", domain)));
        }
        // An address the upstream has not verified proves nothing about
        // who signed in: it may not match a user, nor pass the domain check.
        match input.email_verified() {
            Some(true) => {}
            Some(false) => return Err(Refusal::access_denied(format!("email {} is not verified by the sign-in provider", quote(email)))),
            None if how.email_verified == VERIFIED_IF_PRESENT => {}
            None => {
                return Err(Refusal::access_denied(format!(
                    "the sign-in provider did not say that email {} is verified (email_verified)",
                    quote(email)
                )))
            }
        }
    }

    match resolver {
        RESOLVER_EMAIL_LOCAL_PART => {
            let name = local_part_name(local)?;
            let reference = format!("user:{}/{}", cfg.namespace, name);
            Ok(result(reference.clone(), vec![reference]))
        }
        RESOLVER_EMAIL => match cfg.users.iter().find(|u| equal_fold(&u.email, email)) {
            Some(u) => Ok(static_result(u)),
            None => Err(Refusal::access_denied("user not found")),
        },
        USERNAME_NAME => {
            let username = input.username().ok_or_else(|| {
                Refusal::access_denied("sign-in requires a user name from the sign-in provider (login, username or preferred_username)")
            })?;
            let name = to_lower(&username);
            if !valid_entity_name(&name) {
                return Err(Refusal::access_denied(format!("user name {} is not a valid user entity name", quote(&username))));
            }
            by_name(&cfg, &name)
        }
        EMAIL_LOCAL_NAME => {
            let name = local_part_name(local)?;
            by_name(&cfg, &name)
        }
        EMAIL_PROFILE => lookup(&cfg, "spec.profile.email", email, |u| equal_fold(&u.email, email)),
        _ => {
            // The annotation resolvers: config admits nothing else.
            let value = match resolver {
                EMAIL_ANNOTATION => Some(email.to_string()),
                USERNAME_ANNOTATION => input.username(),
                _ => input.user_id(),
            };
            let value = value.ok_or_else(|| {
                Refusal::access_denied(format!("the sign-in provider sent no value to match annotation {}", how.annotation))
            })?;
            let key = format!("metadata.annotations.{}", how.annotation);
            lookup(&cfg, &key, &value, |u| u.annotations.0.iter().any(|(k, v)| k == &how.annotation && equal_fold(v, &value)))
        }
    }
}

/// The user entity name of an email's local part (lower case).
fn local_part_name(local: &str) -> Result<String, Refusal> {
    let name = to_lower(local);
    if !valid_entity_name(&name) {
        return Err(Refusal::access_denied(format!("email local part {} is not a valid user entity name", quote(local))));
    }
    Ok(name)
}

/// Looks up user:<namespace>/<name>.
fn by_name(cfg: &Config, name: &str) -> HookResult {
    if let Some(cat) = &cfg.catalog {
        let id = catalog::find_user(cat, Some(&cfg.namespace), "metadata.name", name)?;
        return Ok(result(id.sub, id.ent));
    }
    let reference = format!("user:{}/{}", cfg.namespace, name);
    lookup(cfg, "metadata.name", name, |u| equal_fold(&u.reference, &reference))
}

/// Finds the one user whose key equals value: in the catalog when there is
/// one, else the one static user that matches.
fn lookup<F: Fn(&User) -> bool>(cfg: &Config, key: &str, value: &str, matches: F) -> HookResult {
    if let Some(cat) = &cfg.catalog {
        let id = catalog::find_user(cat, None, key, value)?;
        return Ok(result(id.sub, id.ent));
    }
    let mut found = cfg.users.iter().filter(|u| matches(u));
    match (found.next(), found.next()) {
        (Some(u), None) => Ok(static_result(u)),
        (None, _) => Err(catalog::not_found(key, value)),
        _ => Err(catalog::ambiguous(key, value)),
    }
}

fn static_result(u: &User) -> Value {
    let mut ent = Vec::with_capacity(1 + u.groups.len());
    ent.push(u.reference.clone());
    ent.extend(u.groups.iter().cloned());
    result(u.reference.clone(), ent)
}

fn result(sub: String, ent: Vec<String>) -> Value {
    Value::object([("sub", Value::from(sub)), ("ent", Value::from(ent))])
}

hook!(sign_in, sign_in);

/// Decodes and checks the config block, reporting every problem at once. A
/// config error is a server_error: the call fails closed.
fn config(req: &Request) -> Result<Config, Refusal> {
    let s: Settings = req.decode_config()?;
    let mut cfg = Config {
        top: Resolve { resolver: s.resolver, annotation: s.annotation, email_verified: s.email_verified },
        namespace: s.namespace.unwrap_or_else(|| "default".to_string()),
        users: s.users,
        allowed_domains: s.allowed_domains,
        catalog: s.catalog,
        providers: s.providers,
    };
    let mut errs = Vec::new();
    if cfg.top.resolver.is_empty() {
        errs.push(format!("resolver is required ({})", RESOLVERS.join(", ")));
    }
    check_resolve(&cfg, &cfg.top, "", &mut errs);
    for (id, r) in &cfg.providers.0 {
        check_resolve(&cfg, r, &format!("providers.{}.", id), &mut errs);
    }
    if !valid_entity_name(&cfg.namespace) {
        errs.push(format!("namespace {} is not a valid entity namespace", quote(&cfg.namespace)));
    }
    if let Some(cat) = &mut cfg.catalog {
        while cat.url.ends_with('/') {
            cat.url.pop();
        }
        if !valid_base_url(&cat.url) {
            errs.push(format!("catalog.url {} is not an http(s) URL such as https://backstage.example.com/api/catalog", quote(&cat.url)));
        }
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
    if !errs.is_empty() {
        return Err(Refusal::server_error(format!("plugin config: {}", errs.join("\n"))));
    }
    Ok(cfg)
}

/// Checks one resolution; prefix names where it is (`providers.github.`).
fn check_resolve(cfg: &Config, r: &Resolve, prefix: &str, errs: &mut Vec<String>) {
    let resolver = r.resolver.as_str();
    if !resolver.is_empty() && !RESOLVERS.contains(&resolver) {
        errs.push(format!("{}resolver {} is not one of {}", prefix, quote(resolver), RESOLVERS.join(", ")));
    }
    if !matches!(r.email_verified.as_str(), "" | VERIFIED_REQUIRED | VERIFIED_IF_PRESENT) {
        errs.push(format!(
            "{}email_verified {} is not one of {}, {}",
            prefix,
            quote(&r.email_verified),
            VERIFIED_REQUIRED,
            VERIFIED_IF_PRESENT
        ));
    }
    if !r.annotation.is_empty() && !valid_annotation(&r.annotation) {
        errs.push(format!("{}annotation {} is not an annotation key such as github.com/user-login", prefix, quote(&r.annotation)));
    }
    // The resolution as it will run: a providers entry inherits the rest.
    let annotation = if r.annotation.is_empty() { &cfg.top.annotation } else { &r.annotation };
    match resolver {
        EMAIL_ANNOTATION | USERNAME_ANNOTATION | USERID_ANNOTATION if annotation.is_empty() => {
            errs.push(format!("{}resolver {} needs annotation (such as github.com/user-login)", prefix, resolver))
        }
        RESOLVER_EMAIL if cfg.users.is_empty() => errs.push("the email resolver needs users".to_string()),
        USERNAME_NAME | EMAIL_PROFILE | EMAIL_LOCAL_NAME | EMAIL_ANNOTATION | USERNAME_ANNOTATION | USERID_ANNOTATION
            if cfg.catalog.is_none() && cfg.users.is_empty() =>
        {
            errs.push(format!("{}resolver {} needs a catalog or users to look the user up in", prefix, resolver))
        }
        _ => {}
    }
}

/// An annotation key as Backstage writes them, `[prefix/]name`, and
/// nothing that would change the meaning of a catalog filter (`,` `=`).
fn valid_annotation(key: &str) -> bool {
    key.len() <= 253 && !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// An absolute http(s) URL with a host, no user info, query or fragment.
fn valid_base_url(url: &str) -> bool {
    let rest = match url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) {
        Some(r) => r,
        None => return false,
    };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty() && !url.contains(|c: char| matches!(c, '?' | '#' | '@') || c.is_whitespace() || c.is_control())
}

/// Whether reference is a full entity ref kind:namespace/name.
pub(crate) fn valid_ref(reference: &str) -> bool {
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
pub(crate) fn valid_entity_name(s: &str) -> bool {
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
