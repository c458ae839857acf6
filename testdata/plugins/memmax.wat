;; Memory declared with a maximum of 4 GiB (65536 pages), far above any
;; plugin's cap. It loads: the cap lowers the maximum, as a missing maximum
;; would be. sign_in grows memory by 100 pages and answers whether it could.
(module
  (memory (export "memory") 1 65536)
  (func (export "gh_abi_version") (result i32) (i32.const 1))
  (func (export "gh_alloc") (param i32) (result i32) (i32.const 1024))
  (data (i32.const 16) "{\"result\":{\"grow\":\"granted\"}}")
  (data (i32.const 64) "{\"result\":{\"grow\":\"refused\"}}")
  (func (export "gh_sign_in") (param i32 i32) (result i64)
    (if (result i64) (i32.eq (memory.grow (i32.const 100)) (i32.const -1))
      (then (i64.const 274877906973 (; 64 << 32 | 29 ;)))
      (else (i64.const 68719476765 (; 16 << 32 | 29 ;)))))
)
