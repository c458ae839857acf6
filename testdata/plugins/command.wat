;; A WASI command (the fallback): _start reads the envelope from stdin and
;; writes {"result":<envelope>} to stdout.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "{\"result\":")
  (data (i32.const 32) "}")
  ;; iovecs at 64.., counters at 128; input buffer from 4096 to the end of memory.
  (func (export "_start")
    (local $n i32)
    (local $got i32)
    (loop $read
      (i32.store (i32.const 64) (i32.add (i32.const 4096) (local.get $n)))
      (i32.store (i32.const 68) (i32.sub (i32.const 126976) (local.get $n)))
      (if (call $fd_read (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)) (then unreachable))
      (local.set $got (i32.load (i32.const 128)))
      (local.set $n (i32.add (local.get $n) (local.get $got)))
      (br_if $read (i32.and (i32.ne (local.get $got) (i32.const 0)) (i32.lt_u (local.get $n) (i32.const 126976)))))
    (i32.store (i32.const 64) (i32.const 16))
    (i32.store (i32.const 68) (i32.const 10))
    (i32.store (i32.const 72) (i32.const 4096))
    (i32.store (i32.const 76) (local.get $n))
    (i32.store (i32.const 80) (i32.const 32))
    (i32.store (i32.const 84) (i32.const 1))
    (if (call $fd_write (i32.const 1) (i32.const 64) (i32.const 3) (i32.const 128)) (then unreachable)))
)
