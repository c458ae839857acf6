package store

import (
	"context"
	"errors"
	"sync/atomic"
)

// MultiGetter is implemented by backends for which every read is a round
// trip to a database server (PostgreSQL): GetMany reads several keys in
// one. values[i] is the live value at keys[i], nil when there is none.
type MultiGetter interface {
	GetMany(ctx context.Context, keys []string) (values [][]byte, err error)
}

type readAheadKey struct{}

// readAhead is what ReadAhead read; each entry answers one read.
type readAhead struct {
	keys   []string
	values [][]byte
	taken  []atomic.Bool
}

// ReadAhead reads keys at once when the backend can (MultiGetter), and
// returns a context under which the first Get or GetVersion of each of
// them answers with what it read instead of reading again: a request that
// knows which records it is about to read (the token endpoint: the client
// and the code) reads them in one round trip. It is no cache: what it
// read serves the one request that read it, once per key, and a later
// read of the same key goes to the backend, as does every read when the
// backend has no GetMany or the read-ahead failed.
//
// When the backend is unavailable (ErrUnavailable: the database does not
// answer), it returns that error, so that the request fails now rather
// than waiting out its reads again one by one; after any other error it
// reads nothing ahead, and the reads themselves say what is wrong.
func (s *Store) ReadAhead(ctx context.Context, keys ...string) (context.Context, error) {
	mg, ok := s.KV.(MultiGetter)
	if !ok || len(keys) == 0 {
		return ctx, nil
	}
	values, err := mg.GetMany(ctx, keys)
	if errors.Is(err, ErrUnavailable) {
		return ctx, err
	}
	if err != nil || len(values) != len(keys) {
		return ctx, nil
	}
	return context.WithValue(ctx, readAheadKey{}, &readAhead{keys: keys, values: values, taken: make([]atomic.Bool, len(keys))}), nil
}

// readAheadOf returns what ReadAhead read at key under ctx, the first time
// it is asked: ok is false when it read nothing there, or that has been
// taken already.
func readAheadOf(ctx context.Context, key string) (value []byte, ok bool) {
	ra, _ := ctx.Value(readAheadKey{}).(*readAhead)
	if ra == nil {
		return nil, false
	}
	for i, k := range ra.keys {
		if k == key && ra.taken[i].CompareAndSwap(false, true) {
			return ra.values[i], true
		}
	}
	return nil, false
}
