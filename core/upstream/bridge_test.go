package upstream_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
	"github.com/gatehouse-auth/gatehouse/core/upstream"
)

// bridgeEnv is the server under test with the bridge on provider corp,
// whose IdP is a second Gatehouse.
func bridgeEnv(t *testing.T, idpEdit func(*config.Config), edit func(*config.Config)) (*env, *upstreamIdP) {
	t.Helper()
	idp := startIdP(t, idpEdit)
	e := start(t, func(c *config.Config) {
		cl := idp.register(t, c.Issuer()+"/bridge/callback")
		c.Providers = map[string]map[string]config.Provider{"corp": {"production": {
			Type: config.ProviderOIDC, ClientID: cl.ID, ClientSecret: cl.Secret, Issuer: idp.issuer,
			Scopes: []string{"profile", "email", "offline_access"},
		}}}
		c.Bridge = config.Bridge{Enabled: true, Provider: "corp", Env: "production", GrantTTL: 24 * time.Hour, RevokePerMinute: 3}
		// The provider's sign_in (signin-default: example.com only) decides
		// who may connect.
		c.Plugins.Dir, c.Plugins.Watch = "", false // the embedded first-party plugins
		noEmailVerified(c)
		if edit != nil {
			edit(c)
		}
	})
	return e, idp
}

var (
	clientIDRe     = regexp.MustCompile(`id="client-id">([^<]+)<`)
	clientSecretRe = regexp.MustCompile(`id="client-secret">([^<]+)<`)
)

// connect runs the landing → upstream → callback flow and returns the
// bridged client's credentials.
func connect(t *testing.T, e *env, idp *upstreamIdP) (id, secret string) {
	t.Helper()
	b := newBrowser(t)
	landing := b.do(t, http.MethodGet, e.issuer+"/bridge", "", "")
	if landing.status != http.StatusOK || !bytes.Contains(landing.body, []byte(`href="`+e.cfg.Server.BasePath+`/bridge/start"`)) {
		t.Fatalf("landing %d: %.300s", landing.status, landing.body)
	}
	idp.signInAt(t, b, "alice@example.com")
	_, consent := b.follow(t, e.issuer+"/bridge/start", idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/bridge/callback")
	a := b.do(t, http.MethodGet, back, "", "")
	idm, secm := clientIDRe.FindSubmatch(a.body), clientSecretRe.FindSubmatch(a.body)
	if a.status != http.StatusOK || idm == nil || secm == nil || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("callback %d: %.500s", a.status, a.body)
	}
	if again := b.do(t, http.MethodGet, back, "", ""); again.status != http.StatusBadRequest {
		t.Errorf("callback replayed: %d", again.status)
	}
	return string(idm[1]), string(secm[1])
}

func bridgeToken(t *testing.T, e *env, id, secret string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/v1/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	a.status, a.header = resp.StatusCode, resp.Header
	a.body, _ = readAll(resp)
	return a.status, a.json(t), a.header
}

// upstreamUser asks the IdP's userinfo who an access token is for.
func upstreamUser(t *testing.T, idp *upstreamIdP, accessToken string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, idp.issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	status, body, err := testclient.Do(req)
	if err != nil || status != http.StatusOK {
		t.Fatalf("userinfo: %d %v %v", status, body, err)
	}
	sub, _ := body["sub"].(string)
	return sub
}

// TestBridge: landing, callback, client credentials answered with the
// upstream's access token, revoke; the database holds no usable secret.
func TestBridge(t *testing.T) {
	e, idp := bridgeEnv(t, nil, nil)
	id, secret := connect(t, e, idp)
	if !strings.HasPrefix(id, upstream.BridgeClientPrefix) {
		t.Errorf("client_id %q", id)
	}
	status, tok, header := bridgeToken(t, e, id, secret)
	if status != http.StatusOK || header.Get("Cache-Control") != "no-store" || tok["token_type"] != "Bearer" {
		t.Fatalf("token: %d %v", status, tok)
	}
	access := tok["access_token"].(string)
	if sub := upstreamUser(t, idp, access); sub != "user:upstream/alice" {
		t.Errorf("upstream token is for %q", sub)
	}
	// Not about to expire: the same upstream token again, no refresh.
	if _, again, _ := bridgeToken(t, e, id, secret); again["access_token"] != access {
		t.Errorf("token changed without need: %v", again)
	}

	// The database copy: no secret, no upstream token in the clear.
	var dump bytes.Buffer
	_ = e.st.KV.Scan(context.Background(), "bridge/", func(_ string, v []byte) error { dump.Write(v); return nil })
	for _, leaked := range []string{secret, access} {
		if bytes.Contains(dump.Bytes(), []byte(leaked)) {
			t.Errorf("the store holds %q in the clear", leaked[:8])
		}
	}

	for name, cred := range map[string][2]string{
		"wrong secret":   {id, secret[:len(secret)-2] + "xx"},
		"unknown client": {upstream.BridgeClientPrefix + "nobody", secret},
		"no secret":      {id, ""},
	} {
		if status, body, _ := bridgeToken(t, e, cred[0], cred[1]); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}

	// Someone who can write to the database swaps in the hash of a secret
	// of their own: the hash matches, the grant still does not open.
	grants := e.st.BridgeGrants
	forged := oauth.RandomToken(32)
	if _, err := grants.Update(context.Background(), id, func(g store.BridgeGrant) (store.BridgeGrant, error) {
		g.SecretHash = oauth.HashSecret(forged)
		return g, nil
	}); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := bridgeToken(t, e, id, forged); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("forged secret: %d %v", status, body)
	}
	if _, err := grants.Update(context.Background(), id, func(g store.BridgeGrant) (store.BridgeGrant, error) {
		g.SecretHash = oauth.HashSecret(secret)
		return g, nil
	}); err != nil {
		t.Fatal(err)
	}

	revoke := func(id, secret string) (int, map[string]any, http.Header) {
		status, body, err := testclient.PostForm(e.issuer+"/bridge/revoke", id, secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		return status, body, nil
	}
	if status, body, _ := revoke(id, "wrong"); status != http.StatusUnauthorized {
		t.Errorf("revoke with a wrong secret: %d %v", status, body)
	}
	if status, body, _ := revoke(id, secret); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if status, _, _ := bridgeToken(t, e, id, secret); status != http.StatusUnauthorized {
		t.Errorf("token after revoke: %d", status)
	}
	if status, _, _ := revoke(id, secret); status != http.StatusUnauthorized {
		t.Errorf("revoke twice: %d", status)
	}
	// revoke_per_minute is 3 per address: the fourth attempt waits.
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/bridge/revoke", strings.NewReader(""))
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("fourth revoke: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Other clients still reach the token endpoint through the bridge route.
	if status, body, _ := bridgeToken(t, e, "not-bridged", "x"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("ordinary client: %d %v", status, body)
	}
}

// TestBridgeRefresh: an upstream access token about to expire is
// refreshed upstream, re-sealed, and the new one handed out.
func TestBridgeRefresh(t *testing.T) {
	e, idp := bridgeEnv(t, func(c *config.Config) { c.Tokens.AccessTokenTTL = 30 * time.Second }, nil)
	id, secret := connect(t, e, idp)
	ctx := context.Background()
	before, err := e.st.BridgeGrants.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The grant is about to expire: a refresh must move the expiry of
	// the stored entry, not only of the record in it.
	before.ExpiresAt = time.Now().Add(time.Minute)
	if err := e.st.BridgeGrants.Put(ctx, id, before); err != nil {
		t.Fatal(err)
	}
	_, first, _ := bridgeToken(t, e, id, secret)
	_, second, _ := bridgeToken(t, e, id, secret)
	a, b := first["access_token"], second["access_token"]
	if a == nil || b == nil || a == b {
		t.Fatalf("not refreshed: %v then %v", first, second)
	}
	for _, tok := range []any{a, b} {
		if sub := upstreamUser(t, idp, tok.(string)); sub != "user:upstream/alice" {
			t.Errorf("refreshed token is for %q", sub)
		}
	}
	after, err := e.st.BridgeGrants.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before.Sealed, after.Sealed) || !after.ExpiresAt.After(before.ExpiresAt) {
		t.Errorf("grant not re-sealed and extended")
	}
	page, err := e.st.KV.ScanPage(ctx, e.st.BridgeGrants.Prefix()+id, store.Page{Limit: 1})
	if err != nil || len(page) != 1 {
		t.Fatalf("stored grant: %v %v", page, err)
	}
	if got := page[0].ExpiresAt; got.Before(time.Now().Add(time.Hour)) {
		t.Errorf("the stored grant still expires at %v, its record at %v", got, after.ExpiresAt)
	}
}

// TestBridgeRateLimit: the token endpoint's limiter counts bridged
// clients: past the burst, 429 with Retry-After.
func TestBridgeRateLimit(t *testing.T) {
	e, idp := bridgeEnv(t, nil, func(c *config.Config) {
		c.RateLimit = config.RateLimit{Enabled: true, TokenPerSecond: 0.01, TokenBurst: 2, RegisterPerSecond: 1, RegisterBurst: 1}
	})
	id, secret := connect(t, e, idp)
	for i := range 2 {
		if status, body, _ := bridgeToken(t, e, id, secret); status != http.StatusOK {
			t.Fatalf("token %d: %d %v", i, status, body)
		}
	}
	status, body, header := bridgeToken(t, e, id, secret)
	if status != http.StatusTooManyRequests || header.Get("Retry-After") == "" {
		t.Errorf("past the burst: %d %v Retry-After %q", status, body, header.Get("Retry-After"))
	}
}

// TestBridgePurge: grants past their expiry are swept, live ones kept.
func TestBridgePurge(t *testing.T) {
	st := store.New(memory.New())
	grants := st.BridgeGrants
	now := time.Now()
	for id, exp := range map[string]time.Time{"bridge-soon": now.Add(2 * time.Minute), "bridge-live": now.Add(time.Hour)} {
		if err := grants.Put(context.Background(), id, store.BridgeGrant{ClientID: id, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := upstream.PurgeBridge(context.Background(), st, now); err != nil || n != 0 {
		t.Errorf("purge now: %d %v", n, err)
	}
	n, err := upstream.PurgeBridge(context.Background(), st, now.Add(10*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("purge in ten minutes: %d %v", n, err)
	}
	if _, err := grants.Get(context.Background(), "bridge-soon"); err != store.ErrNotFound {
		t.Errorf("expired grant still there: %v", err)
	}
	if _, err := grants.Get(context.Background(), "bridge-live"); err != nil {
		t.Errorf("live grant purged: %v", err)
	}
}

// TestBridgePurgePages: a purge of more grants than one page reads them
// page by page (no scan of the whole space) and purges every expired one.
func TestBridgePurgePages(t *testing.T) {
	ctx := context.Background()
	kv := storetest.Paged(memory.New(), store.BridgeGrantsPrefix+"/")
	st := store.New(kv)
	now := time.Now()
	const n = 700 // more than two pages
	for i := range n {
		exp := now.Add(time.Hour)
		if i%2 == 0 {
			exp = now.Add(time.Minute)
		}
		id := fmt.Sprintf("bridge-%04d", i)
		if err := st.BridgeGrants.Put(ctx, id, store.BridgeGrant{ClientID: id, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	purged, err := upstream.PurgeBridge(ctx, st, now.Add(10*time.Minute))
	if err != nil || purged != n/2 {
		t.Fatalf("purge: %d %v, want %d", purged, err, n/2)
	}
	left, next, err := st.BridgeGrants.ListPage(ctx, store.Page{Limit: n})
	if err != nil || next != "" || len(left) != n/2 {
		t.Fatalf("left %d grants (%v), want %d", len(left), err, n/2)
	}
	for _, r := range left {
		if !r.Value.ExpiresAt.After(now.Add(10 * time.Minute)) {
			t.Fatalf("expired grant %s kept", r.ID)
		}
	}
}

// TestBridgeHammer: concurrent token requests of one bridged client whose
// upstream token always needs refreshing. The upstream rotates refresh
// tokens and revokes the grant on reuse, so any refresh racing another
// would end the grant: every request must succeed with a token the
// upstream accepts.
func TestBridgeHammer(t *testing.T) {
	e, idp := bridgeEnv(t, func(c *config.Config) { c.Tokens.AccessTokenTTL = 30 * time.Second }, nil)
	id, secret := connect(t, e, idp)
	const workers, calls = 6, 3
	type got struct {
		status int
		token  string
	}
	results := make(chan got, workers*calls)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/v1/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, secret)
				status, body, err := testclient.Do(req)
				if err != nil {
					results <- got{status: -1}
					continue
				}
				tok, _ := body["access_token"].(string)
				results <- got{status, tok}
			}
		}()
	}
	wg.Wait()
	close(results)
	seen := map[string]bool{}
	for r := range results {
		if r.status != http.StatusOK || r.token == "" {
			t.Fatalf("a concurrent request failed: %d", r.status)
		}
		seen[r.token] = true
	}
	if len(seen) != workers*calls {
		t.Errorf("%d distinct tokens for %d refreshing requests", len(seen), workers*calls)
	}
	// The last refresh left a live grant.
	_, last, _ := bridgeToken(t, e, id, secret)
	if sub := upstreamUser(t, idp, last["access_token"].(string)); sub != "user:upstream/alice" {
		t.Errorf("after the hammer the token is for %q", sub)
	}
}

// TestBridgeSignInRefused: the bridge's callback runs the provider's
// sign-in hooks: someone sign_in refuses sees its message and gets no
// bridged client; nothing is stored.
func TestBridgeSignInRefused(t *testing.T) {
	e, idp := bridgeEnv(t, nil, nil)
	b := newBrowser(t)
	idp.signInAt(t, b, "mallory@evil.example")
	_, consent := b.follow(t, e.issuer+"/bridge/start", idp.issuer+"/oauth2/authorize/")
	back := b.approveAtIdP(t, consent, e.issuer+"/bridge/callback")
	a := b.do(t, http.MethodGet, back, "", "")
	if a.status != http.StatusForbidden || clientIDRe.Match(a.body) || clientSecretRe.Match(a.body) ||
		!bytes.Contains(a.body, []byte("evil.example")) {
		t.Errorf("refused sign-in: %d %.500s", a.status, a.body)
	}
	n := 0
	if err := e.st.BridgeGrants.List(context.Background(), func(string, store.BridgeGrant) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d bridged grants stored for a refused sign-in", n)
	}
}

// TestBridgeRevokeBehindProxy: behind server.trusted_proxies, the revoke
// limit counts the address the proxy saw (X-Forwarded-For), as the
// server's rate limiter does, not the proxy's own address.
func TestBridgeRevokeBehindProxy(t *testing.T) {
	e, _ := bridgeEnv(t, nil, func(c *config.Config) { c.Server.TrustedProxies = 1 })
	revoke := func(forwardedFor string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/bridge/revoke", strings.NewReader(""))
		req.SetBasicAuth(upstream.BridgeClientPrefix+"nobody", "wrong")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// revoke_per_minute is 3: the client at 203.0.113.1 spends it (a
	// forged leftmost entry changes nothing)...
	for i, xff := range []string{"203.0.113.1", "198.51.100.1, 203.0.113.1", "198.51.100.2, 203.0.113.1"} {
		if resp := revoke(xff); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	if resp := revoke("198.51.100.3, 203.0.113.1"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("fourth attempt from 203.0.113.1: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// ...while another client behind the same proxy still gets an answer.
	if resp := revoke("203.0.113.2"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another client behind the proxy: %d", resp.StatusCode)
	}
}

// TestBridgeRefreshAcrossReplicas: TestBridgeHammer with the requests
// spread over two servers on one store, as replicas on one database: the
// upstream refresh is claimed in the store, not by a lock of one process,
// so no two refreshes of the grant race (the upstream would revoke it on
// the reused refresh token) and every request gets a token.
func TestBridgeRefreshAcrossReplicas(t *testing.T) {
	e, idp := bridgeEnv(t, func(c *config.Config) { c.Tokens.AccessTokenTTL = 30 * time.Second }, nil)
	id, secret := connect(t, e, idp)
	other := servertest.StartWith(t, func(c *config.Config) {
		c.Providers, c.Bridge = e.cfg.Providers, e.cfg.Bridge
		c.Plugins.Dir, c.Plugins.Watch = "", false
		noEmailVerified(c)
	}, servertest.Options{Store: func(testing.TB, *config.Config) *store.Store { return e.st }})
	issuers := []string{e.issuer, other.Issuer}
	const workers, calls = 6, 4
	statuses := make(chan int, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				req, _ := http.NewRequest(http.MethodPost, issuers[(w+i)%2]+"/v1/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, secret)
				status, body, err := testclient.Do(req)
				if err != nil || body["access_token"] == nil {
					status = -status - 1
				}
				statuses <- status
			}
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("a request failed: %d", s)
		}
	}
	for _, issuer := range issuers {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/v1/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		status, body, err := testclient.Do(req)
		tok, _ := body["access_token"].(string)
		if err != nil || status != http.StatusOK || tok == "" {
			t.Fatalf("after the hammer, token from %s: %d %v %v", issuer, status, body, err)
		}
		if sub := upstreamUser(t, idp, tok); sub != "user:upstream/alice" {
			t.Errorf("after the hammer the token from %s is for %q", issuer, sub)
		}
	}
}

// TestBridgeRefreshClaim: while another server's claim on the grant's
// refresh is live, a request that needs a refresh gets the token the grant
// holds (still valid) and sends no refresh of its own; a claim that has run
// out (its server died) is taken over, and the refresh gives it back.
func TestBridgeRefreshClaim(t *testing.T) {
	e, idp := bridgeEnv(t, func(c *config.Config) { c.Tokens.AccessTokenTTL = 30 * time.Second }, nil)
	id, secret := connect(t, e, idp)
	grants := e.st.BridgeGrants
	_, first, _ := bridgeToken(t, e, id, secret)
	claim := func(until time.Time) {
		t.Helper()
		if _, err := grants.Update(context.Background(), id, func(g store.BridgeGrant) (store.BridgeGrant, error) {
			g.RefreshingUntil = until
			return g, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	claim(time.Now().Add(time.Hour)) // another server is refreshing
	status, held, _ := bridgeToken(t, e, id, secret)
	if status != http.StatusOK || held["access_token"] != first["access_token"] {
		t.Fatalf("during another server's refresh: %d %v, want the held token %v", status, held, first["access_token"])
	}

	claim(time.Now().Add(-time.Second)) // that server died
	status, fresh, _ := bridgeToken(t, e, id, secret)
	if status != http.StatusOK || fresh["access_token"] == nil || fresh["access_token"] == first["access_token"] {
		t.Fatalf("after the claim ran out: %d %v, want a refreshed token", status, fresh)
	}
	if sub := upstreamUser(t, idp, fresh["access_token"].(string)); sub != "user:upstream/alice" {
		t.Errorf("refreshed token is for %q", sub)
	}
	g, err := grants.Get(context.Background(), id)
	if err != nil || !g.RefreshingUntil.IsZero() {
		t.Fatalf("after the refresh the claim is %v (%v), want given back", g.RefreshingUntil, err)
	}
}
