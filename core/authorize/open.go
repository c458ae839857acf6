package authorize

import (
	"sync"
	"time"
)

// openSessions counts the consent sessions /v1/authorize has stored and
// nobody has decided yet, per client and per remote address, so that one
// client or one address cannot fill the store with them (each is a few
// KB, kept for tokens.consent_session_ttl). It lives in the process: with
// several replicas each enforces the caps on what it created, and a
// restart forgets sessions still open (they expire on their own).
type openSessions struct {
	perClient, perAddress int

	mu        sync.Mutex
	sessions  map[string]openSession // by session id
	byClient  map[string]int
	byAddress map[string]int
	nextSweep time.Time
}

type openSession struct {
	client, address string
	expires         time.Time
}

func newOpenSessions(perClient, perAddress int) *openSessions {
	return &openSessions{perClient: perClient, perAddress: perAddress,
		sessions: map[string]openSession{}, byClient: map[string]int{}, byAddress: map[string]int{}}
}

// add records session id of client from address, unless either already
// has its cap of open sessions: then it reports which ("client" or
// "address") and when the oldest of them expires.
func (o *openSessions) add(id, client, address string, now, expires time.Time) (refused string, retry time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sweepLocked(now)
	switch {
	case o.perClient > 0 && o.byClient[client] >= o.perClient:
		return "client", o.untilFreeLocked(now, func(s openSession) bool { return s.client == client })
	case o.perAddress > 0 && o.byAddress[address] >= o.perAddress:
		return "address", o.untilFreeLocked(now, func(s openSession) bool { return s.address == address })
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

// sweepLocked drops expired sessions, at most once a second (a full
// refusal is answered from the counts; the sweep is what lowers them).
func (o *openSessions) sweepLocked(now time.Time) {
	if now.Before(o.nextSweep) {
		return
	}
	o.nextSweep = now.Add(time.Second)
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
