package postgres

import (
	"bytes"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// A read cache of the key spaces store.Cacheable names (clients), so that
// a request that only authenticates a client (client_credentials) costs
// no round trip to the database.
//
// Every write to one of those keys, by any process on the database,
// sends a notification on the channel notifyChannel in the same
// transaction, so that the notification is delivered exactly when the
// write commits. Each caching process LISTENs on a connection of its own
// and forgets a key when its notification arrives. Trust in the cache
// then rests on that connection: entries are served only while the
// connection has shown, within the last trustFor, that every
// notification committed before was received. The proof is a round trip
// through the notification queue itself: the listener notifies a
// channel of its own and waits for that notification to come back.
// PostgreSQL's queue is in commit order, so every notification committed
// before it has arrived first; and a connection that cannot hear (lost
// or silent) never proves anything. A connection lost or silent empties
// the cache, and reads go to the database until a new one has proven
// itself. Behind a pooler, which may lend the listening session to other
// clients between proofs, nothing is cached (listen.go).
//
// A read that fills the cache races a write's notification: the read
// may have seen the old row while the notification of the new one
// arrives before the fill. Each invalidation advances a generation, and
// a fill is dropped unless the generation is the one taken before the
// read.
const (
	notifyChannel = "gatehouse_kv"
	// listenQuiet is both the pause between two proofs of the listening
	// connection and how long a proof may take to come back.
	listenQuiet = time.Second
	// trustFor is how long after a proof the cache is served: the next
	// proof is sent a listenQuiet later and may take as long to return.
	trustFor = 3 * listenQuiet
	// cacheMaxAge bounds how long an entry is served without being read
	// again: a row changed without a notification (by hand, or by a
	// process that predates notifications) is seen within it.
	cacheMaxAge = 10 * time.Second
	// maxPayload is the longest key sent as a notification's payload
	// (PostgreSQL's limit is 8000 bytes); a longer one, or one that is
	// not text, is sent as "", which empties every cache.
	maxPayload = 4096
)

type cached struct {
	value   []byte
	expires time.Time // zero: never
	readAt  time.Time
}

type cache struct {
	prefixes []string

	mu      sync.Mutex
	entries *simplelru.LRU[string, cached]
	// gen advances with every invalidation.
	gen uint64
	// trustedUntil is the last proof of the listener plus trustFor; zero
	// while the listener is not connected.
	trustedUntil time.Time
}

func newCache(size int, prefixes []string) *cache {
	entries, err := simplelru.NewLRU[string, cached](size, nil)
	if err != nil {
		panic(err) // size > 0 is checked by the caller
	}
	return &cache{prefixes: prefixes, entries: entries}
}

// covers reports whether key is in a cached key space. It is nil-safe:
// a KV without a cache covers nothing.
func (c *cache) covers(key string) bool {
	if c == nil {
		return false
	}
	return coveredBy(c.prefixes, key)
}

func coveredBy(prefixes []string, key string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// get returns the value of key, if the cache holds one, is trusted, and
// the entry is live at now (the KV's clock, which expiries are against).
// Absence is not cached.
func (c *cache) get(key string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := time.Now()
	if !wall.Before(c.trustedUntil) {
		return nil, false
	}
	e, ok := c.entries.Get(key)
	if !ok {
		return nil, false
	}
	if wall.Sub(e.readAt) >= cacheMaxAge || (!e.expires.IsZero() && !e.expires.After(now)) {
		c.entries.Remove(key)
		return nil, false
	}
	return bytes.Clone(e.value), true
}

// A ticket is taken before a read from the database whose result may
// fill the cache.
type ticket struct {
	gen uint64
	at  time.Time
	ok  bool // the cache was trusted: the read may fill it
}

func (c *cache) begin() ticket {
	if c == nil {
		return ticket{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	return ticket{gen: c.gen, at: now, ok: now.Before(c.trustedUntil)}
}

// fill stores what a read begun with t found, unless the cache was not
// trusted then or something was invalidated since. The entry's age
// counts from the start of the read.
func (c *cache) fill(t ticket, key string, value []byte, expires time.Time) {
	if !t.ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != t.gen {
		return
	}
	c.entries.Add(key, cached{value: bytes.Clone(value), expires: expires, readAt: t.at})
}

// forget drops key, after a notification or a write of this process.
func (c *cache) forget(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Remove(key)
}

// heard applies a notification's payload: one key, or "" for all.
func (c *cache) heard(payload string) {
	switch {
	case payload == "":
		c.purge()
	case c.covers(payload):
		c.forget(payload)
	}
}

func (c *cache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Purge()
}

// proven records that every notification committed before at has been
// applied.
func (c *cache) proven(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until := at.Add(trustFor); until.After(c.trustedUntil) {
		c.trustedUntil = until
	}
}

// distrust empties the cache and stops serving from it until the next
// proof: notifications may have been missed.
func (c *cache) distrust() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Purge()
	c.trustedUntil = time.Time{}
}

// payload is what a notification of a write to key carries.
func payload(key string) string {
	if len(key) > maxPayload || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return ""
	}
	return key
}
