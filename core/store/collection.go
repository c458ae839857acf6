package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Collection stores records of one type under a key prefix, encoded as JSON.
type Collection[T any] struct {
	kv     KV
	prefix string
}

// NewCollection returns a collection of T stored in kv under prefix.
func NewCollection[T any](kv KV, prefix string) Collection[T] {
	return Collection[T]{kv: kv, prefix: prefix + "/"}
}

func expiryOf(v any) time.Time {
	if e, ok := v.(Expiring); ok {
		return e.Expiry()
	}
	return time.Time{}
}

func (c Collection[T]) key(id string) string { return c.prefix + id }

// Key is the backend key of the record with id, for Store.ReadAhead.
func (c Collection[T]) Key(id string) string { return c.key(id) }

// read returns the stored record with id: what Store.ReadAhead read
// under ctx, or else what the backend holds.
func (c Collection[T]) read(ctx context.Context, id string) ([]byte, error) {
	key := c.key(id)
	if raw, ok := readAheadOf(ctx, key); ok {
		if raw == nil {
			return nil, ErrNotFound
		}
		return raw, nil
	}
	return c.kv.Get(ctx, key)
}

// Get returns the record with id, or ErrNotFound.
func (c Collection[T]) Get(ctx context.Context, id string) (T, error) {
	var v T
	raw, err := c.read(ctx, id)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("store: decode %s%s: %w", c.prefix, id, err)
	}
	return v, nil
}

// Version is a record's stored form as GetVersion read it, for an update
// of what was read to be a compare-and-swap against it (UpdateWriteFrom).
type Version []byte

// GetVersion is Get that returns the record's Version as well.
func (c Collection[T]) GetVersion(ctx context.Context, id string) (T, Version, error) {
	var v T
	raw, err := c.read(ctx, id)
	if err != nil {
		return v, nil, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, nil, fmt.Errorf("store: decode %s%s: %w", c.prefix, id, err)
	}
	return v, Version(raw), nil
}

// Create stores v under id, or returns ErrConflict if id is taken.
func (c Collection[T]) Create(ctx context.Context, id string, v T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s%s: %w", c.prefix, id, err)
	}
	return c.kv.Create(ctx, c.key(id), raw, expiryOf(&v))
}

// Put stores v under id, replacing any previous record.
func (c Collection[T]) Put(ctx context.Context, id string, v T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s%s: %w", c.prefix, id, err)
	}
	return c.kv.Put(ctx, c.key(id), raw, expiryOf(&v))
}

// Update atomically replaces the record with fn(old) and returns the new
// record. fn may be called more than once; it must not have side effects.
func (c Collection[T]) Update(ctx context.Context, id string, fn func(old T) (T, error)) (T, error) {
	var updated T
	err := c.kv.Update(ctx, c.key(id), func(raw []byte) ([]byte, error) {
		var old T
		if err := json.Unmarshal(raw, &old); err != nil {
			return nil, fmt.Errorf("store: decode %s%s: %w", c.prefix, id, err)
		}
		v, err := fn(old)
		if err != nil {
			return nil, err
		}
		updated = v
		return json.Marshal(v)
	})
	return updated, err
}

// UpdateRenewing is Update for a record whose expiry the update moves:
// the entry's expiry becomes the new record's (Expiring), where Update
// keeps the entry's.
func (c Collection[T]) UpdateRenewing(ctx context.Context, id string, fn func(old T) (T, error)) (T, error) {
	var updated T
	w := c.UpdateWrite(id, func(old T) (T, error) {
		v, err := fn(old)
		updated = v
		return v, err
	})
	w.Renew = func([]byte) time.Time { return expiryOf(&updated) }
	err := c.kv.Apply(ctx, w)
	return updated, err
}

// CreateWrite is Create as one write of an atomic batch (Store.Apply).
func (c Collection[T]) CreateWrite(id string, v T) (Write, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Write{}, fmt.Errorf("store: encode %s%s: %w", c.prefix, id, err)
	}
	return CreateWrite(c.key(id), raw, expiryOf(&v)), nil
}

// UpdateWrite is Update as one write of an atomic batch (Store.Apply).
func (c Collection[T]) UpdateWrite(id string, fn func(old T) (T, error)) Write {
	return UpdateWrite(c.key(id), c.updateFn(id, fn))
}

// UpdateWriteFrom is UpdateWrite of a record read at version (GetVersion):
// it does the same, and a backend may spare reading the record again
// when it has not changed since (Write.Expect).
func (c Collection[T]) UpdateWriteFrom(id string, version Version, fn func(old T) (T, error)) Write {
	return UpdateWriteFrom(c.key(id), version, c.updateFn(id, fn))
}

func (c Collection[T]) updateFn(id string, fn func(old T) (T, error)) func([]byte) ([]byte, error) {
	return func(raw []byte) ([]byte, error) {
		var old T
		if err := json.Unmarshal(raw, &old); err != nil {
			return nil, fmt.Errorf("store: decode %s%s: %w", c.prefix, id, err)
		}
		v, err := fn(old)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
}

// Delete removes the record with id; a missing record is not an error.
func (c Collection[T]) Delete(ctx context.Context, id string) error {
	return c.kv.Delete(ctx, c.key(id))
}

// ErrStop, returned by a List callback, ends the listing early without error.
var ErrStop = errors.New("store: stop listing")

// List calls fn for every record, in id order, until fn returns an error.
func (c Collection[T]) List(ctx context.Context, fn func(id string, v T) error) error {
	err := c.kv.Scan(ctx, c.prefix, func(key string, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("store: decode %s: %w", key, err)
		}
		return fn(strings.TrimPrefix(key, c.prefix), v)
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Record is a record with its id, as ListPage returns it.
type Record[T any] struct {
	ID    string
	Value T
}

// ListPage returns one page of records (KV.ScanPage), the ids after
// p.After (before it when p.Reverse), and the cursor of the next page:
// the last id, or "" when this page was the last.
func (c Collection[T]) ListPage(ctx context.Context, p Page) (records []Record[T], next string, err error) {
	return c.ListPageUnder(ctx, "", p)
}

// ListPageUnder is ListPage of the records whose ids start with under.
func (c Collection[T]) ListPageUnder(ctx context.Context, under string, p Page) (records []Record[T], next string, err error) {
	if p.After != "" {
		p.After = c.key(p.After)
	}
	page, err := c.kv.ScanPage(ctx, c.key(under), p)
	if err != nil {
		return nil, "", err
	}
	records = make([]Record[T], len(page))
	for i, e := range page {
		records[i].ID = strings.TrimPrefix(e.Key, c.prefix)
		if err := json.Unmarshal(e.Value, &records[i].Value); err != nil {
			return nil, "", fmt.Errorf("store: decode %s: %w", e.Key, err)
		}
	}
	if len(page) == p.Limit {
		next = records[len(records)-1].ID
	}
	return records, next, nil
}
