// signin-example-assemblyscript: the shared example sign_in policy written
// with the AssemblyScript SDK (sdk/assemblyscript). Config
// {"allowed_domains": ["example.com"], "group": "group:default/staff"}: an
// email whose domain (after the last '@', compared case-insensitively) is
// allowed signs in as user:default/<local part lowercased>, owning that user
// and the group; anything else is refused with access_denied.
//
// Built by examples/plugins/examples.mk:
//   asc examples/plugins/assemblyscript/signin.ts -O3 --runtime incremental \
//       --use abort=sdk/assemblyscript/assembly/index/gh_abort -o signin-example-assemblyscript.wasm

import { Request, Result, Value, lowerASCII, serve } from "../../../sdk/assemblyscript/assembly/index";

// lowerASCII (from the SDK) lowercases A-Z only: every example language must
// give byte-identical answers.

export { gh_alloc, gh_free, gh_abi_version } from "../../../sdk/assemblyscript/assembly/index";

function signIn(req: Request): Result {
  const profile = req.input.get("profile");
  const email = profile != null ? profile.get("email") : null;
  if (email == null || !email.isString() || email.str.length == 0) {
    return Result.accessDenied("sign-in requires an email address");
  }
  const e = email.str;
  const at = e.lastIndexOf("@");
  const local = at >= 0 ? e.substring(0, at) : e;
  const domain = lowerASCII(at >= 0 ? e.substring(at + 1) : "");

  let allowed = false;
  const domains = req.config.get("allowed_domains");
  if (domains != null && domains.isArray()) {
    for (let i = 0; i < domains.size && !allowed; i++) {
      const d = domains.at(i);
      allowed = d.isString() && lowerASCII(d.str) == domain;
    }
  }
  if (!allowed) return Result.accessDenied("email domain " + domain + " is not allowed");

  const user = "user:default/" + lowerASCII(local);
  const ent = [Value.string(user)];
  const group = req.config.get("group");
  if (group != null && group.isString() && group.str.length > 0) ent.push(Value.string(group.str));
  return Result.ok(Value.object().set("sub", Value.string(user)).set("ent", Value.array(ent)));
}

export function gh_sign_in(ptr: usize, len: u32): u64 {
  return serve("sign_in", ptr, len, signIn);
}
