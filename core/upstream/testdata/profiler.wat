;; A test sign_in plugin: everyone is user:default/alice, and the plugin
;; sets the OIDC Core §5.4 profile claims among its extra claims (email,
;; email_verified, name, preferred_username, picture), which become the
;; user's profile and reach the tokens by scope, plus team, an extra claim.
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
  (data (i32.const 64) "{\"result\":{\"sub\":\"user:default/alice\",\"ent\":[\"user:default/alice\"],\"claims\":{\"team\":\"platform\",\"email\":\"alice@corp.example\",\"email_verified\":true,\"name\":\"Alice Liddell\",\"preferred_username\":\"aliddell\",\"picture\":\"https://img.example/alice.png\"}}}")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (i64.const 274877907189 (; 64 << 32 | 245 ;)))
)
