// Package memory is an in-process store.KV for tests and ephemeral runs.
package memory

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

var _ store.KV = (*KV)(nil)

type entry struct {
	value     []byte
	expiresAt time.Time
}

func (e entry) live(now time.Time) bool { return e.expiresAt.IsZero() || now.Before(e.expiresAt) }

// KV keeps entries in a map guarded by a mutex.
type KV struct {
	mu      sync.RWMutex
	entries map[string]entry
	now     func() time.Time
	// writes counts writes since the last sweep of expired entries.
	writes int
}

// sweepEvery is how many writes pass between two sweeps: often enough that
// expired entries cannot pile up, rarely enough that the O(n) walk costs
// little per write.
const sweepEvery = 1024

// errEmptyKey refuses writes to the empty key, as every backend does.
var errEmptyKey = errors.New("memory: empty key")

// wrote records a write (called with mu held) and, every sweepEvery
// writes, drops expired entries so that a long-running process does not
// keep every code and session it ever issued.
func (m *KV) wrote(now time.Time) {
	m.writes++
	if m.writes < sweepEvery {
		return
	}
	m.writes = 0
	for k, e := range m.entries {
		if !e.live(now) {
			delete(m.entries, k)
		}
	}
}

// New returns an empty store.
func New() *KV { return &KV{entries: map[string]entry{}, now: time.Now} }

func (m *KV) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[key]
	if !ok || !e.live(m.now()) {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(e.value), nil
}

func (m *KV) Create(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	if key == "" {
		return errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e, ok := m.entries[key]; ok && e.live(now) {
		return store.ErrConflict
	}
	m.entries[key] = entry{bytes.Clone(value), expiresAt}
	m.wrote(now)
	return nil
}

func (m *KV) Put(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	if key == "" {
		return errEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = entry{bytes.Clone(value), expiresAt}
	m.wrote(m.now())
	return nil
}

func (m *KV) Update(_ context.Context, key string, fn func([]byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e, ok := m.entries[key]
	if !ok || !e.live(now) {
		return store.ErrNotFound
	}
	value, err := fn(bytes.Clone(e.value))
	if err != nil {
		return err
	}
	m.entries[key] = entry{bytes.Clone(value), e.expiresAt}
	m.wrote(now)
	return nil
}

func (m *KV) Apply(_ context.Context, writes ...store.Write) error {
	if err := store.CheckWrites(writes); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	next := make([]entry, len(writes))
	for i, w := range writes {
		e, ok := m.entries[w.Key]
		live := ok && e.live(now)
		switch w.Op {
		case store.OpCreate:
			if live {
				return store.ErrConflict
			}
			next[i] = entry{bytes.Clone(w.Value), w.ExpiresAt}
		case store.OpUpdate:
			if !live {
				return store.ErrNotFound
			}
			value, err := w.Fn(bytes.Clone(e.value))
			if err != nil {
				return err
			}
			next[i] = entry{bytes.Clone(value), e.expiresAt}
			if w.Renew != nil {
				next[i].expiresAt = w.Renew(value)
			}
		}
	}
	for i, w := range writes {
		m.entries[w.Key] = next[i]
		m.wrote(now)
	}
	return nil
}

func (m *KV) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

func (m *KV) Scan(ctx context.Context, prefix string, fn func(string, []byte) error) error {
	m.mu.RLock()
	now := m.now()
	var keys []string
	for k, e := range m.entries {
		if strings.HasPrefix(k, prefix) && e.live(now) {
			keys = append(keys, k)
		}
	}
	snapshot := make(map[string][]byte, len(keys))
	for _, k := range keys {
		snapshot[k] = bytes.Clone(m.entries[k].value)
	}
	m.mu.RUnlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, snapshot[k]); err != nil {
			return err
		}
	}
	return nil
}

func (m *KV) Close() error { return nil }

func (m *KV) ScanPage(ctx context.Context, prefix string, p store.Page) ([]store.Entry, error) {
	if err := store.CheckPage(p); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.now()
	var keys []string
	for k, e := range m.entries {
		if !strings.HasPrefix(k, prefix) || !e.live(now) {
			continue
		}
		if p.After != "" && ((!p.Reverse && k <= p.After) || (p.Reverse && k >= p.After)) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if p.Reverse {
		slices.Reverse(keys)
	}
	keys = keys[:min(len(keys), p.Limit)]
	out := make([]store.Entry, len(keys))
	for i, k := range keys {
		e := m.entries[k]
		out[i] = store.Entry{Key: k, Value: bytes.Clone(e.value), ExpiresAt: e.expiresAt}
	}
	return out, nil
}
