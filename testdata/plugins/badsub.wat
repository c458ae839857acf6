;; Hostile: sign_in and resolve_user answer a sub that is no entity ref,
;; with markup and a newline in it. The host must refuse the answer (fail the
;; sign-in or the CIBA request closed) and store nothing.
(module
  (memory (export "memory") 1)
  ;; The answer lives at offset 16; requests are written at 1024 (one
  ;; call at a time per instance, so a fixed buffer is enough).
  (data (i32.const 16) "{\"result\":{\"sub\":\"Not An Entity Ref <script>\\n\",\"ent\":[\"user:default/alice\"],\"profile\":{\"email\":\"alice@example.com\"}}}")
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 64512))
      (then (return (i32.const 0))))
    (i32.const 1024))
  (func $answer (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 118)))
  (func (export "gh_sign_in") (param i32 i32) (result i64) (call $answer))
  (func (export "gh_resolve_user") (param i32 i32) (result i64) (call $answer)))
