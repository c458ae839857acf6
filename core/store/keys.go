package store

import (
	"context"
	"strings"
	"time"
)

// The key spaces of the server: every key it reads or writes is one of
// these prefixes, then "/", then an id. They are the data's on-disk
// names: renaming one orphans every existing record in it (keys_test.go
// pins them). A scan of one space never sees another's records, because
// no prefix + "/" starts another's.
const (
	// ClientsPrefix: dynamically registered clients by client_id
	// (core/client).
	ClientsPrefix = "client"
	// AuthRequestsPrefix: authorization requests waiting for sign-in and
	// consent, by request id (core/authorize).
	AuthRequestsPrefix = "authreq"
	// CodesPrefix: authorization codes by the SHA-256 of the code
	// (core/authorize writes, core/grant redeems).
	CodesPrefix = "code"
	// GrantsPrefix: grants (the family of tokens one consent issued) by
	// grant id (core/grant mints, core/token revokes).
	GrantsPrefix = "grant"
	// RefreshTokensPrefix: refresh tokens by their SHA-256 (core/grant,
	// core/token).
	RefreshTokensPrefix = "refresh"
	// RevocationsPrefix: revoked access tokens by jti, until they expire
	// (core/token).
	RevocationsPrefix = "revoked"
	// SigningKeysPrefix: signing keys by kid, sealed under keys.secret
	// when set (core/keyset).
	SigningKeysPrefix = "key"
	// LoginSessionsPrefix: browser sign-in sessions by the SHA-256 of the
	// session cookie (core/identity).
	LoginSessionsPrefix = "login"
	// BackchannelPrefix: CIBA requests by the SHA-256 of auth_req_id
	// (core/ciba).
	BackchannelPrefix = "ciba"
	// DeliveriesPrefix: CIBA ping and push deliveries waiting to be
	// POSTed, with their queue's lease (core/ciba's queue).
	DeliveriesPrefix = "delivery"
	// ConsentsPrefix: the consent history of CIBA decisions (core/ciba;
	// `gatehouse ciba history` reads it).
	ConsentsPrefix = "consent"
	// BackchannelByUserPrefix: CIBA requests by the user they name, in
	// the order they were made (BackchannelUserID), expiring with the
	// request (core/ciba: the device API's list of pending requests).
	BackchannelByUserPrefix = "cibauser"
	// BackchannelGrantsPrefix: CIBA request id → its grant, expiring
	// with the grant (core/ciba).
	BackchannelGrantsPrefix = "cibagrant"
	// RequestObjectJTIsPrefix: the jti of every CIBA signed request object
	// seen, by the SHA-256 of client_id NUL jti, until the object expires,
	// so a replay is refused (core/ciba).
	RequestObjectJTIsPrefix = "cibajti"
	// UserCodeFailuresPrefix: wrong CIBA user_codes counted per login
	// hint, by the SHA-256 of its kind NUL hint, for the lockout window
	// (core/ciba through core/ratelimit's Failures).
	UserCodeFailuresPrefix = "usercode-failures"
	// CSRFPrefix: CSRF tokens of the pages' forms by their SHA-256, until
	// the consent session would end (core/identity, for Fiber's csrf).
	CSRFPrefix = "csrf"
	// UpstreamStatesPrefix: round trips to an upstream sign-in provider
	// or the bridge's upstream, by the SHA-256 of the state parameter
	// (core/upstream).
	UpstreamStatesPrefix = "upstream-state"
	// UpstreamSessionsPrefix: browsers signed in through an upstream
	// provider, by the SHA-256 of the refresh cookie (core/upstream).
	UpstreamSessionsPrefix = "upstream-session"
	// BridgeGrantsPrefix: the bridge's upstream grants, sealed, by the
	// client_id of the bridged client (core/upstream).
	BridgeGrantsPrefix = "bridge"
	// PluginKVPrefix: the key-value namespaces of plugins, one per plugin
	// name: PluginKVKey (core/plugin's kv_get and kv_put).
	PluginKVPrefix = "plugin"
	// ReadyProbePrefix holds ReadyProbeKey, which /readyz reads to see
	// that the backend answers; nothing writes it (core/server).
	ReadyProbePrefix = "readyz"
	// MetaPrefix: the Badger backend's own keys (installation id, last
	// commit), hidden from a scan of the whole store (core/store/badger).
	MetaPrefix = "\x00gatehouse"
)

// Cacheable lists the key spaces read on nearly every request and
// written rarely (clients): a backend that several processes share may
// keep their records in memory, provided every process tells the others
// of each write to them (core/store/postgres).
var Cacheable = []string{ClientsPrefix + "/"}

// ReadyProbeKey is the key /readyz reads: found or not, an answer means
// the backend serves.
const ReadyProbeKey = ReadyProbePrefix + "/probe"

// PluginKVSpace is the namespace of the keys of plugin name (names never
// contain "/", so no plugin's namespace holds another's).
func PluginKVSpace(name string) string { return PluginKVPrefix + "/" + name + "/" }

// PluginKVKey is the store key of a plugin's own key.
func PluginKVKey(name, key string) string { return PluginKVSpace(name) + key }

// Space is a key space of raw values, for records that are not JSON: a
// CSRF token's value, a spent jti, a failure count. Like a Collection it
// addresses records by id under its prefix.
type Space struct {
	kv     KV
	prefix string
}

// NewSpace returns the space of kv under prefix.
func NewSpace(kv KV, prefix string) Space {
	return Space{kv: kv, prefix: prefix + "/"}
}

// Key is the store key of id.
func (s Space) Key(id string) string { return s.prefix + id }

// Get returns the value of id, or ErrNotFound.
func (s Space) Get(ctx context.Context, id string) ([]byte, error) {
	return s.kv.Get(ctx, s.Key(id))
}

// Create writes value at id unless a live record is there (ErrConflict).
func (s Space) Create(ctx context.Context, id string, value []byte, expiresAt time.Time) error {
	return s.kv.Create(ctx, s.Key(id), value, expiresAt)
}

// Put writes value at id, replacing any record.
func (s Space) Put(ctx context.Context, id string, value []byte, expiresAt time.Time) error {
	return s.kv.Put(ctx, s.Key(id), value, expiresAt)
}

// Update replaces the value of id with fn(old), as KV.Update.
func (s Space) Update(ctx context.Context, id string, fn func(old []byte) ([]byte, error)) error {
	return s.kv.Update(ctx, s.Key(id), fn)
}

// Delete removes id; a missing record is not an error.
func (s Space) Delete(ctx context.Context, id string) error {
	return s.kv.Delete(ctx, s.Key(id))
}

// ListPage returns the ids of one page of records (KV.ScanPage), those
// after p.After, and the cursor of the next page: the last id, or ""
// when this page was the last.
func (s Space) ListPage(ctx context.Context, p Page) (ids []string, next string, err error) {
	if p.After != "" {
		p.After = s.Key(p.After)
	}
	page, err := s.kv.ScanPage(ctx, s.prefix, p)
	if err != nil {
		return nil, "", err
	}
	ids = make([]string, len(page))
	for i, e := range page {
		ids[i] = strings.TrimPrefix(e.Key, s.prefix)
	}
	if len(page) == p.Limit {
		next = ids[len(ids)-1]
	}
	return ids, next, nil
}

// Prefix is what every key of the space starts with: its name and "/".
func (s Space) Prefix() string { return s.prefix }

// Prefix is what every key of the collection starts with: its name and
// "/".
func (c Collection[T]) Prefix() string { return c.prefix }
