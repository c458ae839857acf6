// hostcalls: exercises the AssemblyScript SDK's host-function wrappers (log,
// kvGet, kvPut, httpRequest) from a token_claims hook, for examples_test.go.
// Config {"url": "..."}: counts calls per subject in the plugin's KV
// namespace, fetches url, and answers
// {"claims": {"visits": <n>, "status": <http status>, "body": "<http body>"}};
// an http_request error is refused as server_error with the host's reason.

import { Level, Request, Result, Value, httpRequest, kvGet, kvPut, log, serve } from "../../../sdk/assemblyscript/assembly/index";

export { gh_alloc, gh_free, gh_abi_version } from "../../../sdk/assemblyscript/assembly/index";

function tokenClaims(req: Request): Result {
  const sub = req.input.get("sub");
  const url = req.config.get("url");
  if (sub == null || !sub.isString() || url == null || !url.isString()) {
    return Result.refuse("invalid_request", "sub and config.url are required");
  }
  log(Level.Info, "hostcalls: token_claims called");

  const key = "visits/" + sub.str;
  const old = kvGet(key);
  const visits: i64 = (old != null ? I64.parseInt(old) : 0) + 1;
  if (kvPut(key, visits.toString()) != 0) return Result.refuse("server_error", "kv_put failed");

  const request = Value.object()
    .set("method", Value.string("GET"))
    .set("url", Value.string(url.str))
    .set("headers", Value.object().set("X-Sub", Value.string(sub.str)))
    .set("body", Value.string(""));
  const res = httpRequest(request);
  if (res.error.length > 0) return Result.refuse("server_error", res.error);
  const status = res.response.get("status");
  const body = res.response.get("body");
  return Result.ok(
    Value.object().set(
      "claims",
      Value.object()
        .set("visits", Value.number(<f64>visits))
        .set("status", status != null ? status : Value.null())
        .set("body", body != null ? body : Value.null()),
    ),
  );
}

export function gh_token_claims(ptr: usize, len: u32): u64 {
  return serve("token_claims", ptr, len, tokenClaims);
}
