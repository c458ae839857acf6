;; Reload test plugin v1 (core/plugin host tests): token_claims answers a
;; constant naming the version, so that a test can see which version served
;; a call. reload_v1.wat and reload_v2.wat differ only in that constant.
(module
  (memory (export "memory") 1)
  ;; The response lives at offset 16; requests are written at 1024 (one
  ;; call at a time per instance, so a fixed buffer is enough).
  (data (i32.const 16) "{\"result\":{\"claims\":{\"reload\":\"v1\"}}}")
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param $size i32) (result i32)
    ;; Refuse a request that would run past the one page.
    (if (i32.gt_u (local.get $size) (i32.const 64512))
      (then (return (i32.const 0))))
    (i32.const 1024))
  (func $answer (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 37)))
  (func (export "gh_token_claims") (param i32 i32) (result i64) (call $answer)))
