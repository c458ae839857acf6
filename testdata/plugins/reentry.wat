;; Hostile: gh_alloc calls kv_get, so returning kv_get's value would make the
;; host call gh_alloc again while it runs, without end. Expect "re-entry
;; refused" on every hook; the plugin needs kv granted.
(module
  (import "gatehouse" "kv_get" (func $kv_get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "key")
  (data (i32.const 32) "{\"result\":{}}")
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32)
    (drop (call $kv_get (i32.const 16) (i32.const 3)))
    (i32.const 1024))
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (i64.const 137438953485 (; 32 << 32 | 13 ;)))
)
