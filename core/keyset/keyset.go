// Package keyset holds the server's signing keys: generated on first start,
// persisted in the store (sealed when keys.secret is set), parsed once and
// kept in memory, published as a JWKS, rotated with the old key kept until
// its tokens expire.
package keyset

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/seal"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Keyset is safe for concurrent use. It keeps one active key per
// algorithm in use: keys.algorithm, which signs access and identity tokens,
// and RS256, which OIDC Core §15.1 requires for ID tokens and OIDC
// Registration §2 makes the default of id_token_signed_response_alg. Signing and verification read an
// immutable snapshot through an atomic pointer; Rotate and Reload build a
// new snapshot and swap it in.
type Keyset struct {
	cfg  *config.Config
	st   *store.Store
	seal *seal.Sealer // nil when keys.secret is empty
	now  func() time.Time

	// algs are the algorithms in use, keys.algorithm first.
	algs []jose.SignatureAlgorithm
	// rsaImpl is what makes RS256 signatures, RSAOpenSSL or RSAGo (rsa.go).
	rsaImpl string

	mu   sync.Mutex // serialises Rotate, Reload and Refresh
	snap atomic.Pointer[snapshot]
	// cachePath, when set, is where the public keys are kept for a start
	// while the store does not answer (the postgres backend).
	cachePath string
	// lastMiss is when a token naming an unknown kid last made Verify
	// read the keys (unix nanoseconds), to do so at most once per
	// missInterval.
	lastMiss atomic.Int64
}

// missInterval is the least time between two reads of the keys caused by
// tokens naming a kid not in memory: often enough that a key another
// process just made verifies at once, seldom enough that tokens with
// made-up kids cannot keep the store busy.
const missInterval = time.Second

// supported are the algorithms the server can sign and verify with.
var supported = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// IDTokenDefault is the ID token algorithm of a client that registered
// none (OIDC Registration §2); the keyset always holds a key for it.
const IDTokenDefault = jose.RS256

// Open loads the keys from the store, generating an active key for each
// algorithm in use that has none. Private keys are parsed (and unsealed)
// once here, never per token. An active key of an algorithm no longer in
// use (the operator changed keys.algorithm) is retired.
func Open(ctx context.Context, cfg *config.Config, st *store.Store) (*Keyset, error) {
	k := &Keyset{cfg: cfg, st: st, now: time.Now, algs: AlgorithmsFor(cfg.Keys.Algorithm), rsaImpl: chooseRSA(cfg.Keys.RSAImplementation)}
	if cfg.Storage.Backend == "postgres" && cfg.Storage.Dir != "" {
		k.cachePath = filepath.Join(cfg.Storage.Dir, cacheFile)
	}
	if cfg.Keys.Secret != "" {
		s, err := newSealer(cfg.Keys.Secret)
		if err != nil {
			return nil, err
		}
		k.seal = s
	} else {
		slog.Warn("signing keys are stored unsealed: set keys.secret to encrypt them at rest")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.load(ctx); err != nil {
		if !errors.Is(err, store.ErrUnavailable) || k.cachePath == "" {
			return nil, err
		}
		// A database that does not answer at start: publish the keys of
		// the last run, sign nothing (what signs needs the database too),
		// and let Refresh read them once it answers. Never make keys now:
		// the database may well hold some.
		n, cerr := k.readCache()
		slog.Warn("keyset: the store does not answer: publishing the cached public keys until it does", "keys", n, "cache", k.cachePath, "error", err, "cache_error", cerr)
		return k, nil
	}
	if err := k.complete(ctx); err != nil {
		return nil, err
	}
	k.writeCache()
	return k, nil
}

// errNoSigningKey: the keys have not been read from the store yet (it
// did not answer at start).
var errNoSigningKey = fmt.Errorf("keyset: %w: the signing keys have not been read from the store yet", store.ErrUnavailable)

// Signing reports whether the keyset can sign: false until the keys were
// read from the store.
func (k *Keyset) Signing() bool {
	def := k.snap.Load().def
	return def != nil && def.private != nil
}

// AlgorithmsFor lists the algorithms the server signs with when def is
// keys.algorithm: def first, then RS256.
func AlgorithmsFor(def string) []jose.SignatureAlgorithm {
	algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(def)}
	if algs[0] != IDTokenDefault {
		algs = append(algs, IDTokenDefault)
	}
	return algs
}

// complete makes the snapshot hold exactly one active key per algorithm in
// use: it generates the missing ones and retires active keys of other
// algorithms. Caller holds mu and has loaded.
func (k *Keyset) complete(ctx context.Context) error {
	snap := k.snap.Load()
	var missing []jose.SignatureAlgorithm
	for _, alg := range k.algs {
		if snap.active[alg] == nil {
			missing = append(missing, alg)
		}
	}
	stale := false
	for alg := range snap.active {
		stale = stale || !slices.Contains(k.algs, alg)
	}
	if len(missing) == 0 && !stale {
		return nil
	}
	made, err := k.rotate(ctx, missing)
	if err != nil {
		return err
	}
	for _, sk := range made {
		slog.Info("generated a signing key", "kid", sk.id, "alg", sk.alg)
	}
	return nil
}

// signingKey is one parsed key.
type signingKey struct {
	id        string
	alg       jose.SignatureAlgorithm
	private   crypto.Signer
	public    jose.JSONWebKey // kid, alg, use "sig"
	createdAt time.Time
	expiresAt time.Time // zero while the key is not retired
	// native is the OpenSSL copy of an active RSA key, nil when
	// crypto/rsa signs with it (rsa.go).
	native nativeRSA
	// nativeOffUntil is when, after a failed OpenSSL signature, native may
	// be tried again (Unix nanoseconds; 0 when it is not off).
	nativeOffUntil atomic.Int64
}

func (sk *signingKey) live(now time.Time) bool {
	return sk.expiresAt.IsZero() || now.Before(sk.expiresAt)
}

// snapshot is the immutable set of keys in use; only its caches fill in.
type snapshot struct {
	// def is the active key of keys.algorithm (nil until it is made).
	def *signingKey
	// active is the newest unretired key of each algorithm.
	active map[jose.SignatureAlgorithm]*signingKey
	byKID  map[string]*signingKey
	// published lists the active keys first (def first), then the
	// retired ones, newest first.
	published []*signingKey

	signers sync.Map // typ → jose.Signer for def
	headers sync.Map // headerKey → []byte, the encoded protected header and "."
}

// headerKey names a cached JWS header: the key that signs and the typ.
type headerKey struct{ kid, typ string }

func newSnapshot(keys []*signingKey, def jose.SignatureAlgorithm) *snapshot {
	s := &snapshot{byKID: make(map[string]*signingKey, len(keys)), active: map[jose.SignatureAlgorithm]*signingKey{}}
	// Newest first; the keys of one rotation (created in the same second)
	// with def's algorithm first, then by algorithm and kid: every process
	// that reads the same records picks the same active keys and
	// publishes them in one order, and a rotation's retired keys in the
	// order of its active ones.
	slices.SortFunc(keys, func(a, b *signingKey) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		if (a.alg == def) != (b.alg == def) {
			if a.alg == def {
				return -1
			}
			return 1
		}
		if c := strings.Compare(string(a.alg), string(b.alg)); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, sk := range keys {
		s.byKID[sk.id] = sk
		if s.active[sk.alg] == nil && sk.expiresAt.IsZero() {
			s.active[sk.alg] = sk
		}
	}
	s.def = s.active[def]
	if s.def != nil {
		s.published = append(s.published, s.def)
	}
	for _, sk := range keys {
		if sk != s.def && s.active[sk.alg] == sk {
			s.published = append(s.published, sk)
		}
	}
	for _, sk := range keys {
		if s.active[sk.alg] != sk {
			s.published = append(s.published, sk)
		}
	}
	return s
}

// load reads every key from the store into a new snapshot, and reports
// whether it differs from the one before. A key already in memory with
// the same expiry is reused, not parsed (and unsealed) again, so a reload
// that finds nothing new costs one read of the records. Caller holds mu.
func (k *Keyset) load(ctx context.Context) (changed bool, err error) {
	var keys []*signingKey
	var unsealed []store.SigningKey
	now := k.now()
	prev := k.snap.Load()
	err = k.st.SigningKeys.List(ctx, func(id string, rec store.SigningKey) error {
		if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
			return nil
		}
		if prev != nil {
			if sk, ok := prev.byKID[id]; ok && sk.private != nil && sk.expiresAt.Equal(rec.ExpiresAt) && sk.createdAt.Equal(rec.CreatedAt) && (rec.Sealed || k.seal == nil) {
				keys = append(keys, sk)
				return nil
			}
		}
		sk, err := k.parse(rec)
		if err != nil {
			return fmt.Errorf("keyset: signing key %s: %w", id, err)
		}
		keys = append(keys, sk)
		if !rec.Sealed && k.seal != nil {
			unsealed = append(unsealed, rec)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("keyset: load signing keys: %w", err)
	}
	// keys.secret was set after these keys were made: seal them now.
	for _, rec := range unsealed {
		rec.PrivateJWK = k.seal.Seal(rec.ID, rec.PrivateJWK)
		rec.Sealed = true
		if err := k.st.SigningKeys.Put(ctx, rec.ID, rec); err != nil {
			return false, fmt.Errorf("keyset: seal key %s: %w", rec.ID, err)
		}
		slog.Info("sealed a signing key stored in the clear", "kid", rec.ID)
	}
	next := newSnapshot(keys, k.algs[0])
	if prev != nil && sameKeys(prev, next) {
		return false, nil
	}
	k.snap.Store(next)
	return true, nil
}

// sameKeys reports whether two snapshots publish the same keys, in the
// same order and with the same expiries (so the old one, with its filled
// caches, can stay).
func sameKeys(a, b *snapshot) bool {
	return slices.EqualFunc(a.published, b.published, func(x, y *signingKey) bool {
		return x == y
	})
}

// parse turns a stored key into a usable one, unsealing it if needed.
func (k *Keyset) parse(rec store.SigningKey) (*signingKey, error) {
	raw := rec.PrivateJWK
	if rec.Sealed {
		if k.seal == nil {
			return nil, errors.New("the key is sealed and keys.secret is not set")
		}
		var err error
		raw, err = k.seal.Open(rec.ID, raw)
		if err != nil {
			return nil, errWrongSecret
		}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("decode private JWK: %w", err)
	}
	if jwk.IsPublic() {
		return nil, errors.New("stored JWK has no private key")
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", jwk.Key)
	}
	alg := jose.SignatureAlgorithm(rec.Algorithm)
	if err := checkKeyType(alg, signer); err != nil {
		return nil, err
	}
	kid, err := thumbprint(signer.Public())
	if err != nil {
		return nil, err
	}
	if kid != rec.ID {
		return nil, fmt.Errorf("key thumbprint %s does not match its id", kid)
	}
	if key, ok := signer.(*rsa.PrivateKey); ok {
		// go-jose fills in the CRT values but not the checked key that
		// crypto/rsa signs with; without this every signature would build
		// and check it again (a quarter of an RS256 signature's cost).
		key.Precompute()
	}
	sk := newSigningKey(alg, signer, rec.CreatedAt, rec.ExpiresAt, kid)
	k.prepareRSA(sk)
	return sk, nil
}

func newSigningKey(alg jose.SignatureAlgorithm, priv crypto.Signer, created, expires time.Time, kid string) *signingKey {
	return &signingKey{
		id:        kid,
		alg:       alg,
		private:   priv,
		public:    jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"},
		createdAt: created,
		expiresAt: expires,
	}
}

func checkKeyType(alg jose.SignatureAlgorithm, key crypto.Signer) error {
	ok := false
	switch key := key.(type) {
	case *ecdsa.PrivateKey:
		ok = alg == jose.ES256 && key.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		ok = alg == jose.RS256 && key.N.BitLen() >= 2048
	case ed25519.PrivateKey:
		ok = alg == jose.EdDSA
	}
	if !ok {
		return fmt.Errorf("key type %T does not fit algorithm %q", key, alg)
	}
	return nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// generate makes a new private key for alg.
func generate(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("keyset: unsupported algorithm %q", alg)
}

// Signer returns a signer for the keys.algorithm key with the given JWT
// "typ" header ("JWT", "at+jwt", ...), kid set. It signs through the same
// code as Sign (an RS256 signature is OpenSSL's, checked, when the keyset
// uses it). Signers are cached per typ and are safe for concurrent use.
func (k *Keyset) Signer(typ string) (jose.Signer, error) {
	snap := k.snap.Load()
	if s, ok := snap.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	active := snap.def
	if active == nil || active.private == nil {
		return nil, errNoSigningKey
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), active.id)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: active.alg, Key: opaqueKey{active}}, opts)
	if err != nil {
		return nil, fmt.Errorf("keyset: signer: %w", err)
	}
	actual, _ := snap.signers.LoadOrStore(typ, s)
	return actual.(jose.Signer), nil
}

// Algorithm is keys.algorithm, the algorithm of access and identity tokens
// (ES256, RS256 or EdDSA).
func (k *Keyset) Algorithm() jose.SignatureAlgorithm { return k.algs[0] }

// KeyID is the id (RFC 7638 thumbprint) of the keys.algorithm key.
func (k *Keyset) KeyID() string {
	if def := k.snap.Load().def; def != nil {
		return def.id
	}
	return ""
}

// Algorithms lists exactly the algorithms the server signs with, for
// discovery and for checking what a client registers: keys.algorithm
// first, then RS256.
func (k *Keyset) Algorithms() []string {
	out := make([]string, len(k.algs))
	for i, a := range k.algs {
		out[i] = string(a)
	}
	return out
}

// Has reports whether the server signs with alg.
func (k *Keyset) Has(alg string) bool {
	return slices.Contains(k.algs, jose.SignatureAlgorithm(alg))
}

// JWKS returns the public keys: every active one and the retired ones
// still valid.
func (k *Keyset) JWKS() jose.JSONWebKeySet {
	snap := k.snap.Load()
	now := k.now()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(snap.published))}
	for _, sk := range snap.published {
		if sk.live(now) {
			set.Keys = append(set.Keys, sk.public)
		}
	}
	return set
}

// Key names a signing key.
type Key struct {
	ID        string `json:"kid"`
	Algorithm string `json:"alg"`
}

// Rotate generates a new active key for every algorithm in use and retires
// the current ones; retired keys stay in the JWKS for the longest token
// lifetime. It returns the new keys, keys.algorithm's first.
func (k *Keyset) Rotate(ctx context.Context) ([]Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	// Start from the store, not memory, so that a rotation made by another
	// process is not undone.
	if _, err := k.load(ctx); err != nil {
		return nil, err
	}
	made, err := k.rotate(ctx, k.algs)
	if err != nil {
		return nil, err
	}
	out := make([]Key, len(made))
	for i, sk := range made {
		out[i] = Key{ID: sk.id, Algorithm: string(sk.alg)}
		slog.Info("rotated a signing key", "kid", sk.id, "alg", sk.alg)
	}
	k.writeCache()
	return out, nil
}

// retention is how long a retired key stays published: the longest token
// lifetime, plus a minute for clock skew.
func (k *Keyset) retention() time.Duration {
	t := k.cfg.Tokens
	return max(t.AccessTokenTTL, t.IDTokenTTL, t.IdentityTokenTTL) + time.Minute
}

// rotate creates a key of each of algs and makes it active, and retires
// every other unretired key of those algorithms and of algorithms no
// longer in use. Caller holds mu and has loaded.
func (k *Keyset) rotate(ctx context.Context, algs []jose.SignatureAlgorithm) ([]*signingKey, error) {
	now := k.now().UTC().Truncate(time.Second)
	var made []*signingKey
	for _, alg := range algs {
		sk, err := k.create(ctx, alg, now)
		if err != nil {
			return nil, err
		}
		made = append(made, sk)
	}
	keys := slices.Clone(made)
	expires := now.Add(k.retention())
	for _, old := range k.snap.Load().published {
		if old.expiresAt.IsZero() && (slices.Contains(algs, old.alg) || !slices.Contains(k.algs, old.alg)) {
			if err := k.retire(ctx, old.id, now, expires); err != nil {
				return nil, err
			}
			// The retired copy has no OpenSSL key (prepareRSA): it
			// signs nothing more, and the active key's is freed with it.
			old = newSigningKey(old.alg, old.private, old.createdAt, expires, old.id)
		}
		keys = append(keys, old)
	}
	k.snap.Store(newSnapshot(keys, k.algs[0]))
	return made, nil
}

// create generates and stores a new key of alg.
func (k *Keyset) create(ctx context.Context, alg jose.SignatureAlgorithm, now time.Time) (*signingKey, error) {
	priv, err := generate(alg)
	if err != nil {
		return nil, fmt.Errorf("keyset: generate %s key: %w", alg, err)
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	raw, err := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(alg), Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keyset: encode key: %w", err)
	}
	rec := store.SigningKey{ID: kid, Algorithm: string(alg), PrivateJWK: raw, CreatedAt: now}
	if k.seal != nil {
		rec.PrivateJWK = k.seal.Seal(kid, raw)
		rec.Sealed = true
	}
	if err := k.st.SigningKeys.Create(ctx, kid, rec); err != nil {
		return nil, fmt.Errorf("keyset: store new key: %w", err)
	}
	sk := newSigningKey(alg, priv, now, time.Time{}, kid)
	k.prepareRSA(sk)
	return sk, nil
}

// retire marks a stored key retired. It uses Put, not Update, so that the
// new ExpiresAt becomes the entry's TTL and the store removes it later.
func (k *Keyset) retire(ctx context.Context, kid string, now, expires time.Time) error {
	rec, err := k.st.SigningKeys.Get(ctx, kid)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keyset: read key %s: %w", kid, err)
	}
	rec.RetiredAt = now
	rec.ExpiresAt = expires
	if err := k.st.SigningKeys.Put(ctx, kid, rec); err != nil {
		return fmt.Errorf("keyset: retire key %s: %w", kid, err)
	}
	return nil
}

// Reload re-reads the keys from the store (after `gatehouse keys rotate`
// ran in another process).
func (k *Keyset) Reload(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.load(ctx); err != nil {
		return err
	}
	if err := k.complete(ctx); err != nil {
		return err
	}
	k.writeCache()
	return nil
}

// Refresh reads the keys from the store and, when another process on the
// same database rotated them, signs with and publishes the new ones. It
// makes a key only for an algorithm in use that has no active key (never
// retiring one), so processes configured with different algorithms do not
// undo each other's keys. On an error the keys in memory keep serving.
func (k *Keyset) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	changed, err := k.load(ctx)
	if err != nil {
		return err
	}
	snap := k.snap.Load()
	var missing []jose.SignatureAlgorithm
	for _, alg := range k.algs {
		if snap.active[alg] == nil {
			missing = append(missing, alg)
		}
	}
	if len(missing) > 0 {
		made := make([]*signingKey, 0, len(missing))
		now := k.now().UTC().Truncate(time.Second)
		for _, alg := range missing {
			sk, err := k.create(ctx, alg, now)
			if err != nil {
				return err
			}
			slog.Info("generated a signing key", "kid", sk.id, "alg", sk.alg)
			made = append(made, sk)
		}
		k.snap.Store(newSnapshot(append(made, snap.published...), k.algs[0]))
		changed = true
	}
	if changed {
		snap = k.snap.Load()
		slog.Info("signing keys changed in the store", "kid", k.KeyID(), "published", len(snap.published))
		k.writeCache()
	}
	return nil
}

// Run refreshes the keys every interval until ctx ends; a failed refresh
// is logged and the keys in memory keep serving.
func (k *Keyset) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		if err := k.Refresh(rctx); err != nil && ctx.Err() == nil {
			slog.Warn("keyset: reading the signing keys failed; the keys in memory keep serving", "error", err)
		}
		cancel()
	}
}

// lookupMiss is Verify's answer to a kid not in memory: it reads the keys
// from the store, at most once per missInterval whatever the kid, and
// looks again. A token signed by a key another process made a moment ago
// verifies at once instead of after the next Refresh.
func (k *Keyset) lookupMiss(ctx context.Context, kid string) (*signingKey, bool) {
	now := k.now()
	last := k.lastMiss.Load()
	if now.UnixNano()-last >= int64(missInterval) && k.lastMiss.CompareAndSwap(last, now.UnixNano()) {
		if err := k.Refresh(ctx); err != nil {
			slog.WarnContext(ctx, "keyset: reading the signing keys for an unknown kid failed", "kid", kid, "error", err)
			return nil, false
		}
	} else {
		// Another call is reading them, or did a moment ago: wait for
		// it rather than fail a token its read may have made known.
		k.mu.Lock()
		//lint:ignore SA2001 an empty critical section: waiting for the read is the point
		k.mu.Unlock()
	}
	sk, ok := k.snap.Load().byKID[kid]
	return sk, ok
}
