;; signin-example-wat: the shared example sign_in policy in WebAssembly text,
;; the smallest possible Gatehouse plugin (ABI version 1, sdk/ABI.md).
;; No imports, no runtime, no allocator beyond a bump pointer.
;;
;; Config {"allowed_domains": ["example.com"], "group": "group:default/staff"}:
;; an email whose domain (after the last '@', compared case-insensitively)
;; is allowed signs in as user:default/<local part lowercased>, owning that
;; user and the group; anything else is refused with access_denied.
;;
;; It reads the request JSON without building values: $find walks one
;; object's members and returns where the wanted member's value starts (the
;; first member of that name: the host never sends duplicate keys).
;; Strings are compared and copied in their escaped JSON form: copying
;; escaped text into a JSON string keeps it valid, and Gatehouse encodes
;; requests with Go's encoding/json, which never escapes letters, digits,
;; '@' or '.', so lowercasing and splitting the raw text gives what the other
;; SDKs get by decoding (a hand-written request with \u0041 would not).
;;
;; Speed: the host runs each call under a deadline (wazero's
;; WithCloseOnContextDone), which makes every loop iteration cost a check of
;; tens of nanoseconds. So strings are scanned, compared, searched and
;; lowercased eight bytes at a time (SWAR on i64 words), and loops that
;; usually run zero times are guarded by a test. Buffers get 8 spare bytes
;; so a word read at the end of one stays in bounds.
;;
;; Build: wat2wasm examples/plugins/wat/signin.wat -o signin-example-wat.wasm
(module
  (memory (export "memory") 1)

  ;; Bump allocator: gh_alloc hands out memory from $heap; when every
  ;; buffer handed out has been freed again (the host frees the response
  ;; and the request after each call), the heap starts over.
  (global $heap (mut i32) (i32.const 1024))
  (global $live (mut i32) (i32.const 0))
  ;; End of the request being read: every read is bounds-checked against it.
  (global $end (mut i32) (i32.const 0))
  ;; Write cursor of the response being built.
  (global $w (mut i32) (i32.const 0))

  (data (i32.const 16) "input")
  (data (i32.const 24) "profile")
  (data (i32.const 32) "email")
  (data (i32.const 40) "config")
  (data (i32.const 48) "allowed_domains")
  (data (i32.const 64) "group")
  (data (i32.const 80) "{\"result\":{\"sub\":\"user:default/")  ;; 31 bytes
  (data (i32.const 112) "\",\"ent\":[\"user:default/")          ;; 23
  (data (i32.const 136) "\",\"")                                 ;; 3
  (data (i32.const 140) "\"]}}")                                 ;; 4
  (data (i32.const 160) "{\"error\":{\"code\":\"access_denied\",\"message\":\"sign-in requires an email address\"}}") ;; 80
  (data (i32.const 240) "{\"error\":{\"code\":\"access_denied\",\"message\":\"email domain ")                      ;; 57
  (data (i32.const 304) " is not allowed\"}}")                                                                 ;; 18

  (func (export "gh_abi_version") (result i32) (i32.const 1))

  ;; $alloc returns $n bytes, plus 8 spare ones for word-at-a-time reads and writes.
  (func $alloc (export "gh_alloc") (param $n i32) (result i32)
    (local $p i32) (local $next i32) (local $have i32)
    (local.set $p (global.get $heap))
    ;; keep allocations 8-byte aligned
    (local.set $next (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 15)) (i32.const -8)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $next) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $next) (local.get $have)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $next))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $p))

  (func (export "gh_free") (param $p i32) (param $n i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (if (i32.le_s (global.get $live) (i32.const 0))
      (then
        (global.set $live (i32.const 0))
        (global.set $heap (i32.const 1024)))))

  ;; $at: the byte at $p, or -1 outside the request.
  (func $at (param $p i32) (result i32)
    (if (result i32) (i32.and (i32.ge_s (local.get $p) (i32.const 0)) (i32.lt_u (local.get $p) (global.get $end)))
      (then (i32.load8_u (local.get $p)))
      (else (i32.const -1))))

  (func $is_ws (param $c i32) (result i32)
    (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
            (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13)))))

  ;; $ws skips whitespace; the host sends none, so look before looping.
  (func $ws (param $p i32) (result i32)
    (if (i32.eqz (call $is_ws (call $at (local.get $p)))) (then (return (local.get $p))))
    (loop $next
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $next (call $is_ws (call $at (local.get $p)))))
    (local.get $p))

  ;; ---- word-at-a-time helpers (little-endian: byte 0 is the low byte) ----

  ;; $valid: a mask of the first $left bytes of a word (all of it for 8 or more).
  (func $valid (param $left i32) (result i64)
    (if (result i64) (i32.ge_s (local.get $left) (i32.const 8))
      (then (i64.const -1))
      (else (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (i32.shl (local.get $left) (i32.const 3)))) (i64.const 1)))))

  ;; $zeros: the high bit of every byte of $x that is zero, exactly (no borrows).
  (func $zeros (param $x i64) (result i64)
    (i64.and
      (i64.xor
        (i64.or (i64.add (i64.and (local.get $x) (i64.const 0x7f7f7f7f7f7f7f7f)) (i64.const 0x7f7f7f7f7f7f7f7f)) (local.get $x))
        (i64.const -1))
      (i64.const 0x8080808080808080)))

  ;; $special: the high bit of every byte of $x that is '"', '\' or a control character.
  (func $special (param $x i64) (result i64)
    (i64.or
      (i64.or (call $zeros (i64.xor (local.get $x) (i64.const 0x2222222222222222)))
              (call $zeros (i64.xor (local.get $x) (i64.const 0x5c5c5c5c5c5c5c5c))))
      ;; bytes below 0x20: ASCII (high bit clear) and (x & 0x7f) + 0x60 has no high bit
      (i64.and
        (i64.xor
          (i64.or (i64.add (i64.and (local.get $x) (i64.const 0x7f7f7f7f7f7f7f7f)) (i64.const 0x6060606060606060)) (local.get $x))
          (i64.const -1))
        (i64.const 0x8080808080808080))))

  ;; $lower8 lowercases the ASCII capitals A-Z among 8 bytes, leaving every other byte alone.
  (func $lower8 (param $x i64) (result i64)
    (local $h i64)
    (local.set $h (i64.and (local.get $x) (i64.const 0x7f7f7f7f7f7f7f7f)))
    (i64.or (local.get $x)
      (i64.shr_u
        (i64.and
          (i64.and (i64.xor (local.get $x) (i64.const -1)) (i64.const 0x8080808080808080))   ;; ASCII
          (i64.xor (i64.add (local.get $h) (i64.const 0x3f3f3f3f3f3f3f3f))                  ;; >= 'A'
                   (i64.add (local.get $h) (i64.const 0x2525252525252525))))                ;; > 'Z'
        (i64.const 2))))

  ;; $skip_string: $p is on an opening quote; returns the position after the closing one, or -1.
  (func $skip_string (param $p i32) (result i32)
    (local $m i64) (local $k i32) (local $c i32)
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (loop $next
      (if (i32.ge_s (local.get $p) (global.get $end)) (then (return (i32.const -1))))
      (local.set $m (i64.and (call $special (i64.load (local.get $p)))
                             (call $valid (i32.sub (global.get $end) (local.get $p)))))
      (if (i64.eqz (local.get $m))
        (then
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (br $next)))
      (local.set $k (i32.add (local.get $p) (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $m)) (i64.const 3)))))
      (local.set $c (i32.load8_u (local.get $k)))
      (if (i32.eq (local.get $c) (i32.const 34)) (then (return (i32.add (local.get $k) (i32.const 1)))))
      (if (i32.eq (local.get $c) (i32.const 92))
        (then
          (local.set $p (i32.add (local.get $k) (i32.const 2)))
          (br $next))))
    (i32.const -1)) ;; a control character

  ;; $skip_value: returns the position after the value starting at (or after whitespace from) $p, or -1.
  (func $skip_value (param $p i32) (result i32)
    (local $c i32) (local $depth i32)
    (local.set $p (call $ws (local.get $p)))
    (local.set $c (call $at (local.get $p)))
    (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const -1))))
    (if (i32.eq (local.get $c) (i32.const 34)) (then (return (call $skip_string (local.get $p)))))
    (if (i32.or (i32.eq (local.get $c) (i32.const 123)) (i32.eq (local.get $c) (i32.const 91)))
      (then
        ;; containers: count brackets; strings go by in one step each
        (loop $next
          (local.set $c (call $at (local.get $p)))
          (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const -1))))
          (if (i32.eq (local.get $c) (i32.const 34))
            (then
              (local.set $p (call $skip_string (local.get $p)))
              (if (i32.lt_s (local.get $p) (i32.const 0)) (then (return (i32.const -1))))
              (br $next)))
          (if (i32.or (i32.eq (local.get $c) (i32.const 123)) (i32.eq (local.get $c) (i32.const 91)))
            (then (local.set $depth (i32.add (local.get $depth) (i32.const 1)))))
          (if (i32.or (i32.eq (local.get $c) (i32.const 125)) (i32.eq (local.get $c) (i32.const 93)))
            (then
              (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
              (if (i32.eqz (local.get $depth)) (then (return (i32.add (local.get $p) (i32.const 1)))))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $next))))
    ;; a number or literal: up to the next delimiter
    (loop $next
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $c (call $at (local.get $p)))
      (br_if $next (i32.and (i32.ge_s (local.get $c) (i32.const 0))
                            (i32.eqz (i32.or (i32.or (i32.eq (local.get $c) (i32.const 44)) (i32.eq (local.get $c) (i32.const 125)))
                                             (i32.or (i32.eq (local.get $c) (i32.const 93)) (i32.le_u (local.get $c) (i32.const 32))))))))
    (local.get $p))

  ;; $eq compares $n bytes at $a and $b, eight at a time, lowercasing both first when $fold is set.
  (func $eq (param $a i32) (param $b i32) (param $n i32) (param $fold i32) (result i32)
    (local $x i64) (local $y i64)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
    (loop $next
      (local.set $x (i64.load (local.get $a)))
      (local.set $y (i64.load (local.get $b)))
      (if (local.get $fold)
        (then
          (local.set $x (call $lower8 (local.get $x)))
          (local.set $y (call $lower8 (local.get $y)))))
      (if (i64.ne (i64.const 0) (i64.and (i64.xor (local.get $x) (local.get $y)) (call $valid (local.get $n))))
        (then (return (i32.const 0))))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (local.set $b (i32.add (local.get $b) (i32.const 8)))
      (local.set $n (i32.sub (local.get $n) (i32.const 8)))
      (br_if $next (i32.gt_s (local.get $n) (i32.const 0))))
    (i32.const 1))

  ;; $last_at: the position of the last '@' in [$s, $e), or -1.
  (func $last_at (param $s i32) (param $e i32) (result i32)
    (local $z i64) (local $found i32)
    (local.set $found (i32.const -1))
    (if (i32.ge_s (local.get $s) (local.get $e)) (then (return (i32.const -1))))
    (loop $next
      (local.set $z (i64.and (call $zeros (i64.xor (i64.load (local.get $s)) (i64.const 0x4040404040404040)))
                             (call $valid (i32.sub (local.get $e) (local.get $s)))))
      (if (i64.ne (local.get $z) (i64.const 0))
        (then
          (local.set $found (i32.add (local.get $s)
            (i32.wrap_i64 (i64.shr_u (i64.sub (i64.const 63) (i64.clz (local.get $z))) (i64.const 3)))))))
      (local.set $s (i32.add (local.get $s) (i32.const 8)))
      (br_if $next (i32.lt_s (local.get $s) (local.get $e))))
    (local.get $found))

  ;; $find: the position of the value of the first member $key ($klen bytes)
  ;; of the object at $obj, or -1 (also when $obj is -1 or not an object).
  (func $find (param $obj i32) (param $key i32) (param $klen i32) (result i32)
    (local $p i32) (local $ks i32) (local $v i32) (local $c i32)
    (if (i32.lt_s (local.get $obj) (i32.const 0)) (then (return (i32.const -1))))
    (local.set $p (call $ws (local.get $obj)))
    (if (i32.ne (call $at (local.get $p)) (i32.const 123)) (then (return (i32.const -1))))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (loop $member
      (local.set $p (call $ws (local.get $p)))
      (if (i32.ne (call $at (local.get $p)) (i32.const 34)) (then (return (i32.const -1))))
      (local.set $ks (i32.add (local.get $p) (i32.const 1)))
      (local.set $p (call $skip_string (local.get $p)))
      (if (i32.lt_s (local.get $p) (i32.const 0)) (then (return (i32.const -1))))
      (local.set $v (call $ws (local.get $p)))
      (if (i32.ne (call $at (local.get $v)) (i32.const 58)) (then (return (i32.const -1))))
      (local.set $v (call $ws (i32.add (local.get $v) (i32.const 1))))
      (if (i32.eq (i32.sub (i32.sub (local.get $p) (i32.const 1)) (local.get $ks)) (local.get $klen))
        (then
          (if (call $eq (local.get $ks) (local.get $key) (local.get $klen) (i32.const 0))
            (then (return (local.get $v))))))
      (local.set $p (call $skip_value (local.get $v)))
      (if (i32.lt_s (local.get $p) (i32.const 0)) (then (return (i32.const -1))))
      (local.set $p (call $ws (local.get $p)))
      (local.set $c (call $at (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $member (i32.eq (local.get $c) (i32.const 44))))
    (i32.const -1))

  ;; Response writing at $w. Both write whole words: $respond leaves 8 spare bytes.
  (func $put (param $src i32) (param $n i32)
    (memory.copy (global.get $w) (local.get $src) (local.get $n))
    (global.set $w (i32.add (global.get $w) (local.get $n))))

  (func $put_lower (param $src i32) (param $n i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (loop $next
      (i64.store (global.get $w) (call $lower8 (i64.load (local.get $src))))
      (if (i32.lt_s (local.get $n) (i32.const 8))
        (then
          (global.set $w (i32.add (global.get $w) (local.get $n)))
          (return)))
      (global.set $w (i32.add (global.get $w) (i32.const 8)))
      (local.set $src (i32.add (local.get $src) (i32.const 8)))
      (local.set $n (i32.sub (local.get $n) (i32.const 8)))
      (br_if $next (i32.gt_s (local.get $n) (i32.const 0)))))

  ;; $respond: allocates $n bytes and points $w at them; returns the packed ptr<<32|len.
  (func $respond (param $n i32) (result i64)
    (local $p i32)
    (local.set $p (call $alloc (local.get $n)))
    (global.set $w (local.get $p))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))

  (func (export "gh_sign_in") (param $ptr i32) (param $len i32) (result i64)
    (local $email i32) (local $es i32) (local $ee i32) (local $at i32)
    (local $ls i32) (local $ll i32) (local $ds i32) (local $dl i32)
    (local $config i32) (local $p i32) (local $q i32) (local $c i32) (local $allowed i32)
    (local $group i32) (local $gs i32) (local $gl i32) (local $out i64)
    (global.set $end (i32.add (local.get $ptr) (local.get $len)))

    ;; input.profile.email, a non-empty string
    (local.set $email
      (call $find (call $find (call $find (local.get $ptr) (i32.const 16) (i32.const 5)) (i32.const 24) (i32.const 7))
                  (i32.const 32) (i32.const 5)))
    (local.set $ee (i32.const -1))
    (if (i32.eq (call $at (local.get $email)) (i32.const 34))
      (then
        (local.set $es (i32.add (local.get $email) (i32.const 1)))
        (local.set $ee (call $skip_string (local.get $email)))))
    (if (i32.le_s (local.get $ee) (i32.add (local.get $es) (i32.const 1)))
      (then
        (local.set $out (call $respond (i32.const 80)))
        (call $put (i32.const 160) (i32.const 80))
        (return (local.get $out))))
    (local.set $ee (i32.sub (local.get $ee) (i32.const 1))) ;; the closing quote

    ;; split at the last '@' (none: the whole email is the local part, the domain is empty)
    (local.set $at (call $last_at (local.get $es) (local.get $ee)))
    (local.set $ls (local.get $es))
    (if (i32.ge_s (local.get $at) (i32.const 0))
      (then
        (local.set $ll (i32.sub (local.get $at) (local.get $es)))
        (local.set $ds (i32.add (local.get $at) (i32.const 1))))
      (else
        (local.set $ll (i32.sub (local.get $ee) (local.get $es)))
        (local.set $ds (local.get $ee))))
    (local.set $dl (i32.sub (local.get $ee) (local.get $ds)))

    ;; config.allowed_domains: does any string match the domain?
    (local.set $config (call $find (local.get $ptr) (i32.const 40) (i32.const 6)))
    (local.set $p (call $find (local.get $config) (i32.const 48) (i32.const 15)))
    (if (i32.eq (call $at (local.get $p)) (i32.const 91))
      (then
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (block $done
          (loop $item
            (local.set $p (call $ws (local.get $p)))
            (local.set $c (call $at (local.get $p)))
            (br_if $done (i32.or (i32.lt_s (local.get $c) (i32.const 0)) (i32.eq (local.get $c) (i32.const 93))))
            (local.set $q (call $skip_value (local.get $p)))
            (br_if $done (i32.lt_s (local.get $q) (i32.const 0)))
            (if (i32.eq (local.get $c) (i32.const 34))
              (then
                (if (i32.eq (i32.sub (local.get $q) (i32.add (local.get $p) (i32.const 2))) (local.get $dl))
                  (then
                    (if (call $eq (i32.add (local.get $p) (i32.const 1)) (local.get $ds) (local.get $dl) (i32.const 1))
                      (then
                        (local.set $allowed (i32.const 1))
                        (br $done)))))))
            (local.set $p (call $ws (local.get $q)))
            (br_if $done (i32.ne (call $at (local.get $p)) (i32.const 44)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $item)))))
    (if (i32.eqz (local.get $allowed))
      (then
        (local.set $out (call $respond (i32.add (i32.const 75) (local.get $dl))))
        (call $put (i32.const 240) (i32.const 57))
        (call $put_lower (local.get $ds) (local.get $dl))
        (call $put (i32.const 304) (i32.const 18))
        (return (local.get $out))))

    ;; config.group, when a non-empty string
    (local.set $group (call $find (local.get $config) (i32.const 64) (i32.const 5)))
    (if (i32.eq (call $at (local.get $group)) (i32.const 34))
      (then
        (local.set $q (call $skip_string (local.get $group)))
        (if (i32.gt_s (local.get $q) (i32.const 0))
          (then
            (local.set $gs (i32.add (local.get $group) (i32.const 1)))
            (local.set $gl (i32.sub (local.get $q) (i32.add (local.get $group) (i32.const 2))))))))

    ;; {"result":{"sub":"user:default/<local>","ent":["user:default/<local>"(,"<group>")]}}
    (local.set $out (call $respond
      (i32.add (i32.add (i32.const 58) (i32.shl (local.get $ll) (i32.const 1)))
               (select (i32.add (i32.const 3) (local.get $gl)) (i32.const 0) (i32.gt_s (local.get $gl) (i32.const 0))))))
    (call $put (i32.const 80) (i32.const 31))
    (call $put_lower (local.get $ls) (local.get $ll))
    (call $put (i32.const 112) (i32.const 23))
    (call $put_lower (local.get $ls) (local.get $ll))
    (if (i32.gt_s (local.get $gl) (i32.const 0))
      (then
        (call $put (i32.const 136) (i32.const 3))
        (call $put (local.get $gs) (local.get $gl))))
    (call $put (i32.const 140) (i32.const 4))
    (local.get $out))
)
