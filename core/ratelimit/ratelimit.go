// Package ratelimit is where the server limits how often a caller may do
// something. Buckets are token buckets kept in the process: with several
// replicas each counts what it serves, which suits limits against load.
// Failures counts failures in the store, shared by every replica on one
// database, for limits that stop guessing (a user_code), where replicas
// counting apart would multiply the guesses by their number.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// maxKeys bounds the buckets one Buckets keeps; past it they all start
// again full (the price of bounding memory against callers with many
// addresses).
const maxKeys = 100_000

// Buckets keeps a token bucket per key (a remote address, a client id),
// each refilling at the same rate up to the same burst. It is safe for
// concurrent use.
type Buckets struct {
	limit rate.Limit
	burst int
	// idle is how long a bucket may go unused before it is dropped: by
	// then it is full again, so dropping it changes nothing.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// NewBuckets returns buckets that refill perSecond tokens a second, up to
// burst.
func NewBuckets(perSecond float64, burst int) *Buckets {
	idle := 5 * time.Minute
	if perSecond > 0 {
		idle = max(idle, time.Duration(float64(burst)/perSecond*float64(time.Second)))
	}
	return &Buckets{limit: rate.Limit(perSecond), burst: burst, idle: idle, buckets: map[string]*bucket{}}
}

// PerMinute returns buckets of n tokens a minute, n at once.
func PerMinute(n int) *Buckets { return NewBuckets(float64(n)/60, n) }

// get returns the bucket of key, sweeping idle ones now and then. b.mu is
// held.
func (b *Buckets) get(key string, now time.Time) *rate.Limiter {
	if now.Sub(b.lastSweep) > time.Minute || len(b.buckets) >= maxKeys {
		for k, v := range b.buckets {
			if now.Sub(v.lastSeen) > b.idle {
				delete(b.buckets, k)
			}
		}
		if len(b.buckets) >= maxKeys {
			clear(b.buckets)
		}
		b.lastSweep = now
	}
	v, ok := b.buckets[key]
	if !ok {
		v = &bucket{limiter: rate.NewLimiter(b.limit, b.burst)}
		b.buckets[key] = v
	}
	v.lastSeen = now
	return v.limiter
}

// Take takes a token from key's bucket; when there is none it takes
// nothing and says how long until there is one.
func (b *Buckets) Take(key string, now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res := b.get(key, now).ReserveN(now, 1)
	if !res.OK() {
		return false, time.Minute // a burst of 0: never
	}
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// Empty reports whether key's bucket has no token left, and how long
// until it has one, without taking any.
func (b *Buckets) Empty(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim := b.get(key, now)
	if tokens := lim.TokensAt(now); tokens < 1 {
		if lim.Limit() <= 0 {
			return true, time.Minute
		}
		return true, time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second))
	}
	return false, 0
}

// Charge takes a token after the fact, going into debt if there is none,
// so that the next request waits for it.
func (b *Buckets) Charge(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.get(key, now).ReserveN(now, 1)
}

// Failures counts failures per key in the store, in a window that starts
// with the first failure: after max of them, Locked reports the key locked
// until the window ends. Every replica on the database sees the same
// counts.
type Failures struct {
	counts store.Space
	max    int
	window time.Duration
	now    func() time.Time
}

// NewFailures counts failures in counts (a key space of the store, one
// per use).
func NewFailures(counts store.Space, maxFailures int, window time.Duration) *Failures {
	return &Failures{counts: counts, max: maxFailures, window: window, now: time.Now}
}

// Window is how long a key stays locked after its first failure at most.
func (f *Failures) Window() time.Duration { return f.window }

// Locked reports whether key has failed max times in its window. A store
// error is returned as it is: the caller decides whether to fail closed.
func (f *Failures) Locked(ctx context.Context, key string) (bool, error) {
	raw, err := f.counts.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ratelimit: read failures: %w", err)
	}
	n, _ := strconv.Atoi(string(raw))
	return n >= f.max, nil
}

// Add counts one failure of key: the first one starts its window.
// Replicas adding at once each count (compare-and-swap in the store).
func (f *Failures) Add(ctx context.Context, key string) error {
	for range 10 {
		err := f.counts.Update(ctx, key, func(old []byte) ([]byte, error) {
			n, _ := strconv.Atoi(string(old))
			return []byte(strconv.Itoa(n + 1)), nil
		})
		if !errors.Is(err, store.ErrNotFound) {
			return wrap(err)
		}
		err = f.counts.Create(ctx, key, []byte("1"), f.now().Add(f.window))
		if !errors.Is(err, store.ErrConflict) { // else counted concurrently: count again
			return wrap(err)
		}
	}
	return errors.New("ratelimit: failure not counted: the record keeps changing")
}

func wrap(err error) error {
	if err != nil {
		return fmt.Errorf("ratelimit: count a failure: %w", err)
	}
	return nil
}
