// The AssemblyScript guest SDK for Gatehouse plugins, ABI version 1
// (sdk/ABI.md). A plugin's entry file re-exports the ABI exports and
// exports one function per hook it serves:
//
//   import { Request, Result, Value, serve } from "path/to/sdk/assemblyscript/assembly";
//   export { gh_alloc, gh_free, gh_abi_version } from "path/to/sdk/assemblyscript/assembly";
//
//   function signIn(req: Request): Result { ... }
//   export function gh_sign_in(ptr: usize, len: u32): u64 { return serve("sign_in", ptr, len, signIn); }
//
// Compile with --use abort=<this file>/gh_abort (see README.md) so the
// module does not import env.abort, which the host does not provide.

import { Kind, PADDING, Value, Writer, parseBytes, releaseParsed } from "./json";

export { Value, Kind, Parsed, Writer, lowerASCII, parse, parseBytes, quote } from "./json";

/** The ABI this SDK implements; gh_abi_version returns it. */
export const ABI_VERSION: i32 = 1;

/** Error codes of ABI v1. */
export const ACCESS_DENIED = "access_denied";
/** resolve_user's answer for a hint naming nobody (CIBA Core 1.0 §13). */
export const UNKNOWN_USER_ID = "unknown_user_id";
/** The input is not what the plugin can work with. */
export const INVALID_REQUEST = "invalid_request";
/** The plugin could not decide (a dependency is down, a bug); the caller fails closed. */
export const SERVER_ERROR = "server_error";

/** One hook call: the envelope {"abi":1,"hook":...,"config":...,"input":...}. */
export class Request {
  hook: string = "";
  /** The plugin's config object ({} when none). */
  config: Value = Value.object();
  /** The hook input (see sdk/ABI.md for each hook's fields). */
  input: Value = Value.null();
}

/** What a handler returns: a result value, or a refusal with code and message. */
export class Result {
  value: Value = Value.null();
  refused: bool = false;
  code: string = "";
  message: string = "";

  static ok(value: Value): Result {
    const r = new Result();
    r.value = value;
    return r;
  }

  static refuse(code: string, message: string): Result {
    const r = new Result();
    r.refused = true;
    r.code = code;
    r.message = message;
    return r;
  }

  /** Refuses a sign-in (or any decision) with access_denied. */
  static accessDenied(message: string): Result {
    return Result.refuse(ACCESS_DENIED, message);
  }

  /** Answers resolve_user with unknown_user_id. */
  static unknownUser(message: string): Result {
    return Result.refuse(UNKNOWN_USER_ID, message);
  }
}

export type Handler = (req: Request) => Result;

function errorResponse(code: string, message: string): Writer {
  const w = new Writer();
  w.ascii('{"error":{"code":');
  w.quoted(code.length > 0 ? code : SERVER_ERROR);
  w.ascii(',"message":');
  w.quoted(message);
  w.ascii("}}");
  return w;
}

// Buffers the host filled during this call (http_request answers), freed when it ends.
const hostBuffers = new Array<usize>(0);

// respondBytes answers the request in [ptr, ptr+len) (with PADDING readable bytes after it).
function respondBytes(hook: string, ptr: usize, len: usize, handler: Handler): Writer {
  const parsed = parseBytes(ptr, len);
  if (parsed.error.length > 0) return errorResponse(INVALID_REQUEST, "malformed request: " + parsed.error);
  const env = parsed.value;
  if (!env.isObject()) return errorResponse(INVALID_REQUEST, "request is not a JSON object");
  const abi = env.get("abi");
  if (abi != null && !(abi.kind == Kind.Number && abi.num == <f64>ABI_VERSION)) {
    return errorResponse(SERVER_ERROR, "request is not ABI version 1");
  }
  const req = new Request();
  req.hook = hook;
  const name = env.get("hook");
  if (name != null && name.isString() && !name.is(hook)) {
    return errorResponse(INVALID_REQUEST, "request for hook " + name.str + " reached the " + hook + " export");
  }
  const config = env.get("config");
  if (config != null && !config.isNull()) req.config = config;
  const input = env.get("input");
  if (input != null) req.input = input;

  const res = handler(req);
  if (res.refused) return errorResponse(res.code, res.message);
  const w = new Writer();
  w.ascii('{"result":');
  w.value(res.value);
  w.byte(0x7d);
  return w;
}

/** respond answers a request document exactly as a hook export does (for tests). */
export function respond(hook: string, request: string, handler: Handler): string {
  const n = String.UTF8.byteLength(request);
  const buf = heap.alloc(<usize>n + PADDING);
  String.UTF8.encodeUnsafe(changetype<usize>(request), request.length, buf);
  const w = respondBytes(hook, buf, <usize>n, handler);
  const out = String.UTF8.decodeUnsafe(w.ptr, w.len);
  w.release();
  heap.free(buf);
  endCall();
  return out;
}

// endCall releases what the call kept alive. With --runtime minimal nothing
// collects by itself: everything the call allocated is garbage now (the
// response is in an unmanaged heap buffer).
function endCall(): void {
  for (let i = 0; i < hostBuffers.length; i++) heap.free(hostBuffers[i]);
  hostBuffers.length = 0;
  releaseParsed();
  __collect();
}

/** serve is the body of a hook export: request at ptr/len in, packed ptr<<32|len of the response out. */
export function serve(hook: string, ptr: usize, len: u32, handler: Handler): u64 {
  const w = respondBytes(hook, ptr, <usize>len, handler);
  endCall();
  // The writer's heap buffer is the response: the host frees it with gh_free.
  return ((<u64>w.ptr) << 32) | <u64>w.len;
}

// takeString reads and frees a buffer the host filled through gh_alloc.
function takeString(packed: u64): string {
  const p = <usize>(packed >> 32);
  const s = String.UTF8.decodeUnsafe(p, <usize>(<u32>packed));
  heap.free(p);
  return s;
}

export function gh_abi_version(): i32 {
  return ABI_VERSION;
}

// Every buffer has PADDING readable bytes past its end, so the parser can read whole words.
export function gh_alloc(size: u32): usize {
  return heap.alloc(<usize>size + PADDING);
}

export function gh_free(ptr: usize, size: u32): void {
  heap.free(ptr);
}

// ---- host functions (module "gatehouse"); an import is only emitted when used ----

@external("gatehouse", "log")
declare function host_log(level: i32, ptr: usize, len: u32): void;

@external("gatehouse", "http_request")
declare function host_http_request(ptr: usize, len: u32): u64;

@external("gatehouse", "kv_get")
declare function host_kv_get(kptr: usize, klen: u32): u64;

@external("gatehouse", "kv_put")
declare function host_kv_put(kptr: usize, klen: u32, vptr: usize, vlen: u32): i32;

export const enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** log writes one line to Gatehouse's log (always granted). */
export function log(level: Level, message: string): void {
  const buf = String.UTF8.encode(message);
  host_log(level, changetype<usize>(buf), <u32>buf.byteLength);
}

/** The answer of httpRequest: the response {"status","headers","body"}, or error set to the host's reason. */
export class HTTPResult {
  response: Value = Value.null();
  error: string = "";
}

/** httpRequest sends {"method","url","headers","body"} through the host (needs plugins.settings.<name>.http_allow in the server config). */
export function httpRequest(request: Value): HTTPResult {
  const w = new Writer();
  w.value(request);
  const packed = host_http_request(w.ptr, <u32>w.len);
  w.release();
  const out = new HTTPResult();
  if (packed == 0) {
    out.error = "http_request returned no response";
    return out;
  }
  // Parsed in place: the buffer is freed when the call ends.
  const p = <usize>(packed >> 32);
  hostBuffers.push(p);
  const parsed = parseBytes(p, <usize>(<u32>packed));
  if (parsed.error.length > 0) {
    out.error = "http_request response: " + parsed.error;
    return out;
  }
  const err = parsed.value.get("error");
  if (err != null) {
    out.error = err.isString() ? err.str : "http_request failed";
    return out;
  }
  out.response = parsed.value;
  return out;
}

/** kvGet returns the value stored under key (needs kv: true), or null when missing. */
export function kvGet(key: string): string | null {
  const k = String.UTF8.encode(key);
  const packed = host_kv_get(changetype<usize>(k), <u32>k.byteLength);
  if (packed == 0) return null;
  return takeString(packed);
}

/** kvPut stores value under key (needs kv: true); 0 on success, the host's non-zero status otherwise. */
export function kvPut(key: string, value: string): i32 {
  const k = String.UTF8.encode(key);
  const v = String.UTF8.encode(value);
  return host_kv_put(changetype<usize>(k), <u32>k.byteLength, changetype<usize>(v), <u32>v.byteLength);
}

/**
 * gh_abort replaces AssemblyScript's env.abort (pass --use abort=...): it
 * logs the failed assertion and traps, so the host fails the call closed.
 */
export function gh_abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: " + (message != null ? message : "");
  if (fileName != null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(Level.Error, text);
  unreachable();
}
