;; Hostile: sign_in asks http_request for the cloud metadata address, which no
;; allow-list in the tests grants; the host's answer becomes the result
;; (expect {"error":"url not allowed"}), as it is with no allow-list at all.
(module
  (import "gatehouse" "http_request" (func $http (param i32 i32) (result i64)))
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
  ;; token_claims always works: the "good call" after a failure.
  (data (i32.const 64) "{\"result\":{\"claims\":{}}}")
  (func (export "gh_token_claims") (param i32 i32) (result i64) (i64.const 274877906968 (; 64 << 32 | 24 ;)))
  (data (i32.const 256) "{\"method\":\"GET\",\"url\":\"http://169.254.169.254/latest/meta-data/\"}")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (local $r i64)
    (local.set $r (call $http (i32.const 256) (i32.const 65)))
    (call $wrap
      (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))
      (i32.wrap_i64 (local.get $r))))
)
