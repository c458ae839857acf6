;; Hostile: sign_in logs 4096-byte messages without end; notify writes
;; 4096-byte blocks to stdout 1000 times (4 MB) and returns. Expect "log
;; quota exceeded" for both; token_claims (one short log line) works.
(module
  (import "gatehouse" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 32768))
  (data (i32.const 16) "{\"result\":{}}")
  (data (i32.const 48) "ok")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (memory.fill (i32.const 4096) (i32.const 65) (i32.const 4096))
    (loop $again
      (call $log (i32.const 1) (i32.const 4096) (i32.const 4096))
      (br $again))
    unreachable)
  ;; iovec at 64: {buf 4096, len 4096}; bytes written at 72.
  (func (export "gh_notify") (param i32 i32) (result i64)
    (local $i i32)
    (memory.fill (i32.const 4096) (i32.const 66) (i32.const 4096))
    (i32.store (i32.const 64) (i32.const 4096))
    (i32.store (i32.const 68) (i32.const 4096))
    (loop $again
      (drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 72)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
  (func (export "gh_token_claims") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 48) (i32.const 2))
    (i64.const 68719476749 (; 16 << 32 | 13 ;)))
)
