;; A Gatehouse plugin in WebAssembly text (ABI version 1, sdk/ABI.md): the
;; skeleton every plugin needs, with one hook that answers a constant.
;; Copy it, replace the hook's body, build with:
;;
;;   wat2wasm template.wat -o my-plugin.wasm
;;
;; The host's side of a call:
;;   1. ptr = gh_alloc(len); it writes the request JSON there:
;;      {"abi":1,"hook":"sign_in","config":{...},"input":{...}}
;;   2. packed = gh_<hook>(ptr, len); the response JSON, allocated by the
;;      plugin, is at packed >> 32 with length packed & 0xffffffff:
;;      {"result": ...} or {"error":{"code":"...","message":"..."}}
;;   3. it copies the response and calls gh_free on both buffers.
(module
  ;; Host functions, module "gatehouse". Import only what you use: the host
  ;; refuses a plugin importing http_request without an http_allow list in its
  ;; config, or kv_get/kv_put without kv: true. log is always granted.
  ;;
  ;; (import "gatehouse" "log" (func $log (param $level i32) (param $ptr i32) (param $len i32)))
  ;;     level 0 debug, 1 info, 2 warn, 3 error
  ;; (import "gatehouse" "http_request" (func $http (param $ptr i32) (param $len i32) (result i64)))
  ;;     request {"method","url","headers","body"}; returns packed ptr/len of
  ;;     {"status","headers","body"} or {"error":"..."} in a buffer the host
  ;;     got from gh_alloc (free it with gh_free when done)
  ;; (import "gatehouse" "kv_get" (func $kv_get (param $kptr i32) (param $klen i32) (result i64)))
  ;;     packed ptr/len of the value (from gh_alloc), or 0 when missing
  ;; (import "gatehouse" "kv_put" (func $kv_put (param $kptr i32) (param $klen i32) (param $vptr i32) (param $vlen i32) (result i32)))
  ;;     0 on success

  ;; The memory the host reads and writes. Pages grow on demand, up to the
  ;; plugin's memory limit (a grow past it fails, and $alloc traps).
  (memory (export "memory") 1)

  ;; Constant data lives below 1024; the heap starts there.
  (data (i32.const 16) "{\"result\":{}}")  ;; 13 bytes

  ;; A bump allocator: when every buffer handed out has been freed (the host
  ;; frees the request and the response after each call) the heap starts
  ;; over, so an instance serves any number of calls in constant memory.
  (global $heap (mut i32) (i32.const 1024))
  (global $live (mut i32) (i32.const 0))

  ;; Required: the ABI version this module speaks.
  (func (export "gh_abi_version") (result i32) (i32.const 1))

  ;; Required: memory for the host to write requests (and host-function answers) into.
  (func $alloc (export "gh_alloc") (param $n i32) (result i32)
    (local $p i32) (local $next i32) (local $have i32)
    (local.set $p (global.get $heap))
    (local.set $next (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7)) (i32.const -8)))
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

  ;; Optional: the host calls it on the request and the response after each call.
  (func (export "gh_free") (param $p i32) (param $n i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (if (i32.le_s (global.get $live) (i32.const 0))
      (then
        (global.set $live (i32.const 0))
        (global.set $heap (i32.const 1024)))))

  ;; One export per hook served: gh_sign_in, gh_auth_handler, gh_resolve_user,
  ;; gh_notify, gh_token_claims. This one answers {"result":{}} to anything;
  ;; examples/plugins/wat/signin.wat shows how to read the request.
  (func (export "gh_token_claims") (param $ptr i32) (param $len i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (i32.const 13)))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 13))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.const 13)))
)
