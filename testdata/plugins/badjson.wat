;; Hostile: malformed responses. sign_in: not JSON; auth_handler: neither
;; result nor error; resolve_user: both; notify: an error without a code.
(module
  (memory (export "memory") 1)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  ;; Bump allocator: gh_free pops the top buffer, so the host's
  ;; free(response) then free(request) returns the heap to where it was.
  (global $top (mut i32) (i32.const 4096))
  (func $alloc (export "gh_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (global.get $top) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (i32.add (i32.shr_u (global.get $top) (i32.const 16)) (i32.const 1)) (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (local.get $p))
  (func (export "gh_free") (param $p i32) (param $n i32)
    (if (i32.eq (i32.add (local.get $p) (local.get $n)) (global.get $top))
      (then (global.set $top (local.get $p)))))
  ;; token_claims always works: the "good call" after a failure.
  (data (i32.const 64) "{\"result\":{\"claims\":{}}}")
  (func (export "gh_token_claims") (param i32 i32) (result i64) (i64.const 274877906968 (; 64 << 32 | 24 ;)))
  (data (i32.const 256) "{\"result\": oops")
  (data (i32.const 320) "{\"foo\":1}")
  (data (i32.const 384) "{\"result\":{},\"error\":{\"code\":\"x\",\"message\":\"y\"}}")
  (data (i32.const 512) "{\"error\":{\"message\":\"no code\"}}")
  (func (export "gh_sign_in") (param i32 i32) (result i64) (i64.const 1099511627791 (; 256 << 32 | 15 ;)))
  (func (export "gh_auth_handler") (param i32 i32) (result i64) (i64.const 1374389534729 (; 320 << 32 | 9 ;)))
  (func (export "gh_resolve_user") (param i32 i32) (result i64) (i64.const 1649267441712 (; 384 << 32 | 48 ;)))
  (func (export "gh_notify") (param i32 i32) (result i64) (i64.const 2199023255583 (; 512 << 32 | 31 ;)))
)
