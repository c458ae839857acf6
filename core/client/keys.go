package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Fetching a client's jwks_uri (RFC 7591 §2): for its signed CIBA
// authentication requests (CIBA Core §7.1.1) and its self-signed
// certificates (RFC 8705 §2.2).
const (
	// jwksTimeout bounds one fetch, on the request path.
	jwksTimeout = 5 * time.Second
	// jwksMaxBytes caps a JWK Set document.
	jwksMaxBytes = 64 << 10
	// jwksTTL is how long fetched keys are used before being fetched
	// again: short, so a client's rotation or revocation takes effect soon.
	jwksTTL = 5 * time.Minute
	// jwksMaxEntries bounds the cache; expired entries are dropped first.
	jwksMaxEntries = 1024
)

// KeySets fetches and caches the key sets of clients registered with
// jwks_uri. Safe for concurrent use.
type KeySets struct {
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]jwksEntry
}

type jwksEntry struct {
	keys    []jose.JSONWebKey
	expires time.Time
}

// NewKeySets fetches through out.
func NewKeySets(out *outbound.Client) *KeySets {
	return &KeySets{
		// The registered URI is where the keys are, nowhere else; https
		// unless the development setting is on (CIBA Core §4).
		client:  out.HTTP(outbound.Policy{Timeout: jwksTimeout, MaxResponseBytes: jwksMaxBytes + 1, NoRedirects: true, HTTPSOnly: true}),
		now:     time.Now,
		entries: map[string]jwksEntry{},
	}
}

// Keys returns the key set at uri: from the cache while it is fresh,
// unless refresh asks for a new fetch (a kid the cached set lacks).
func (c *KeySets) Keys(ctx context.Context, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	now := c.now()
	if !refresh {
		c.mu.Lock()
		e, ok := c.entries[uri]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.keys, nil
		}
	}
	keys, err := c.fetch(ctx, uri)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= jwksMaxEntries {
		for u, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, u)
			}
		}
		if len(c.entries) >= jwksMaxEntries {
			clear(c.entries)
		}
	}
	c.entries[uri] = jwksEntry{keys: keys, expires: now.Add(jwksTTL)}
	return keys, nil
}

// fetch GETs the JWK Set at uri (RFC 7517 §5): a 200 answer of at most
// jwksMaxBytes, within jwksTimeout. Only the public part of each key is
// kept.
func (c *KeySets) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("client: jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "gatehouse")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: fetch jwks_uri: answered %s", resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("client: read jwks_uri: %w", err)
	}
	if len(raw) > jwksMaxBytes {
		return nil, fmt.Errorf("client: jwks_uri: the key set is over %d bytes", jwksMaxBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("client: jwks_uri: not a JWK Set: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, k := range set.Keys {
		if pub := k.Public(); pub.Valid() {
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("client: jwks_uri: the key set holds no usable public key")
	}
	return keys, nil
}

// Keys are cl's registered public keys: fetched from its jwks_uri
// (cached), or registered by value (jwks). The client authentication of
// oauth.Authenticate finds them here (oauth.KeyGetter).
func (l *Clients) Keys(ctx context.Context, cl *store.Client) ([]jose.JSONWebKey, error) {
	if cl.JWKSURI != "" {
		return l.keys.Keys(ctx, cl.JWKSURI, false)
	}
	return oauth.KeysByValue(cl)
}
