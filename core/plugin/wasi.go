package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// runCommand is the WASI-command fallback: a module exporting _start and no
// gh_* hook runs once per call, the envelope on stdin and the response on
// stdout, under the same deadline, memory cap and response cap.
func (p *Plugin) runCommand(ctx context.Context, env []byte) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.limits.Timeout)
	defer cancel()
	stdout := &cappedBuffer{max: p.limits.MaxResponseBytes}
	stderr := newLineLogger(p.logger, "stderr", slog.LevelWarn)
	defer stderr.flush()
	cfg := p.modConfig.
		WithArgs(p.name).
		WithStdin(bytes.NewReader(env)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithStartFunctions("_start")
	mod, err := p.wr.InstantiateModule(ctx, p.compiled, cfg)
	if mod != nil {
		_ = mod.Close(context.WithoutCancel(ctx))
	}
	if stdout.overflow {
		return nil, ReasonResponseTooLarge, fmt.Errorf("stdout over %d bytes", p.limits.MaxResponseBytes)
	}
	if err != nil {
		if r := exitReason(err); r != "" {
			return nil, r, err
		}
		return nil, trapReason(err), err
	}
	return stdout.buf.Bytes(), "", nil
}

// errStdoutFull is what a command's write past the response cap gets.
var errStdoutFull = errors.New("stdout over the response size cap")

// cappedBuffer collects a command's stdout up to max bytes.
type cappedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (c *cappedBuffer) Write(b []byte) (int, error) {
	if c.buf.Len()+len(b) > c.max {
		c.overflow = true
		return 0, errStdoutFull
	}
	return c.buf.Write(b)
}

// maxLineBytes bounds one logged line of guest output; longer lines are
// split, so a guest cannot make the host buffer without bound.
const maxLineBytes = 4096

// lineLogger turns a guest's stdout or stderr into one log record per line,
// tagged with the plugin's name (already on logger) and the stream.
type lineLogger struct {
	mu     sync.Mutex
	logger *slog.Logger
	stream string
	level  slog.Level
	buf    []byte
}

func newLineLogger(logger *slog.Logger, stream string, level slog.Level) *lineLogger {
	return &lineLogger{logger: logger, stream: stream, level: level}
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.buf = append(l.buf, b...)
			if len(l.buf) >= maxLineBytes {
				l.emit()
			}
			break
		}
		l.buf = append(l.buf, b[:i]...)
		l.emit()
		b = b[i+1:]
	}
	return n, nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit()
	}
}

func (l *lineLogger) emit() {
	for s := l.buf; len(s) > 0; {
		n := min(len(s), maxLineBytes)
		l.logger.Log(context.Background(), l.level, string(bytes.TrimRight(s[:n], "\r")), "stream", l.stream)
		s = s[n:]
	}
	l.buf = l.buf[:0]
}
