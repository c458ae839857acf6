// Package store is Gatehouse's persistence layer: one small key-value
// interface (KV) that each backend implements, and typed collections on top
// of it that the endpoints use. Backends must pass storetest.Run.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Sentinel errors every backend returns, so callers can use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the backend cannot serve the call now, through no
	// fault of the request; the same call may succeed later. Endpoints
	// answer it 503 with Retry-After, never 500.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrFull is ErrUnavailable for writes refused to keep the free-space
	// reserve of the backend's disk: reads are still served, and writes
	// resume by themselves once space is freed.
	ErrFull = fmt.Errorf("%w: storage full", ErrUnavailable)
	// ErrDamaged: the data is damaged or incomplete (a file failed its
	// checksum, acknowledged writes are missing). Opening a damaged store
	// fails with it; the operator restores a copy (see the README).
	ErrDamaged = errors.New("store: data damaged")
)

// WriteChecker is implemented by backends that may refuse writes for a
// while (ErrFull on a full disk); CheckWrite tells, cheaply, whether a
// write would be refused now, for readiness probes.
type WriteChecker interface {
	CheckWrite() error
}

// Backuper is implemented by backends that write a consistent backup of
// themselves while they serve (Badger); GET /admin/backup streams it.
type Backuper interface {
	WriteBackup(ctx context.Context, w io.Writer) error
}

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
	// Apply performs writes atomically, in one durable commit: either all
	// of them take effect or, if one fails, none does and Apply returns
	// its error (ErrConflict, ErrNotFound, or an Update's own, unchanged).
	// Each write is what Create or Update would do alone; keys must be
	// distinct, and Update functions may run more than once.
	Apply(ctx context.Context, writes ...Write) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Scan calls fn for every live entry whose key starts with prefix, in
	// key order, stopping at fn's first error.
	Scan(ctx context.Context, prefix string, fn func(key string, value []byte) error) error
	// ScanPage returns at most p.Limit live entries whose key starts with
	// prefix, in key order (descending when p.Reverse), from just past the
	// cursor p.After (a key the previous page ended at; empty starts at the
	// first key, or the last). A page shorter than p.Limit is the last. It
	// reads no more than the page, and holds nothing (transaction,
	// connection) once it returns, so callers may write between pages.
	ScanPage(ctx context.Context, prefix string, p Page) ([]Entry, error)
	// Close releases the backend.
	Close() error
}

// Page selects one page of a prefix scan (KV.ScanPage).
type Page struct {
	// After is the cursor: the last key of the previous page. Only keys
	// after it (before it, when Reverse) are returned.
	After string
	// Limit is the most entries returned, from 1 to MaxPageLimit.
	Limit   int
	Reverse bool
}

// PrefixEnd is the least key greater than every key starting with prefix,
// or nil if there is none (an empty prefix, or one of 0xff bytes only): the
// end of a prefix scan's range for a backend that reads ranges.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// MaxPageLimit bounds Page.Limit, and so what one ScanPage reads.
const MaxPageLimit = 10_000

// ErrBadPage is ScanPage's answer to a limit out of its range.
var ErrBadPage = errors.New("store: invalid page")

// CheckPage returns ErrBadPage (wrapped) unless p.Limit is in range.
func CheckPage(p Page) error {
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return fmt.Errorf("%w: limit %d is not between 1 and %d", ErrBadPage, p.Limit, MaxPageLimit)
	}
	return nil
}

// Entry is a live entry as ScanPage returns it: with its expiry (zero
// for never), so that it can be copied to another backend as it is.
type Entry struct {
	Key       string
	Value     []byte
	ExpiresAt time.Time
}

// Write is one write of an atomic batch (KV.Apply).
type Write struct {
	Op  Op
	Key string
	// Value and ExpiresAt are what OpCreate writes.
	Value     []byte
	ExpiresAt time.Time
	// Fn computes OpUpdate's new value from the current one.
	Fn func(old []byte) ([]byte, error)
	// Renew, when set, gives OpUpdate's entry a new expiry (zero: never):
	// it is called with the value Fn returned. Unset, an update keeps the
	// entry's expiry.
	Renew func(value []byte) time.Time
	// Expect, when set, is OpUpdate's entry as the caller last read it. It
	// changes nothing of what the update does: a backend may run Fn on it
	// ahead and commit the result only if the entry still holds it (a
	// compare-and-swap that saves reading the entry in the batch), and
	// otherwise does as without it, Fn running on the current value.
	Expect []byte
}

// Op is the kind of a Write.
type Op int

const (
	// OpCreate writes Value only if no live entry is at Key (else ErrConflict).
	OpCreate Op = iota + 1
	// OpUpdate replaces a live entry with Fn(old), keeping its expiry
	// unless Renew is set (else ErrNotFound).
	OpUpdate
)

// CreateWrite is the batch form of KV.Create.
func CreateWrite(key string, value []byte, expiresAt time.Time) Write {
	return Write{Op: OpCreate, Key: key, Value: value, ExpiresAt: expiresAt}
}

// UpdateWrite is the batch form of KV.Update.
func UpdateWrite(key string, fn func(old []byte) ([]byte, error)) Write {
	return Write{Op: OpUpdate, Key: key, Fn: fn}
}

// UpdateWriteFrom is UpdateWrite of an entry the caller read as expect
// (Write.Expect).
func UpdateWriteFrom(key string, expect []byte, fn func(old []byte) ([]byte, error)) Write {
	return Write{Op: OpUpdate, Key: key, Fn: fn, Expect: expect}
}

// ErrBadWrite is Apply's answer to a batch it cannot run: an empty or
// repeated key, or an unknown operation.
var ErrBadWrite = errors.New("store: invalid write in batch")

// CheckWrites returns ErrBadWrite (wrapped) unless every write has a
// known operation and a distinct non-empty key. Batches are a handful of
// writes (every Create and Update is a batch of one), so repeats are found
// by comparing pairs, without allocating a set.
func CheckWrites(writes []Write) error {
	for i, w := range writes {
		switch {
		case w.Key == "":
			return fmt.Errorf("%w: empty key", ErrBadWrite)
		case slices.ContainsFunc(writes[:i], func(o Write) bool { return o.Key == w.Key }):
			return fmt.Errorf("%w: key %q twice", ErrBadWrite, w.Key)
		case w.Op != OpCreate && w.Op != OpUpdate:
			return fmt.Errorf("%w: operation %d on %q", ErrBadWrite, w.Op, w.Key)
		case w.Op == OpUpdate && w.Fn == nil:
			return fmt.Errorf("%w: update of %q without a function", ErrBadWrite, w.Key)
		}
	}
	return nil
}

// Expiring is implemented by records that expire; their expiry becomes the
// backend entry's TTL.
type Expiring interface {
	Expiry() time.Time
}
