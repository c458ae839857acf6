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
// (key plus value). It is counted by reading the namespace on the first
// kv_put, so data written before a restart or an upgrade counts, and kept
// current by every kv_put after; mu serialises a plugin's kv_puts so the
// count and the store agree. The count reads at most kv_max_keys + 1 keys:
// past that the namespace is over its quota whatever the rest holds
// (truncated, bytes then counts only what was read), and it is counted
// again if kv_max_keys grows.
type kvUsage struct {
	mu        sync.Mutex
	counted   bool
	truncated bool
	bound     int // the kv_max_keys the count was made under
	keys      int
	bytes     int64
}

// kvCountPage is how many keys one read of the count takes.
const kvCountPage = 1000

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
	if !u.counted || (u.truncated && u.bound < p.limits.KVMaxKeys) {
		if err := p.countKV(ctx, u); err != nil {
			return fmt.Errorf("count the plugin's keys: %w", err)
		}
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

// countKV counts the plugin's namespace into u, reading it a page at a
// time and stopping once it holds more keys than kv_max_keys.
func (p *Plugin) countKV(ctx context.Context, u *kvUsage) error {
	bound := p.limits.KVMaxKeys
	keys, bytes, after := 0, int64(0), ""
	for keys <= bound {
		limit := min(kvCountPage, bound+1-keys)
		page, err := p.settings.KV.ScanPage(ctx, store.PluginKVSpace(p.name), store.Page{After: after, Limit: limit})
		if err != nil {
			return err
		}
		for _, e := range page {
			keys++
			bytes += int64(len(e.Key) + len(e.Value))
		}
		if len(page) < limit {
			break
		}
		after = page[len(page)-1].Key
	}
	u.keys, u.bytes, u.counted = keys, bytes, true
	u.truncated, u.bound = keys > bound, bound
	return nil
}
