package e2e_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// docServer serves client ID metadata documents over https on loopback,
// as a client publishes its own, and counts the fetches of each path.
type docServer struct {
	*httptest.Server
	caFile string // its certificate, for outbound.ca_file

	mu      sync.Mutex
	fetches map[string]int
}

// document is the metadata of a public client published at url.
func document(url string, edit func(map[string]any)) map[string]any {
	doc := map[string]any{
		"client_id": url, "client_name": "Agent Smith", "redirect_uris": []string{liveRedirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
		"scope": "openid profile offline_access",
	}
	if edit != nil {
		edit(doc)
	}
	return doc
}

func startDocServer(t *testing.T) *docServer {
	t.Helper()
	d := &docServer{fetches: map[string]int{}}
	mux := http.NewServeMux()
	serve := func(path, cacheControl string, body func(self string) []byte) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			d.mu.Lock()
			d.fetches[path]++
			d.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if cacheControl != "" {
				w.Header().Set("Cache-Control", cacheControl)
			}
			_, _ = w.Write(body(d.URL + path))
		})
	}
	doc := func(edit func(map[string]any)) func(string) []byte {
		return func(self string) []byte {
			raw, _ := json.Marshal(document(self, edit))
			return raw
		}
	}
	serve("/client.json", "max-age=120", doc(nil))
	serve("/mismatch.json", "", doc(func(m map[string]any) { m["client_id"] = "https://other.example.com/client.json" }))
	serve("/no-id.json", "", doc(func(m map[string]any) { delete(m, "client_id") }))
	serve("/large.json", "", doc(func(m map[string]any) { m["software_version"] = strings.Repeat("x", 6000) }))
	serve("/bad.json", "", func(string) []byte { return []byte(`{"client_id": "https://`) })
	serve("/array.json", "", func(string) []byte { return []byte(`[]`) })
	serve("/secret.json", "", doc(func(m map[string]any) { m["client_secret"] = "s3cret" }))
	serve("/basic.json", "", doc(func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_basic" }))
	serve("/jwt.json", "", doc(func(m map[string]any) {
		m["token_endpoint_auth_method"] = "private_key_jwt"
		m["jwks_uri"] = "https://client.example.com/jwks.json"
	}))
	serve("/bad-redirect.json", "", doc(func(m map[string]any) { m["redirect_uris"] = []string{"javascript:alert(1)"} }))
	mux.HandleFunc("GET /moved.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/client.json", http.StatusFound)
	})
	d.Server = httptest.NewTLSServer(mux)
	t.Cleanup(d.Close)
	d.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Certificate().Raw})
	if err := os.WriteFile(d.caFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *docServer) count(path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fetches[path]
}

// TestClientIDMetadataDocument: a client whose client_id is the https URL
// of its metadata document runs the authorization-code flow with PKCE
// through golang.org/x/oauth2 without registering: discovery advertises
// the support, the document is fetched once for the whole flow and its
// refresh (cached by its max-age), the consent page names the host that
// published it, and its redirect URI is matched exactly.
func TestClientIDMetadataDocument(t *testing.T) {
	t.Parallel()
	docs := startDocServer(t)
	l := startLive(t, func(c *config.Config) { c.Outbound.CAFile = docs.caFile })
	clientID := docs.URL + "/client.json"

	meta := l.do(t, request{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"})
	if meta.body["client_id_metadata_document_supported"] != true {
		t.Errorf("discovery: client_id_metadata_document_supported = %v", meta.body["client_id_metadata_document_supported"])
	}

	conf := oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: l.base + "/v1/authorize", TokenURL: l.base + "/v1/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: liveRedirect,
		Scopes:      []string{"openid", "profile", "offline_access"},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier))

	// The consent page says who the client is: its name, and the host of
	// its URL, unvetted.
	resp, err := testclient.NoRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	consent := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(consent, "/oauth2/authorize/") {
		t.Fatalf("authorize: %d %q", resp.StatusCode, consent)
	}
	page := l.root(t, request{method: http.MethodGet, path: strings.TrimPrefix(consent, "http://"+l.addr)})
	host := strings.TrimPrefix(docs.URL, "https://")
	if !regexp.MustCompile(`id="client-host">[^<]*<strong>`+regexp.QuoteMeta(host)+`</strong>`).Match(page.raw) ||
		!strings.Contains(string(page.raw), "Agent Smith") {
		t.Errorf("consent page does not name the client's host %s: %.2000s", host, page.raw)
	}

	back := testclient.Must(testclient.Approve(l.base, l.base, authURL))(t)
	if back.Query().Get("state") != "st4te" || back.Query().Get("code") == "" {
		t.Fatalf("approved redirect %s", back)
	}
	ctx := context.Background()
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("token %+v", tok)
	}
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour) // force the refresh
	fresh, err := conf.TokenSource(ctx, &stale).Token()
	if err != nil || fresh.AccessToken == "" || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v %+v", err, fresh)
	}
	// Its access token verifies while the document is accepted.
	info, err := conf.Client(ctx, fresh).Get(l.base + "/v1/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	info.Body.Close()
	if info.StatusCode != http.StatusOK {
		t.Errorf("userinfo with the client's access token: %d %s", info.StatusCode, info.Header.Get("WWW-Authenticate"))
	}
	if n := docs.count("/client.json"); n != 1 {
		t.Errorf("the document was fetched %d times for one flow and a refresh, want 1 (max-age=120)", n)
	}

	// draft §4.2: exact redirect URIs; a loopback URI on another port,
	// which a registered client may use (RFC 8252 §7.3), is refused.
	other := conf
	other.RedirectURL = "http://127.0.0.1:10/callback"
	a := l.do(t, request{method: http.MethodGet, path: strings.TrimPrefix(other.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), l.base)})
	if a.status != http.StatusBadRequest || !strings.Contains(a.str("error_description"), "redirect_uri is not registered") {
		t.Errorf("another loopback port: %d %s", a.status, a.raw)
	}
}

// TestBadInputClientIDDocuments: every refused client ID metadata
// document answers the RFC error as JSON (invalid_request at the
// authorization endpoint, which never redirects to an unverified URI;
// invalid_client at the token endpoint) with a description naming the
// reason, never a 500, changes nothing in the store, and is not cached:
// the next request fetches it again.
func TestBadInputClientIDDocuments(t *testing.T) {
	t.Parallel()
	docs := startDocServer(t)
	// Every refused document is fetched twice from the one loopback host:
	// the per-host bound is not what this test is about.
	l := startLive(t, func(c *config.Config) {
		c.Outbound.CAFile = docs.caFile
		c.ClientIDDocuments.FetchBurstPerHost = 100
	})
	allowList := startLive(t, func(c *config.Config) {
		c.Outbound.CAFile = docs.caFile
		c.ClientIDDocuments.AllowedClientIDs = []string{"https://clients.example.com/**"}
	})
	disabled := startLive(t, func(c *config.Config) {
		c.Outbound.CAFile = docs.caFile
		c.ClientIDDocuments.Enabled = false
	})
	authorize := func(clientID string) request {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {liveRedirect},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		return request{method: http.MethodGet, path: "/v1/authorize?" + q.Encode()}
	}
	token := func(clientID string) request {
		return form("/v1/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {clientID},
			"redirect_uri": {liveRedirect}, "code_verifier": {"y"}}, "", "")
	}
	u := func(path string) string { return docs.URL + path }
	for _, tc := range []struct {
		name   string
		on     *live
		req    request
		status int
		code   string
		says   string
		path   string // fetched again on a second try, when set
	}{
		{"not https", l, authorize(strings.Replace(u("/client.json"), "https:", "http:", 1)), 400, "invalid_request", "must use https", ""},
		{"no path", l, authorize(docs.URL), 400, "invalid_request", "must contain a path", ""},
		{"dot segment", l, authorize(u("/a/../client.json")), 400, "invalid_request", "must not contain . or ..", ""},
		{"fragment", l, authorize(u("/client.json#x")), 400, "invalid_request", "must not contain a fragment", ""},
		{"user information", l, authorize(strings.Replace(u("/client.json"), "https://", "https://me@", 1)), 400, "invalid_request", "user information", ""},
		{"too large", l, authorize(u("/large.json")), 400, "invalid_request", "larger than 5120 bytes", "/large.json"},
		{"client_id mismatch", l, authorize(u("/mismatch.json")), 400, "invalid_request", "is not the URL it was fetched from", "/mismatch.json"},
		{"client_id missing", l, authorize(u("/no-id.json")), 400, "invalid_request", "has no client_id", "/no-id.json"},
		{"bad JSON", l, authorize(u("/bad.json")), 400, "invalid_request", "must be a JSON object", "/bad.json"},
		{"not an object", l, authorize(u("/array.json")), 400, "invalid_request", "must be a JSON object", "/array.json"},
		{"client_secret", l, authorize(u("/secret.json")), 400, "invalid_request", "client_secret and client_secret_expires_at must not be used", "/secret.json"},
		{"shared-secret auth method", l, authorize(u("/basic.json")), 400, "invalid_request", "shared secret", "/basic.json"},
		{"private_key_jwt", l, authorize(u("/jwt.json")), 400, "invalid_request", "private_key_jwt is not supported", "/jwt.json"},
		{"bad redirect URI", l, authorize(u("/bad-redirect.json")), 400, "invalid_request", "javascript scheme", "/bad-redirect.json"},
		{"redirect not followed", l, authorize(u("/moved.json")), 400, "invalid_request", "answered a redirect", ""},
		{"not found", l, authorize(u("/missing.json")), 400, "invalid_request", "answered HTTP 404", ""},
		{"host not allow-listed", allowList, authorize(u("/client.json")), 400, "invalid_request", "allowed_client_ids", ""},
		{"disabled", disabled, authorize(u("/client.json")), 400, "invalid_request", "not a registered client", ""},
		{"token endpoint, mismatch", l, token(u("/mismatch.json")), 401, "invalid_client", "is not the URL it was fetched from", "/mismatch.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.on.snapshot(t)
			fetched := docs.count(tc.path)
			for try := range 2 {
				a := tc.on.do(t, tc.req)
				if a.status >= 500 {
					t.Fatalf("server error %d: %s", a.status, a.raw)
				}
				if a.status != tc.status || a.str("error") != tc.code || !strings.Contains(a.str("error_description"), tc.says) {
					t.Errorf("try %d: got %d %s, want %d %s saying %q", try, a.status, a.raw, tc.status, tc.code, tc.says)
				}
				if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || a.header.Get("Location") != "" {
					t.Errorf("Content-Type %q, Location %q: want JSON, no redirect", ct, a.header.Get("Location"))
				}
			}
			if tc.path != "" {
				if n := docs.count(tc.path) - fetched; n != 2 {
					t.Errorf("a refused document was fetched %d times for two requests: it must not be cached", n)
				}
			}
			unchanged(t, before, tc.on.snapshot(t))
		})
	}
	// Nothing was fetched for the refusals decided before fetching.
	if n := docs.count("/client.json"); n != 0 {
		t.Errorf("/client.json fetched %d times by refused requests", n)
	}
}
