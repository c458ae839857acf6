// Package store is Gatehouse's persistence layer: one small key-value
// interface (KV) that each backend implements, and typed collections on top
// of it that the endpoints use. Backends must pass storetest.Run.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns, so callers can use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
)

// KV is the contract between the typed collections and a backend.
// Keys are opaque non-empty strings (writing the empty key is an error,
// reading it finds nothing); values are opaque bytes. A zero expiresAt means
// the entry never expires; an expired entry behaves as if it did not exist.
// Every write is durable when the call returns (nothing acknowledged is lost
// if the process is killed).
type KV interface {
	// Get returns the value at key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Create writes value at key only if no live entry exists there,
	// otherwise it returns ErrConflict.
	Create(ctx context.Context, key string, value []byte, expiresAt time.Time) error
	// Put writes value at key, replacing any entry.
	Put(ctx context.Context, key string, value []byte, expiresAt time.Time) error
	// Update is an atomic read-modify-write: fn sees the current value and
	// returns the new one, keeping the entry's expiry. fn may run more than
	// once if the entry changed concurrently. It returns ErrNotFound when
	// there is no live entry, or fn's error unchanged.
	Update(ctx context.Context, key string, fn func(old []byte) ([]byte, error)) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Scan calls fn for every live entry whose key starts with prefix, in
	// key order, stopping at fn's first error.
	Scan(ctx context.Context, prefix string, fn func(key string, value []byte) error) error
	// Close releases the backend.
	Close() error
}

// Expiring is implemented by records that expire; their expiry becomes the
// backend entry's TTL.
type Expiring interface {
	Expiry() time.Time
}
