//go:build wasip1

package gatehouse

import (
	"errors"
	"runtime"
	"unsafe"
)

// live keeps every buffer handed to the host reachable until the host frees
// it: Go's collector does not see pointers held by the host.
var live = map[uint32][]byte{}

func pin(b []byte) uint32 {
	if len(b) == 0 {
		b = make([]byte, 1)
	}
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	live[p] = b
	return p
}

// take returns the size bytes at ptr that the host wrote into a buffer from
// gh_alloc and releases the buffer.
func take(ptr, size uint32) []byte {
	b, ok := live[ptr]
	if !ok || int(size) > len(b) {
		return nil
	}
	delete(live, ptr)
	sinceGC += int(size)
	return b[:size:size]
}

//go:wasmexport gh_abi_version
func ghABIVersion() int32 { return ABIVersion }

//go:wasmexport gh_alloc
func ghAlloc(size uint32) uint32 { return pin(make([]byte, size)) }

//go:wasmexport gh_free
func ghFree(ptr, size uint32) { delete(live, ptr) }

// Serve is the body of a hook export: it reads the request the host wrote at
// ptr, runs the hook's handler and returns the response packed as
// ptr<<32 | len. The hook packages call it; a plugin can also write its own
// export with it:
//
//	//go:wasmexport gh_sign_in
//	func signIn(ptr, size uint32) uint64 { return gatehouse.Serve("sign_in", ptr, size) }
func Serve(hook string, ptr, size uint32) uint64 {
	var req []byte
	if b, ok := live[ptr]; ok && int(size) <= len(b) {
		req = b[:size]
	}
	resp := Call(hook, req)
	collect(len(req) + len(resp))
	return uint64(pin(resp))<<32 | uint64(len(resp))
}

// sinceGC counts the bytes that crossed the ABI (requests, responses, host
// answers) since the last forced collection.
var sinceGC int

// gcEvery bounds the garbage between collections.
const gcEvery = 1 << 20

// collect lets the collector keep up. In a reactor the runtime only runs
// while the host is inside an export, so the background mark workers
// rarely get a turn: yielding after each call lets them run, and after a
// megabyte of traffic a full collection keeps large requests from running a
// 16 MiB instance out of memory.
func collect(n int) {
	sinceGC += n
	if sinceGC < gcEvery {
		runtime.Gosched()
		return
	}
	sinceGC = 0
	runtime.GC()
}

//go:wasmimport gatehouse log
func ghLog(level int32, ptr unsafe.Pointer, size uint32)

//go:wasmimport gatehouse http_request
func ghHTTPRequest(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport gatehouse kv_get
func ghKVGet(kptr unsafe.Pointer, klen uint32) uint64

//go:wasmimport gatehouse kv_put
func ghKVPut(kptr unsafe.Pointer, klen uint32, vptr unsafe.Pointer, vlen uint32) int32

func hostLog(level Level, msg string) {
	ghLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func hostHTTP(req []byte) ([]byte, error) {
	packed := ghHTTPRequest(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
	out := take(uint32(packed>>32), uint32(packed))
	if out == nil {
		return nil, errors.New("gatehouse: http_request returned no response")
	}
	return out, nil
}

func hostKVGet(key string) ([]byte, bool) {
	packed := ghKVGet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)))
	if packed == 0 {
		return nil, false
	}
	v := take(uint32(packed>>32), uint32(packed))
	return v, v != nil
}

func hostKVPut(key string, value []byte) int32 {
	return ghKVPut(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value)))
}
