package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/ratelimit"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
)

// Clients finds the clients of the endpoints that serve them
// (authorization, token, revocation, introspection): registered ones in
// the store, and, when client_id_metadata_documents is enabled, clients
// whose client_id is the https URL of a Client ID Metadata Document
// (draft-ietf-oauth-client-id-metadata-document), fetched through the
// outbound client, validated like a registration and cached in memory.
// The cache is per process and bounded in staleness by max_ttl: replicas
// may hold different versions of a document for that long. Safe for
// concurrent use.
type Clients struct {
	// keys fetches the jwks_uri of clients (Keys).
	keys       *KeySets
	registered oauth.ClientGetter
	conf       config.ClientIDDocuments
	// allowed is set when allowed_client_ids is not empty.
	allowed urlpattern.List
	policy  policy
	http    *http.Client
	cache   *lru.Cache[string, cachedDocument]
	now     func() time.Time
	// perHost bounds the fetches to each host.
	perHost *ratelimit.Buckets

	// inflight are the fetches under way, by URL: concurrent requests
	// naming one uncached document wait for one fetch.
	mu       sync.Mutex
	inflight map[string]*fetchCall
}

// fetchCall is one fetch that every request for its URL waits for.
type fetchCall struct {
	done   chan struct{}
	client store.Client
	err    error
}

var (
	_ oauth.ClientGetter = (*Clients)(nil)
	_ oauth.KeyGetter    = (*Clients)(nil)
)

// cachedDocument is a validated document, as the client it describes.
// Past expires it is fetched again; until staleUntil it stands in for a
// document that cannot be fetched for now (a network failure, a timeout,
// a 5xx): an outage of the client's host does not revoke its tokens.
type cachedDocument struct {
	client     store.Client
	expires    time.Time
	staleUntil time.Time
}

// errUnreachable marks a fetch that failed for a reason that may pass, as
// opposed to a document refused for what it says or where it is.
var errUnreachable = errors.New("client ID metadata document host unreachable")

// NewClients returns the clients of cfg: st's, and those of metadata
// documents fetched through out.
func NewClients(cfg *config.Config, st *store.Store, out *outbound.Client) *Clients {
	conf := cfg.ClientIDDocuments
	l := &Clients{registered: st.Clients, conf: conf, policy: registrationPolicy(cfg), now: time.Now, inflight: map[string]*fetchCall{}, keys: NewKeySets(out)}
	if !conf.Enabled {
		return l
	}
	if len(conf.AllowedClientIDs) > 0 {
		// config.Validate reports bad patterns; one that fails here is
		// dropped, which narrows the list and never widens it to all.
		l.allowed, _ = urlpattern.ParseList(conf.AllowedClientIDs)
		if l.allowed == nil {
			l.allowed = urlpattern.List{}
		}
	}
	// Draft §5: redirects are not followed; §8.7: the size is capped.
	l.http = out.HTTP(outbound.Policy{Timeout: conf.Timeout, MaxResponseBytes: conf.MaxBytes, NoRedirects: true, HTTPSOnly: true})
	l.cache, _ = lru.New[string, cachedDocument](max(conf.CacheEntries, 1))
	l.perHost = ratelimit.NewBuckets(conf.FetchesPerHost, max(conf.FetchBurstPerHost, 1))
	return l
}

// Get returns the client id names: a registered client (pre-registered
// client ID URLs included, draft §7.2), else the client of the metadata
// document at id. store.ErrNotFound when there is none; an *oauth.Error
// (invalid_client) saying why when a document is refused.
func (l *Clients) Get(ctx context.Context, id string) (store.Client, error) {
	cl, err := l.registered.Get(ctx, id)
	if !errors.Is(err, store.ErrNotFound) || l.cache == nil || !clientIDURL(id) {
		return cl, err
	}
	l.mu.Lock()
	if e, ok := l.cache.Get(id); ok && l.now().Before(e.expires) {
		l.mu.Unlock()
		return e.client, nil
	}
	if c, ok := l.inflight[id]; ok {
		l.mu.Unlock()
		select {
		case <-c.done:
			return c.client, c.err
		case <-ctx.Done():
			return store.Client{}, ctx.Err()
		}
	}
	c := &fetchCall{done: make(chan struct{})}
	l.inflight[id] = c
	l.mu.Unlock()

	// Others wait for this fetch: it does not end with this request
	// (the client's timeout bounds it).
	c.client, c.err = l.fetchAndCache(context.WithoutCancel(ctx), id)
	l.mu.Lock()
	delete(l.inflight, id)
	l.mu.Unlock()
	close(c.done)
	return c.client, c.err
}

// fetchAndCache fetches the document at id and caches it if accepted. A
// document that cannot be fetched for now is served from its last
// accepted copy while that is within max_ttl of its expiry, and fetched
// again after min_ttl.
func (l *Clients) fetchAndCache(ctx context.Context, id string) (store.Client, error) {
	cl, ttl, err := l.fetch(ctx, id)
	if errors.Is(err, errUnreachable) {
		l.mu.Lock()
		e, ok := l.cache.Peek(id)
		now := l.now()
		if ok && now.Before(e.staleUntil) {
			e.expires = now.Add(l.conf.MinTTL)
			l.cache.Add(id, e)
			l.mu.Unlock()
			slog.WarnContext(ctx, "client ID metadata document cannot be fetched: serving its last accepted copy",
				"client_id", clean(id), "error", err, "until", e.staleUntil)
			return e.client, nil
		}
		l.mu.Unlock()
	}
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			slog.InfoContext(ctx, "client ID metadata document refused", "client_id", clean(id), "reason", oe.Description)
		}
		return store.Client{}, err
	}
	slog.InfoContext(ctx, "client ID metadata document accepted", "client_id", id, "client_name", cl.ClientName,
		"redirect_uris", cl.RedirectURIs, "cache_ttl", ttl)
	expires := l.now().Add(ttl)
	l.mu.Lock()
	l.cache.Add(id, cachedDocument{client: cl, expires: expires, staleUntil: expires.Add(l.conf.MaxTTL)})
	l.mu.Unlock()
	return cl, nil
}

// clientIDURL tells a client_id meant as a document URL: one that starts
// like an http(s) URL. Plain http is refused with the reason, not taken
// for an unknown registered client.
func clientIDURL(id string) bool {
	lower := strings.ToLower(id)
	return strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://")
}

// refuse is a document refused for reason: invalid_client naming the URL.
func refuse(id, format string, args ...any) *oauth.Error {
	return oauth.ErrInvalidClient().WithDescription("client ID metadata document %s: %s", quote(id), fmt.Sprintf(format, args...))
}

// fetch gets, checks and validates the document at id, and returns its
// client and how long to cache it.
func (l *Clients) fetch(ctx context.Context, id string) (store.Client, time.Duration, error) {
	if reason := checkClientIDURL(id); reason != "" {
		return store.Client{}, 0, refuse(id, "the client_id URL %s (draft-ietf-oauth-client-id-metadata-document §3)", reason)
	}
	if l.allowed != nil {
		u, err := urlpattern.ParseURL(id)
		if err != nil || !l.allowed.MatchURL(u) {
			return store.Client{}, 0, refuse(id, "this server does not accept client IDs of this host or path (client_id_metadata_documents.allowed_client_ids)")
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return store.Client{}, 0, refuse(id, "the URL cannot be requested").WithParent(err)
	}
	// Many client IDs on one host must not make this server hammer it. A
	// throttled fetch counts as unreachable: a last accepted copy is served.
	if ok, _ := l.perHost.Take(strings.ToLower(req.URL.Hostname()), l.now()); !ok {
		return store.Client{}, 0, refuse(id, "too many documents fetched from this host; try again later (client_id_metadata_documents.fetches_per_host)").
			WithParent(fmt.Errorf("%w: fetches to %s throttled", errUnreachable, req.URL.Hostname()))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.http.Do(req)
	if err != nil {
		var refused *outbound.RefusedError
		if !errors.As(err, &refused) && !errors.Is(err, outbound.ErrNotHTTPS) {
			err = fmt.Errorf("%w: %w", errUnreachable, err)
		}
		return store.Client{}, 0, refuse(id, "%s", fetchFailure(err)).WithParent(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode/100 == 3:
		return store.Client{}, 0, refuse(id, "answered a redirect (%d); documents are fetched without following redirects (§5)", resp.StatusCode)
	case resp.StatusCode >= 500:
		return store.Client{}, 0, refuse(id, "answered HTTP %d; a document must be served with 200 OK (§5)", resp.StatusCode).
			WithParent(fmt.Errorf("%w: HTTP %d", errUnreachable, resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return store.Client{}, 0, refuse(id, "answered HTTP %d; a document must be served with 200 OK (§5)", resp.StatusCode)
	case errors.Is(err, outbound.ErrResponseTooLarge):
		return store.Client{}, 0, refuse(id, "is larger than %d bytes (§8.7)", l.conf.MaxBytes)
	case err != nil:
		return store.Client{}, 0, refuse(id, "%s", fetchFailure(err)).WithParent(fmt.Errorf("%w: %w", errUnreachable, err))
	}
	meta, oerr := parseDocument(body, id, l.policy)
	if oerr != nil {
		return store.Client{}, 0, refuse(id, "%s", oerr.Description).WithParent(oerr)
	}
	now := l.now()
	cl := store.Client{ClientMetadata: meta, ID: id, IssuedAt: now.UTC().Truncate(time.Second), MetadataDocument: true}
	return cl, l.lifetime(resp.Header, now), nil
}

// checkClientIDURL returns why id cannot be a client identifier URL
// (draft §3), or "": https, a host, a path without dot segments, no user
// information or fragment, printable ASCII of bounded length.
func checkClientIDURL(id string) string {
	u, reason := parseURI(id)
	if reason != "" {
		return reason
	}
	switch {
	case u.Scheme != "https":
		return "must use https"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host"
	case strings.Contains(id, "#"):
		return "must not contain a fragment"
	case u.Opaque != "" || u.Path == "":
		return "must contain a path, such as /client.json"
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if s, _ := url.PathUnescape(seg); s == "." || s == ".." {
			return "must not contain . or .. path segments"
		}
	}
	return ""
}

// fetchFailure says why a fetch failed, without the address it resolved.
func fetchFailure(err error) string {
	var refused *outbound.RefusedError
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &refused):
		return "its host is a loopback, private or special-purpose address, which this server does not fetch from (§8.6)"
	case errors.Is(err, outbound.ErrNotHTTPS):
		return "must be fetched over https"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &timeout) && timeout.Timeout()):
		return "cannot be fetched: timed out"
	}
	return "cannot be fetched"
}

// parseDocument validates a document (draft §4) fetched from id: a JSON
// object of RFC 7591 metadata validated as a registration, whose
// client_id is id exactly (simple string comparison, §4), with no shared
// secret (§4.1). A document naming no token_endpoint_auth_method is a
// public client: RFC 7591's default, client_secret_basic, is not possible
// without registration.
func parseDocument(body []byte, id string, p policy) (store.ClientMetadata, *oauth.Error) {
	bad := oauth.ErrInvalidClientMetadata
	r, err := decodeRegistration(body)
	if err != nil {
		return r.meta, err
	}
	switch {
	case !r.members["client_id"]:
		return r.meta, bad().WithDescription("the document has no client_id (§4)")
	case r.clientID != id:
		return r.meta, bad().WithDescription("its client_id %s is not the URL it was fetched from (§4)", quote(r.clientID))
	case r.members["client_secret"] || r.members["client_secret_expires_at"]:
		return r.meta, bad().WithDescription("client_secret and client_secret_expires_at must not be used (§4.1)")
	}
	switch m := r.meta.TokenEndpointAuthMethod; m {
	case "", oauth.AuthNone:
		r.meta.TokenEndpointAuthMethod = oauth.AuthNone
	case "private_key_jwt":
		return r.meta, bad().WithDescription("token_endpoint_auth_method private_key_jwt is not supported by this server; use none (a public client with PKCE)")
	default:
		return r.meta, bad().WithDescription("token_endpoint_auth_method %s is based on a shared secret, which a document cannot establish (§4.1); use none", quote(m))
	}
	if err := validate(&r.meta, p); err != nil {
		return r.meta, err
	}
	if err := p.checkResources(&r.meta, store.ClientDynamic); err != nil {
		return r.meta, err
	}
	return r.meta, nil
}

// lifetime is how long a document fetched at now stays fresh (RFC 9111
// §4.2.1: max-age, else Expires minus Date, less Age), default_ttl when
// the answer says nothing, bounded by min_ttl and max_ttl (draft §5.2).
func (l *Clients) lifetime(h http.Header, now time.Time) time.Duration {
	ttl, known := freshness(h, now)
	if !known {
		ttl = l.conf.DefaultTTL
	}
	return min(max(ttl, l.conf.MinTTL), l.conf.MaxTTL)
}

func freshness(h http.Header, now time.Time) (time.Duration, bool) {
	maxAge := int64(-1)
	for _, d := range strings.Split(strings.Join(h.Values("Cache-Control"), ","), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0, true
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 && maxAge < 0 {
				maxAge = min(n, 1<<31)
			}
		}
	}
	if maxAge >= 0 {
		age, _ := strconv.ParseInt(h.Get("Age"), 10, 64)
		return time.Duration(max(maxAge-max(age, 0), 0)) * time.Second, true
	}
	if raw := h.Get("Expires"); raw != "" {
		exp, err := http.ParseTime(raw)
		if err != nil {
			return 0, true // RFC 9111 §5.3: an invalid Expires is in the past
		}
		date := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			date = d
		}
		return max(exp.Sub(date), 0), true
	}
	return 0, false
}

// clean bounds an untrusted value for a log line.
func clean(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}
