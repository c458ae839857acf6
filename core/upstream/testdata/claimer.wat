;; A test sign_in plugin: everyone is user:default/alice of
;; group:default/staff, with extra claims: team and groups, which must reach
;; the identity, ID and access tokens, and registered names (sub, iss, ent,
;; aud, exp, scope, client_id) the issuer must never take from a plugin.
;; The result is static data; gh_free ignores it.
(module
  (memory (export "memory") 1)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (global $top (mut i32) (i32.const 4096))
  (func (export "gh_alloc") (param $n i32) (result i32)
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
  ;; Every request buffer is popped: the heap is back at 4096 after a call.
  (func (export "gh_free") (param $p i32) (param $n i32)
    (if (i32.ge_u (local.get $p) (i32.const 4096))
      (then (global.set $top (i32.const 4096)))))
  (data (i32.const 64) "{\"result\":{\"sub\":\"user:default/alice\",\"ent\":[\"user:default/alice\",\"group:default/staff\"],\"claims\":{\"team\":\"platform\",\"groups\":[\"platform\",\"oncall\"],\"sub\":\"user:default/mallory\",\"iss\":\"https://evil.example\",\"ent\":[\"group:default/admins\"],\"aud\":\"elsewhere\",\"exp\":1,\"scope\":\"admin\",\"client_id\":\"other\"}}}")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (i64.const 274877907245 (; 64 << 32 | 301 ;)))
)
