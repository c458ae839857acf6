//go:build !wasip1

package gatehouse

import (
	"context"
	"log/slog"
	"sync"
)

// Outside Wasm there is no host: these let handlers run under a plain
// `go test`. Log goes to slog, the key-value store is this process's memory
// (so a handler's KVPut is visible to its next KVGet), and HTTP is refused
// because only the host may apply the plugin's URL allow-list.

var (
	kvMu sync.Mutex
	kv   = map[string][]byte{}
)

func hostLog(level Level, msg string) {
	l := slog.LevelInfo
	switch level {
	case LevelDebug:
		l = slog.LevelDebug
	case LevelWarn:
		l = slog.LevelWarn
	case LevelError:
		l = slog.LevelError
	}
	slog.Log(context.Background(), l, msg, "source", "plugin")
}

func hostHTTP([]byte) ([]byte, error) { return nil, ErrNoHost }

func hostKVGet(key string) ([]byte, bool) {
	kvMu.Lock()
	defer kvMu.Unlock()
	v, ok := kv[key]
	return append([]byte(nil), v...), ok
}

func hostKVPut(key string, value []byte) int32 {
	kvMu.Lock()
	defer kvMu.Unlock()
	kv[key] = append([]byte(nil), value...)
	return 0
}
