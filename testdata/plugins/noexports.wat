;; Hostile: a hook but no gh_alloc. Refused at load: "missing export gh_alloc".
(module
  (memory (export "memory") 1)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_sign_in") (param i32 i32) (result i64) (i64.const 0))
)
