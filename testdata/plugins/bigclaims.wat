;; Hostile: token_claims and sign_in answer a claim "x" of 900 KB (under the
;; response cap, far over the claims cap). Expect "claims too large" where
;; the host merges them.
(module
  (memory (export "memory") 16)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 65536) "{\"result\":{\"sub\":\"user:default/alice\",\"claims\":{\"x\":\"")
  (func $answer (result i64)
    ;; 53 bytes of prefix, 900000 of "A", then "}}} at the end.
    (memory.fill (i32.const 65589) (i32.const 65) (i32.const 900000))
    (i32.store8 (i32.const 965589) (i32.const 34))
    (i32.store8 (i32.const 965590) (i32.const 125))
    (i32.store8 (i32.const 965591) (i32.const 125))
    (i32.store8 (i32.const 965592) (i32.const 125))
    (i64.const 281474977610713 (; 65536 << 32 | 900057 ;)))
  (func (export "gh_sign_in") (param i32 i32) (result i64) (call $answer))
  (func (export "gh_token_claims") (param i32 i32) (result i64) (call $answer))
)
