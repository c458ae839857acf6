package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// PagedKV wraps a backend for tests of code that must read the key
// spaces it sweeps or lists in bounded pages: a whole-prefix Scan of one
// of them fails, and ScanPage counts the entries it returns.
type PagedKV struct {
	store.KV
	prefixes []string
	read     atomic.Int64
}

// Paged wraps kv, refusing a Scan of a prefix that starts with (or lies
// within) one of prefixes.
func Paged(kv store.KV, prefixes ...string) *PagedKV {
	return &PagedKV{KV: kv, prefixes: prefixes}
}

func (p *PagedKV) watched(prefix string) bool {
	for _, w := range p.prefixes {
		if strings.HasPrefix(prefix, w) || strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}

// Scan refuses the watched prefixes.
func (p *PagedKV) Scan(ctx context.Context, prefix string, fn func(string, []byte) error) error {
	if p.watched(prefix) {
		return fmt.Errorf("storetest: unbounded scan of %q", prefix)
	}
	return p.KV.Scan(ctx, prefix, fn)
}

// ScanPage counts what it returns of the watched prefixes.
func (p *PagedKV) ScanPage(ctx context.Context, prefix string, pg store.Page) ([]store.Entry, error) {
	page, err := p.KV.ScanPage(ctx, prefix, pg)
	if p.watched(prefix) {
		p.read.Add(int64(len(page)))
	}
	return page, err
}

// Read is how many entries of the watched prefixes ScanPage has returned
// so far; ResetRead starts counting again.
func (p *PagedKV) Read() int64 { return p.read.Load() }

// ResetRead sets the count of Read to zero.
func (p *PagedKV) ResetRead() { p.read.Store(0) }
