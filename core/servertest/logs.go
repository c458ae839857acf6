package servertest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// LogBuffer collects log or process output that several goroutines write.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// CaptureLogs sends the default logger's records, as text, to a new
// LogBuffer until the test ends. The default logger is the process's: a
// test that captures it must not run in parallel with others.
func CaptureLogs(tb testing.TB) *LogBuffer {
	tb.Helper()
	logs := &LogBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, nil)))
	tb.Cleanup(func() { slog.SetDefault(prev) })
	return logs
}
