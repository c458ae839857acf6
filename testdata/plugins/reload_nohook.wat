;; Reload test plugin: a "new version" of reload_v1 that serves sign_in but
;; no longer token_claims. Bound to token_claims, a reload must refuse it
;; and keep the old version serving.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"result\":{\"sub\":\"user:default/alice\"}}")
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 64512))
      (then (return (i32.const 0))))
    (i32.const 1024))
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 39))))
