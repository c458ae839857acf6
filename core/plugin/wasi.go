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
func (p *Plugin) runCommand(ctx context.Context, env []byte) ([]byte, Reason, error) {
	ctx, cancel := context.WithTimeout(ctx, p.limits.Timeout)
	defer cancel()
	stdout := &cappedBuffer{max: p.limits.MaxResponseBytes}
	logs := &logBudget{max: p.limits.MaxLogBytes}
	stderr := newLineLogger(p.logger, "stderr", slog.LevelWarn, logs)
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
		if r := quotaReason(err); r != "" {
			return nil, r, err
		}
		return nil, ReasonTrap, err
	}
	if err := logs.exceeded(); err != nil {
		return nil, ReasonLogQuota, err
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
	budget *logBudget
}

func newLineLogger(logger *slog.Logger, stream string, level slog.Level, budget *logBudget) *lineLogger {
	return &lineLogger{logger: logger, stream: stream, level: level, budget: budget}
}

// Write logs b's lines; past the call's log budget it drops them and
// fails the write (the call then fails with ReasonLogQuota).
func (l *lineLogger) Write(b []byte) (int, error) {
	if !l.budget.take(len(b)) {
		return 0, ErrLogQuota
	}
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

// logBudget counts the bytes one call logs (log, stdout, stderr) against
// the plugin's max_log_bytes.
type logBudget struct {
	mu   sync.Mutex
	used int
	max  int
	over bool
}

// take charges n bytes and reports whether they fit; once over, nothing fits.
func (b *logBudget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over || b.used+n > b.max {
		b.over = true
		return false
	}
	b.used += n
	return true
}

func (b *logBudget) reset() {
	b.mu.Lock()
	b.used, b.over = 0, false
	b.mu.Unlock()
}

// exceeded returns the quota error once the call went over the budget.
func (b *logBudget) exceeded() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return fmt.Errorf("%w: more than %d bytes logged in one call", ErrLogQuota, b.max)
	}
	return nil
}
