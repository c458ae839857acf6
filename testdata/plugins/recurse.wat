;; Hostile: sign_in recurses without end, each frame holding a few locals.
;; Expect "stack overflow" (wazero's call-stack ceiling); token_claims works.
(module
  (memory (export "memory") 1)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 16) "{\"result\":{}}")
  (func $deeper (param $n i64) (result i64)
    (local i64 i64 i64 i64)
    (i64.add (call $deeper (i64.add (local.get $n) (i64.const 1))) (local.get $n)))
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (drop (call $deeper (i64.const 0)))
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
  (func (export "gh_token_claims") (param i32 i32) (result i64)
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
)
