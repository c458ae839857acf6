;; A WASI reactor with _initialize: it logs "initialized" and sets a flag;
;; sign_in answers {"result":{}} only when the flag is set, so a call on an
;; instance whose _initialize never ran traps.
(module
  (import "gatehouse" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  (data (i32.const 32) "initialized")
  (data (i32.const 64) "{\"result\":{}}")
  (func (export "_initialize")
    (call $log (i32.const 1) (i32.const 32) (i32.const 11))
    (global.set $ready (i32.const 1)))
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (if (i32.eqz (global.get $ready)) (then unreachable))
    (i64.const 274877906957 (; 64 << 32 | 13 ;)))
)
