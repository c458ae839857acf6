//! hostcalls: exercises the Rust SDK's host-function wrappers (log, kv_get,
//! kv_put, http_request) from a token_claims hook, for examples_test.go.
//! Config `{"url": "..."}`: counts calls per subject in the plugin's KV
//! namespace, fetches url, and answers
//! `{"claims": {"visits": <n>, "status": <http status>, "body": "<http body>"}}`;
//! an http_request error is refused as server_error with the host's reason.

use gatehouse::{hook, HookResult, Level, Refusal, Request, Value};

fn token_claims(req: &Request) -> HookResult {
    let sub = req.input.get("sub").and_then(Value::as_str);
    let url = req.config.get("url").and_then(Value::as_str);
    let (sub, url) = match (sub, url) {
        (Some(s), Some(u)) => (s, u),
        _ => return Err(Refusal::invalid_request("sub and config.url are required")),
    };
    gatehouse::log(Level::Info, "hostcalls: token_claims called");

    let key = format!("visits/{}", sub);
    let visits = gatehouse::kv_get(&key)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
        + 1;
    gatehouse::kv_put(&key, visits.to_string().as_bytes()).map_err(|_| Refusal::server_error("kv_put failed"))?;

    let request = Value::object([
        ("method", Value::from("GET")),
        ("url", Value::from(url)),
        ("headers", Value::object([("X-Sub", Value::from(sub))])),
        ("body", Value::from("")),
    ]);
    let resp = gatehouse::http_request(&request).map_err(Refusal::server_error)?;
    Ok(Value::object([(
        "claims",
        Value::object([
            ("visits", Value::from(visits)),
            ("status", resp.get("status").cloned().unwrap_or(Value::Null)),
            ("body", resp.get("body").cloned().unwrap_or(Value::Null)),
        ]),
    )]))
}

hook!(token_claims, token_claims);
