package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// kvUsage is what one plugin's kv namespace holds: its keys and their bytes
// (key plus value). It is counted by scanning the namespace on the first
// kv_put, so data written before a restart or an upgrade counts, and kept
// current by every kv_put after; mu serialises a plugin's kv_puts so the
// count and the store agree.
type kvUsage struct {
	mu      sync.Mutex
	counted bool
	keys    int
	bytes   int64
}

func (r *Runtime) usage(name string) *kvUsage {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.kvUsage[name]
	if !ok {
		u = &kvUsage{}
		r.kvUsage[name] = u
	}
	return u
}

// kvPut stores value at key (already namespaced) unless that would take
// the plugin's namespace past its kv_max_keys or kv_max_bytes: then it
// returns an error wrapping ErrKVQuota and stores nothing.
func (p *Plugin) kvPut(ctx context.Context, key string, value []byte) error {
	u := p.runtime.usage(p.name)
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.counted {
		keys, bytes := 0, int64(0)
		err := p.settings.KV.Scan(ctx, store.PluginKVSpace(p.name), func(k string, v []byte) error {
			keys++
			bytes += int64(len(k) + len(v))
			return nil
		})
		if err != nil {
			return fmt.Errorf("count the plugin's keys: %w", err)
		}
		u.keys, u.bytes, u.counted = keys, bytes, true
	}
	keys, bytes := u.keys+1, u.bytes+int64(len(key)+len(value))
	old, err := p.settings.KV.Get(ctx, key)
	switch {
	case err == nil:
		keys, bytes = keys-1, bytes-int64(len(key)+len(old))
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if keys > p.limits.KVMaxKeys || bytes > p.limits.KVMaxBytes {
		return fmt.Errorf("%w: %d keys, %d bytes after this write (max %d keys, %d bytes)",
			ErrKVQuota, keys, bytes, p.limits.KVMaxKeys, p.limits.KVMaxBytes)
	}
	if err := p.settings.KV.Put(ctx, key, value, time.Time{}); err != nil {
		return err
	}
	u.keys, u.bytes = keys, bytes
	return nil
}
