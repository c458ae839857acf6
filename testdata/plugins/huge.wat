;; Hostile: sign_in answers with 2 MiB (over the default 1 MiB response cap).
;; Expect "response too large".
(module
  (memory (export "memory") 48)
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
  ;; token_claims always works: the "good call" after a failure.
  (data (i32.const 64) "{\"result\":{\"claims\":{}}}")
  (func (export "gh_token_claims") (param i32 i32) (result i64) (i64.const 274877906968 (; 64 << 32 | 24 ;)))
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (i64.const 4503599629467648 (; 1048576 << 32 | 2097152 ;)))
)
