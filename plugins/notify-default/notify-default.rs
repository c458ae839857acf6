//! notify-default is the first-party notify plugin. For every event it
//! returns a log delivery naming the user, the client, the binding message
//! and the approval URL, so an operator (or a developer running locally) can
//! approve a CIBA request (CIBA Core 1.0 §7.1: the authentication device is
//! told out of band). With config {"webhook_url": "https://..."} it also
//! returns a webhook delivery whose body is the event; the core sends it
//! (with retries) and its URL must be in the core's delivery allow-list.
//! With config {"email": true} it also returns an email delivery to the
//! user's profile address (none when the profile has no address): the core
//! renders the approval e-mail from its templates and sends it over SMTP
//! (ciba.delivery.smtp), with retries; {"email_subject": "..."} replaces
//! the core's subject. {"email_language": "de"} names the e-mail's
//! language and {"email_languages": {"<sub>": "fr"}} one user's, which
//! wins; the core matches it against its catalogues like an
//! Accept-Language range (unknown or absent: ui.default_language).
//!
//! The webhook body is the event as this plugin reads it, written back.
//! Built by plugins/core.mk into plugins/bin/notify-default.wasm.

use gatehouse::decode::{Decoder, Map, Path};
use gatehouse::text::quote;
use gatehouse::{hook, json_struct, Decode, HookResult, Refusal, Request, Value};

json_struct! {
    struct Profile {
        email: String,
        display_name: String = "displayName",
        picture: String,
    }
}

json_struct! {
    struct User {
        sub: String,
        profile: Profile,
    }
}

json_struct! {
    struct Client {
        id: String,
        name: String,
    }
}

json_struct! {
    /// The notify input (sdk/ABI.md §6).
    struct Input {
        event: String,
        user: User,
        client: Client,
        binding_message: String,
        scope: String,
        approval_url: String,
        expires_at: Timestamp,
    }
}

pub fn notify(req: &Request) -> HookResult {
    let input: Input = req.decode_input()?;
    let config = config(req)?;
    let mut deliveries = vec![Value::object([("type", Value::from("log")), ("message", Value::from(message(&input)))])];
    if !config.webhook_url.is_empty() {
        deliveries.push(Value::object([("type", Value::from("webhook")), ("url", Value::from(config.webhook_url)), ("body", body(&input))]));
    }
    if config.email && !input.user.profile.email.is_empty() {
        let mut email = vec![("type", Value::from("email")), ("to", Value::from(input.user.profile.email.as_str()))];
        if !config.email_subject.is_empty() {
            email.push(("subject", Value::from(config.email_subject.as_str())));
        }
        let language = config.email_languages.get(&input.user.sub).filter(|l| !l.is_empty()).unwrap_or(&config.email_language);
        if !language.is_empty() {
            email.push(("language", Value::from(language.as_str())));
        }
        deliveries.push(Value::object(email));
    }
    Ok(Value::object([("deliveries", Value::Array(deliveries))]))
}

hook!(notify, notify);

json_struct! {
    struct Config {
        webhook_url: String,
        email: bool,
        email_subject: String,
        email_language: String,
        email_languages: Map<String>,
    }
}

/// Decodes and checks the config block: a config error fails the call
/// closed (server_error).
fn config(req: &Request) -> Result<Config, Refusal> {
    let c: Config = req.decode_config()?;
    if !c.webhook_url.is_empty() {
        check_webhook_url(&c.webhook_url).map_err(Refusal::server_error)?;
    }
    Ok(c)
}

/// One log line. Every value that a client or user controls is quoted, so a
/// binding message cannot forge extra log lines.
fn message(input: &Input) -> String {
    let mut b = String::with_capacity(256);
    b.push_str(if input.event.is_empty() { "notification" } else { &input.event });
    b.push_str(": user ");
    b.push_str(&quote(&input.user.sub));
    if !input.user.profile.email.is_empty() {
        b.push_str(" <");
        b.push_str(&quote(&input.user.profile.email));
        b.push('>');
    }
    b.push_str(", client ");
    b.push_str(&quote(&input.client.id));
    if !input.client.name.is_empty() {
        b.push_str(" (");
        b.push_str(&quote(&input.client.name));
        b.push(')');
    }
    for (label, v) in [(", binding message ", &input.binding_message), (", scope ", &input.scope), (", approve at ", &input.approval_url)] {
        if !v.is_empty() {
            b.push_str(label);
            b.push_str(&quote(v));
        }
    }
    if !input.expires_at.is_zero() {
        b.push_str(", expires ");
        b.push_str(&input.expires_at.rfc3339());
    }
    b
}

/// The event written back: known fields only, empty optional ones left
/// out, expires_at in the form it arrived in (null when absent).
fn body(input: &Input) -> Value {
    let mut profile = Vec::with_capacity(3);
    for (k, v) in [("email", &input.user.profile.email), ("displayName", &input.user.profile.display_name), ("picture", &input.user.profile.picture)] {
        if !v.is_empty() {
            profile.push((k, Value::from(v.as_str())));
        }
    }
    let mut client = vec![("id", Value::from(input.client.id.as_str()))];
    if !input.client.name.is_empty() {
        client.push(("name", Value::from(input.client.name.as_str())));
    }
    let mut out = vec![
        ("event", Value::from(input.event.as_str())),
        ("user", Value::object([("sub", Value::from(input.user.sub.as_str())), ("profile", Value::object(profile))])),
        ("client", Value::object(client)),
    ];
    for (k, v) in [("binding_message", &input.binding_message), ("scope", &input.scope), ("approval_url", &input.approval_url)] {
        if !v.is_empty() {
            out.push((k, Value::from(v.as_str())));
        }
    }
    out.push(("expires_at", input.expires_at.to_value()));
    Value::object(out)
}

/// The Unix time of 0001-01-01T00:00:00Z, the zero time: the time of an
/// absent expires_at, which the webhook body gives back as null.
const ZERO_UNIX: i64 = -62_135_596_800;

/// An instant that reads either Unix seconds (a JSON number) or an RFC 3339
/// string and writes back the form it read.
#[derive(Clone, Copy)]
struct Timestamp {
    unix: i64,
    nanos: u32,
    rfc3339: bool,
}

impl Default for Timestamp {
    fn default() -> Timestamp {
        Timestamp { unix: ZERO_UNIX, nanos: 0, rfc3339: false }
    }
}

impl Decode for Timestamp {
    fn decode(&mut self, v: &Value, at: Path, d: &mut Decoder) {
        match v {
            Value::Null => *self = Timestamp::default(),
            Value::String(s) => match parse_rfc3339(s) {
                Ok((unix, nanos)) => *self = Timestamp { unix, nanos, rfc3339: true },
                Err(why) => d.error(at, format_args!("{} is not an RFC 3339 time: {}", quote(s), why)),
            },
            // Whole seconds only (numbers arrive as f64: exact up to 2^53).
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.223_372_036_854_775e18 => {
                *self = Timestamp { unix: *n as i64, nanos: 0, rfc3339: false }
            }
            Value::Number(n) => d.error(at, format_args!("expected whole Unix seconds, got {}", n)),
            other => d.expected(at, "Unix seconds or an RFC 3339 string", other),
        }
    }
}

impl Timestamp {
    fn is_zero(&self) -> bool {
        self.unix == ZERO_UNIX && self.nanos == 0
    }

    fn to_value(&self) -> Value {
        if self.is_zero() {
            Value::Null
        } else if self.rfc3339 {
            Value::from(self.rfc3339())
        } else {
            Value::Number(self.unix as f64)
        }
    }

    /// RFC 3339 in UTC (whole seconds).
    fn rfc3339(&self) -> String {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let year = if y < 0 { format!("-{:04}", -y) } else { format!("{:04}", y) };
        format!("{}-{:02}-{:02}T{:02}:{:02}:{:02}Z", year, m, d, secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// What an RFC 3339 time that does not parse is told.
const RFC3339_FORM: &str = "not of the form 2006-01-02T15:04:05Z or 2006-01-02T15:04:05.999+07:00";

/// Parses an RFC 3339 date-time (RFC 3339 §5.6; the hour may have one
/// digit, the fraction follow a comma and have any number of digits, of
/// which nine count): the Unix seconds and nanoseconds of the instant, or
/// what is wrong with it.
fn parse_rfc3339(value: &str) -> Result<(i64, u32), &'static str> {
    let digit = |s: &str, i: usize| s.as_bytes().get(i).map_or(false, u8::is_ascii_digit);
    // One or two digits (exactly two when fixed).
    let getnum = |s: &str, fixed: bool| -> Option<(i64, usize)> {
        if !digit(s, 0) {
            return None;
        }
        let b = s.as_bytes();
        if !digit(s, 1) {
            return if fixed { None } else { Some(((b[0] - b'0') as i64, 1)) };
        }
        Some((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, 2))
    };
    let mut v = value;
    let lit = |v: &mut &str, c: char| -> Result<(), &'static str> {
        if v.starts_with(c) {
            *v = &v[1..];
            Ok(())
        } else {
            Err(RFC3339_FORM)
        }
    };

    // 2006: four digits.
    if v.len() < 4 || !v.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return Err(RFC3339_FORM);
    }
    let year: i64 = v[..4].parse().unwrap_or(0);
    v = &v[4..];
    lit(&mut v, '-')?;
    let (month, n) = getnum(v, true).ok_or(RFC3339_FORM)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    v = &v[n..];
    lit(&mut v, '-')?;
    let (day, n) = getnum(v, true).ok_or(RFC3339_FORM)?;
    v = &v[n..];
    lit(&mut v, 'T')?;
    let (hour, n) = getnum(v, false).ok_or(RFC3339_FORM)?;
    if hour >= 24 {
        return Err("hour out of range");
    }
    v = &v[n..];
    lit(&mut v, ':')?;
    let (min, n) = getnum(v, true).ok_or(RFC3339_FORM)?;
    if min >= 60 {
        return Err("minute out of range");
    }
    v = &v[n..];
    lit(&mut v, ':')?;
    let (sec, n) = getnum(v, true).ok_or(RFC3339_FORM)?;
    if sec >= 60 {
        return Err("second out of range");
    }
    v = &v[n..];
    // A fractional second: up to nine digits count.
    let mut nanos = 0u32;
    if v.len() >= 2 && (v.starts_with('.') || v.starts_with(',')) && digit(v, 1) {
        let n = 1 + v[1..].bytes().take_while(u8::is_ascii_digit).count();
        let frac = &v[1..n.min(10)];
        nanos = frac.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - frac.len() as u32);
        v = &v[n..];
    }
    // Z07:00
    let offset = if let Some(rest) = v.strip_prefix('Z') {
        v = rest;
        0
    } else {
        let b = v.as_bytes();
        if b.len() < 6 || b[3] != b':' || !v.is_char_boundary(6) {
            return Err(RFC3339_FORM);
        }
        let (hh, mm) = match (getnum(&v[1..3], true), getnum(&v[4..6], true)) {
            (Some((h, _)), Some((m, _))) => (h, m),
            _ => return Err(RFC3339_FORM),
        };
        if mm > 60 {
            return Err("time zone offset minute out of range");
        }
        if hh > 24 {
            return Err("time zone offset hour out of range");
        }
        let off = (hh * 60 + mm) * 60;
        let off = match b[0] {
            b'+' => off,
            b'-' => -off,
            _ => return Err(RFC3339_FORM),
        };
        v = &v[6..];
        off
    };
    if !v.is_empty() {
        return Err(RFC3339_FORM);
    }
    if day < 1 || day > days_in(month, year) {
        return Err("day out of range");
    }
    let unix = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    Ok((unix, nanos))
}

/// Refuses a webhook_url that is not an absolute http(s) URL: a config
/// mistake fails the call closed (server_error) instead of producing
/// deliveries the core cannot send. The URL is parsed by the rules of the
/// core's own parser (Go's net/url.Parse), so that both accept the same URLs.
fn check_webhook_url(raw: &str) -> Result<(), String> {
    let (scheme, host) = parse_url(raw).map_err(|e| format!("plugin config: webhook_url {} does not parse: {}", quote(raw), e))?;
    if (scheme != "https" && scheme != "http") || host.is_empty() {
        return Err(format!("plugin config: webhook_url {} is not an absolute http(s) URL", quote(raw)));
    }
    Ok(())
}

/// net/url.Parse, reduced to what it refuses and the two parts checked
/// here: the (lower-cased) scheme and the host.
fn parse_url(raw: &str) -> Result<(String, String), String> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let (scheme, host) = parse_url_part(u)?;
    if !frag.is_empty() {
        unescape(frag, Mode::Other)?;
    }
    Ok((scheme, host))
}

#[derive(PartialEq, Clone, Copy)]
enum Mode {
    Host,
    Zone,
    Other,
}

fn parse_url_part(raw: &str) -> Result<(String, String), String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("invalid control character".to_string());
    }
    if raw == "*" {
        return Ok((String::new(), String::new()));
    }
    // getScheme
    let mut scheme = "";
    let mut rest = raw;
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_string()),
            b':' => {
                scheme = &raw[..i];
                rest = &raw[i + 1..];
                break;
            }
            _ => break,
        }
    }
    let scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else {
        rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    }
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            return Ok((scheme, String::new())); // opaque
        }
        if rest.split('/').next().unwrap_or("").contains(':') {
            return Err("first path segment in URL cannot contain colon".to_string());
        }
    }
    let mut host = String::new();
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = &rest[2..];
        let (authority, path) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        host = parse_authority(&scheme, authority)?;
        rest = path;
    }
    unescape(rest, Mode::Other)?;
    Ok((scheme, host))
}

fn parse_authority(scheme: &str, authority: &str) -> Result<String, String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(scheme, host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo.chars().all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("invalid user info".to_string());
        }
        for part in userinfo.splitn(2, ':') {
            unescape(part, Mode::Other)?;
        }
    }
    Ok(host)
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
}

fn parse_host(scheme: &str, host: &str) -> Result<String, String> {
    match host.rfind('[') {
        Some(i) if i > 0 => return Err("invalid IP-literal".to_string()),
        Some(_) => {
            // An IP-literal (RFC 3986, RFC 6874): [fe80::1%25en0]:80.
            let close = host.rfind(']').ok_or_else(|| "missing ']' in host".to_string())?;
            let colon_port = &host[close + 1..];
            if !valid_optional_port(colon_port) {
                return Err(format!("invalid port {} after host", quote(colon_port)));
            }
            let hostname = &host[1..close];
            let unescaped = match hostname.find("%25") {
                Some(zone) => unescape(&hostname[..zone], Mode::Host)? + &unescape(&hostname[zone..], Mode::Zone)?,
                None => unescape(hostname, Mode::Host)?,
            };
            // Only an IPv6 address may be enclosed in brackets.
            if parse_addr(&unescaped).map_err(|e| format!("invalid IP address {}", e))? {
                return Err("invalid IP-literal".to_string());
            }
            return Ok(format!("[{}]{}", unescaped, colon_port));
        }
        None => {}
    }
    if let Some(first) = host.find(':') {
        // A second colon is an error for http(s) (Go's strict colons).
        let i = if scheme == "http" || scheme == "https" { first } else { host.rfind(':').unwrap_or(first) };
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", quote(colon_port)));
        }
    }
    unescape(host, Mode::Host)
}

/// net/netip.ParseAddr, for what it refuses: whether the address is IPv4.
fn parse_addr(s: &str) -> Result<bool, String> {
    let fail = |msg: &str, at: &str| {
        if at.is_empty() {
            format!("{}: {}", quote(s), msg)
        } else {
            format!("{}: {} at {}", quote(s), msg, quote(at))
        }
    };
    for c in s.bytes() {
        match c {
            b'.' => return parse_ipv4_fields(s, 0, s.len()).map(|_| true).map_err(|(m, at)| fail(m, at)),
            b':' => return parse_ipv6(s).map(|_| false).map_err(|(m, at)| fail(m, at)),
            b'%' => return Err(fail("missing IPv6 address", "")),
            _ => {}
        }
    }
    Err(fail("unable to parse IP", ""))
}

type AddrError<'a> = (&'static str, &'a str);

fn parse_ipv4_fields(input: &str, off: usize, end: usize) -> Result<(), AddrError> {
    let s = &input[off..end];
    let b = s.as_bytes();
    let (mut val, mut pos, mut dig_len) = (0u32, 0, 0);
    for i in 0..b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            if dig_len == 1 && val == 0 {
                return Err(("IPv4 field has octet with leading zero", ""));
            }
            val = val * 10 + (c - b'0') as u32;
            dig_len += 1;
            if val > 255 {
                return Err(("IPv4 field has value >255", ""));
            }
        } else if c == b'.' {
            if i == 0 || i == b.len() - 1 || b[i - 1] == b'.' {
                return Err(("IPv4 field must have at least one digit", &s[i..]));
            }
            if pos == 3 {
                return Err(("IPv4 address too long", ""));
            }
            pos += 1;
            val = 0;
            dig_len = 0;
        } else {
            return Err(("unexpected character", &s[i..]));
        }
    }
    if pos < 3 {
        return Err(("IPv4 address too short", ""));
    }
    Ok(())
}

fn parse_ipv6(input: &str) -> Result<(), AddrError> {
    let mut s = input;
    let mut zone_len = 0;
    if let Some(i) = s.find('%') {
        let zone = &s[i + 1..];
        if zone.is_empty() {
            return Err(("zone must be a non-empty string", ""));
        }
        zone_len = zone.len() + 1;
        s = &s[..i];
    }
    let mut ellipsis: i32 = -1;
    if s.starts_with("::") {
        ellipsis = 0;
        s = &s[2..];
        if s.is_empty() {
            return Ok(());
        }
    }
    let mut i = 0;
    while i < 16 {
        let b = s.as_bytes();
        let mut off = 0;
        let mut acc = 0u32;
        while off < b.len() {
            let d = match (b[off] as char).to_digit(16) {
                Some(d) => d,
                None => break,
            };
            acc = (acc << 4) + d;
            if off > 3 {
                return Err(("each group must have 4 or less digits", s));
            }
            if acc > 0xffff {
                return Err(("IPv6 field has value >=2^16", s));
            }
            off += 1;
        }
        if off == 0 {
            return Err(("each colon-separated field must have at least one digit", s));
        }
        if off < b.len() && b[off] == b'.' {
            if ellipsis < 0 && i != 12 {
                return Err(("embedded IPv4 address must replace the final 2 fields of the address", s));
            }
            if i + 4 > 16 {
                return Err(("too many hex fields to fit an embedded IPv4 at the end of the address", s));
            }
            let end = input.len() - zone_len;
            parse_ipv4_fields(input, end - s.len(), end)?;
            s = "";
            i += 4;
            break;
        }
        i += 2;
        s = &s[off..];
        if s.is_empty() {
            break;
        }
        if !s.starts_with(':') {
            return Err(("unexpected character, want colon", s));
        } else if s.len() == 1 {
            return Err(("colon must be followed by more characters", s));
        }
        s = &s[1..];
        if s.starts_with(':') {
            if ellipsis >= 0 {
                return Err(("multiple :: in address", s));
            }
            ellipsis = i as i32;
            s = &s[1..];
            if s.is_empty() {
                break;
            }
        }
    }
    if !s.is_empty() {
        return Err(("trailing garbage after address", s));
    }
    if i < 16 {
        if ellipsis < 0 {
            return Err(("address string too short", ""));
        }
    } else if ellipsis >= 0 {
        return Err(("the :: must expand to at least one field of zeros", ""));
    }
    Ok(())
}

/// net/url's unescape, for what it refuses and (in a host) its result.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len() || hex(b[i + 1]).is_none() || hex(b[i + 2]).is_none() {
                    let e = &b[i..(i + 3).min(b.len())];
                    return Err(format!("invalid URL escape {}", quote(&String::from_utf8_lossy(e))));
                }
                let v = (hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0)) as u8;
                if mode == Mode::Host && v < 0x80 && &s[i..i + 3] != "%25" {
                    return Err(format!("invalid URL escape {}", quote(&s[i..i + 3])));
                }
                if mode == Mode::Zone && &s[i..i + 3] != "%25" && v != b' ' && should_escape_host(v) {
                    return Err(format!("invalid URL escape {}", quote(&s[i..i + 3])));
                }
                out.push(v);
                i += 3;
            }
            c => {
                if (mode == Mode::Host || mode == Mode::Zone) && c < 0x80 && should_escape_host(c) {
                    return Err(format!("invalid character {} in host name", quote(&s[i..i + 1])));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// net/url's shouldEscape(c, encodeHost) for an ASCII byte.
fn should_escape_host(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c))
}
