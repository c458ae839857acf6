;; Hostile: sign_in grows a table declared without a maximum by 0xfffffff0
;; entries (the whole address space, if the host let it). The host caps the
;; table at max_table_elements, so table.grow returns -1 and the hook traps
;; with unreachable; token_claims works.
(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 16) "{\"result\":{}}")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (if (i32.eq (table.grow $t (ref.null func) (i32.const 0xfffffff0)) (i32.const -1))
      (then unreachable))
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
  (func (export "gh_token_claims") (param i32 i32) (result i64)
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
)
