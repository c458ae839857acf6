;; Test plugin for kv: notify stores its whole request envelope under key
;; "last"; token_claims returns what is stored there, or {"missing":true}.
(module
  (import "gatehouse" "kv_get" (func $kv_get (param i32 i32) (result i64)))
  (import "gatehouse" "kv_put" (func $kv_put (param i32 i32 i32 i32) (result i32)))
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
  ;; $wrap(ptr, n) allocates {"result":<the n bytes at ptr>} and returns it packed.
  (data (i32.const 16) "{\"result\":")
  (func $wrap (param $p i32) (param $n i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (i32.add (local.get $n) (i32.const 11))))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 10))
    (memory.copy (i32.add (local.get $out) (i32.const 10)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 10)) (local.get $n)) (i32.const 125))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.add (local.get $n) (i32.const 11)))))
  (data (i32.const 32) "last")
  (data (i32.const 256) "{\"result\":{\"missing\":true}}")
  (data (i32.const 320) "{\"result\":{}}")
  (data (i32.const 384) "{\"error\":{\"code\":\"kv_failed\",\"message\":\"kv_put failed\"}}")
  (func (export "gh_notify") (param $p i32) (param $n i32) (result i64)
    (if (result i64) (call $kv_put (i32.const 32) (i32.const 4) (local.get $p) (local.get $n))
      (then (i64.const 1649267441720 (; 384 << 32 | 56 ;)))
      (else (i64.const 1374389534733 (; 320 << 32 | 13 ;)))))
  (func (export "gh_token_claims") (param i32 i32) (result i64)
    (local $r i64)
    (local.set $r (call $kv_get (i32.const 32) (i32.const 4)))
    (if (result i64) (i64.eqz (local.get $r))
      (then (i64.const 1099511627803 (; 256 << 32 | 27 ;)))
      (else (call $wrap
        (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))
        (i32.wrap_i64 (local.get $r))))))
)
