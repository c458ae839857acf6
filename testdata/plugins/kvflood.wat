;; Hostile: sign_in stores 64 KiB values under new keys ("k" and a counter
;; kept in the plugin's own memory) without end, ignoring kv_put's result.
;; Expect "kv quota exceeded"; token_claims works. Needs kv granted.
(module
  (import "gatehouse" "kv_put" (func $kv_put (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $n (mut i32) (i32.const 0))
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 16) "{\"result\":{}}")
  (data (i32.const 32) "k")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (loop $again
      (i32.store (i32.const 33) (global.get $n))
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (drop (call $kv_put (i32.const 32) (i32.const 5) (i32.const 65536) (i32.const 65536)))
      (br $again))
    unreachable)
  (func (export "gh_token_claims") (param i32 i32) (result i64)
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
)
