package authorize

import (
	"context"
	"sync"
	"time"
)

// openSessions counts the consent sessions /v1/authorize has stored and
// nobody has decided yet, per client and per remote address, so that one
// client or one address cannot fill the store with them (each is a few
// KB, kept for tokens.consent_session_ttl). It lives in the process: with
// several replicas each enforces the caps on what it created (N replicas
// store at most N times a cap), and a restart forgets sessions still open
// (they expire on their own). A session may be decided on another replica,
// which cannot tell this one: so when a cap is reached, the sessions it
// counts are looked up in the store (stillOpen), at most once a second per
// client or address, and the decided ones give their places back.
type openSessions struct {
	perClient, perAddress int
	// stillOpen reports whether a session is still undecided in the
	// store; nil counts on decisions made in this process alone.
	stillOpen func(ctx context.Context, id string) bool

	mu        sync.Mutex
	sessions  map[string]openSession // by session id
	byClient  map[string]int
	byAddress map[string]int
	checked   map[string]time.Time // "client"/"address" + key → last stillOpen pass
	nextSweep time.Time
}

type openSession struct {
	client, address string
	expires         time.Time
}

func newOpenSessions(perClient, perAddress int) *openSessions {
	return &openSessions{perClient: perClient, perAddress: perAddress,
		sessions: map[string]openSession{}, byClient: map[string]int{}, byAddress: map[string]int{}, checked: map[string]time.Time{}}
}

// fullLocked says which cap client or address has reached, and which of
// the sessions it counts select it.
func (o *openSessions) fullLocked(client, address string) (string, func(openSession) bool) {
	switch {
	case o.perClient > 0 && o.byClient[client] >= o.perClient:
		return "client", func(s openSession) bool { return s.client == client }
	case o.perAddress > 0 && o.byAddress[address] >= o.perAddress:
		return "address", func(s openSession) bool { return s.address == address }
	}
	return "", nil
}

// add records session id of client from address, unless either already
// has its cap of open sessions: then it reports which ("client" or
// "address") and when the oldest of them expires.
func (o *openSessions) add(ctx context.Context, id, client, address string, now, expires time.Time) (refused string, retry time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sweepLocked(now)
	which, match := o.fullLocked(client, address)
	if which != "" && o.stillOpen != nil {
		key := which + "\x00" + client
		if which == "address" {
			key = which + "\x00" + address
		}
		if now.Sub(o.checked[key]) >= time.Second {
			o.checked[key] = now
			o.forgetDecidedLocked(ctx, match)
			which, match = o.fullLocked(client, address)
		}
	}
	if which != "" {
		return which, o.untilFreeLocked(now, match)
	}
	o.sessions[id] = openSession{client: client, address: address, expires: expires}
	o.byClient[client]++
	o.byAddress[address]++
	return "", 0
}

// done forgets session id: it was decided, or it could not be stored.
func (o *openSessions) done(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.sessions[id]; ok {
		o.removeLocked(id, s)
	}
}

func (o *openSessions) removeLocked(id string, s openSession) {
	delete(o.sessions, id)
	if o.byClient[s.client]--; o.byClient[s.client] <= 0 {
		delete(o.byClient, s.client)
	}
	if o.byAddress[s.address]--; o.byAddress[s.address] <= 0 {
		delete(o.byAddress, s.address)
	}
}

// forgetDecidedLocked looks up the sessions match selects in the store,
// with o.mu released meanwhile, and forgets those decided elsewhere (or
// gone). Adds that come meanwhile see the cap still reached.
func (o *openSessions) forgetDecidedLocked(ctx context.Context, match func(openSession) bool) {
	var ids []string
	for id, s := range o.sessions {
		if match(s) {
			ids = append(ids, id)
		}
	}
	o.mu.Unlock()
	var gone []string
	for _, id := range ids {
		if !o.stillOpen(ctx, id) {
			gone = append(gone, id)
		}
	}
	o.mu.Lock()
	for _, id := range gone {
		if s, ok := o.sessions[id]; ok {
			o.removeLocked(id, s)
		}
	}
}

// sweepLocked drops expired sessions, at most once a second (a full
// refusal is answered from the counts; the sweep is what lowers them).
func (o *openSessions) sweepLocked(now time.Time) {
	if now.Before(o.nextSweep) {
		return
	}
	o.nextSweep = now.Add(time.Second)
	for k, at := range o.checked {
		if now.Sub(at) >= time.Second {
			delete(o.checked, k)
		}
	}
	for id, s := range o.sessions {
		if !now.Before(s.expires) {
			o.removeLocked(id, s)
		}
	}
}

// untilFreeLocked is how long until the first of the sessions match
// selects expires: a Retry-After for a refused request.
func (o *openSessions) untilFreeLocked(now time.Time, match func(openSession) bool) time.Duration {
	var first time.Time
	for _, s := range o.sessions {
		if match(s) && (first.IsZero() || s.expires.Before(first)) {
			first = s.expires
		}
	}
	return max(first.Sub(now), time.Second)
}
