// Package memory is an in-process store.KV for tests and ephemeral runs.
package memory

import (
	"bytes"
	"context"
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok && e.live(m.now()) {
		return store.ErrConflict
	}
	m.entries[key] = entry{bytes.Clone(value), expiresAt}
	return nil
}

func (m *KV) Put(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = entry{bytes.Clone(value), expiresAt}
	return nil
}

func (m *KV) Update(_ context.Context, key string, fn func([]byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || !e.live(m.now()) {
		return store.ErrNotFound
	}
	value, err := fn(bytes.Clone(e.value))
	if err != nil {
		return err
	}
	m.entries[key] = entry{bytes.Clone(value), e.expiresAt}
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
