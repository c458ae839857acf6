package authorize_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// TestSessionAPI drives /v1/sessions/{id} as Backstage's consent page
// does, with the bad inputs: unknown or expired sessions, missing or bad
// bearer tokens, and a second decision.
func TestSessionAPI(t *testing.T) {
	e := start(t, nil)
	e.client(t, "app", store.ClientMetadata{ClientName: "The App", Scope: "openid profile"})
	b := newBrowser(t)
	guest := e.guestToken(t)

	t.Run("get", func(t *testing.T) {
		id := e.authorize(t, b, authParams("app"))
		a := b.get(t, e.issuer+"/v1/sessions/"+id)
		body := a.json(t)
		want := map[string]any{"id": id, "clientId": "app", "clientName": "The App", "scope": "openid", "redirectUri": testRedirect}
		if a.status != http.StatusOK || len(body) != len(want)+1 {
			t.Fatalf("got %d %v", a.status, body)
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s = %v, want %v", k, body[k], v)
			}
		}
		if r, ok := body["resources"].([]any); !ok || len(r) != 0 {
			t.Errorf("resources = %#v, want [] for a request naming none", body["resources"])
		}
	})

	// The consent page must be able to show where the token will be
	// usable: the RFC 8707 resources the request named.
	t.Run("get shows the requested resources", func(t *testing.T) {
		p := authParams("app")
		p["resource"] = []string{"https://api.example.com/", "urn:example:catalog"}
		id := e.authorize(t, b, p)
		a := b.get(t, e.issuer+"/v1/sessions/"+id)
		r, _ := a.json(t)["resources"].([]any)
		if a.status != http.StatusOK || len(r) != 2 || r[0] != "https://api.example.com/" || r[1] != "urn:example:catalog" {
			t.Errorf("got %d resources %#v, want both requested", a.status, a.json(t)["resources"])
		}
	})

	expired := e.authorize(t, b, authParams("app"))
	_, err := e.st.AuthRequests.Update(context.Background(), expired, func(r store.AuthRequest) (store.AuthRequest, error) {
		r.ExpiresAt = time.Now().Add(-time.Second)
		return r, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	access, err := e.srv.Issuer().AccessToken(context.Background(), token.AccessRequest{ClientID: "app", Subject: "user:default/x"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		method  string
		path    func(id string) string
		header  http.Header
		status  int
		code    string
		pending bool // the session is still undecided afterwards
	}{
		{"get unknown", http.MethodGet, func(string) string { return "/v1/sessions/unknown" }, nil, 404, "not_found", true},
		{"get bad id", http.MethodGet, func(string) string { return "/v1/sessions/" + strings.Repeat("a", 200) }, nil, 404, "not_found", true},
		{"get expired", http.MethodGet, func(string) string { return "/v1/sessions/" + expired }, nil, 404, "not_found", true},
		{"approve unknown", http.MethodPost, func(string) string { return "/v1/sessions/unknown/approve" }, bearer(guest), 404, "not_found", true},
		{"approve expired", http.MethodPost, func(string) string { return "/v1/sessions/" + expired + "/approve" }, bearer(guest), 404, "not_found", true},
		{"approve without bearer", http.MethodPost, approvePath, nil, 401, "invalid_token", true},
		{"approve with Basic", http.MethodPost, approvePath, http.Header{"Authorization": {"Basic YTpi"}}, 401, "invalid_token", true},
		{"approve with empty bearer", http.MethodPost, approvePath, http.Header{"Authorization": {"Bearer "}}, 401, "invalid_token", true},
		{"approve with garbage bearer", http.MethodPost, approvePath, bearer("not.a.jwt"), 401, "invalid_token", true},
		{"approve with tampered bearer", http.MethodPost, approvePath, bearer(guest[:len(guest)-4] + "AAAA"), 401, "invalid_token", true},
		{"approve with an access token", http.MethodPost, approvePath, bearer(access.Token), 401, "invalid_token", true},
		{"reject without bearer", http.MethodPost, rejectPath, nil, 401, "invalid_token", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.authorize(t, b, authParams("app"))
			a := b.do(t, tt.method, e.issuer+tt.path(id), tt.header, "")
			if a.status != tt.status || a.json(t)["error"] != tt.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if a.status == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
			}
			if r := e.session(t, id); (r.Decision == "") != tt.pending {
				t.Errorf("decision %q afterwards", r.Decision)
			}
		})
	}
	if n := len(e.codes(t)); n != 0 {
		t.Errorf("%d codes stored by refused requests", n)
	}

	t.Run("approve issues a code as the token endpoint expects", func(t *testing.T) {
		p := authParams("app")
		p.Set("scope", "openid profile")
		p["resource"] = []string{"https://api.example.com/"}
		id := e.authorize(t, b, p)
		before := time.Now()
		a := b.do(t, http.MethodPost, e.issuer+"/v1/sessions/"+id+"/approve", bearer(guest), "{}")
		after := time.Now()
		if a.status != http.StatusOK || a.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("approve: %d %s (Cache-Control %q)", a.status, a.body, a.header.Get("Cache-Control"))
		}
		redirect, _ := a.json(t)["redirectUrl"].(string)
		u, err := url.Parse(redirect)
		if err != nil || !strings.HasPrefix(redirect, testRedirect+"?") {
			t.Fatalf("redirectUrl %q", redirect)
		}
		q := u.Query()
		if q.Get("state") != "st-123" || q.Get("iss") != e.issuer || q.Get("code") == "" {
			t.Fatalf("redirect query %v", q)
		}
		code, err := e.st.Codes.Get(context.Background(), store.HashID(q.Get("code")))
		if err != nil {
			t.Fatalf("code not stored under its hash: %v", err)
		}
		if code.ClientID != "app" || code.RedirectURI != testRedirect || !code.RedirectURIGiven ||
			code.Subject != e.cfg.Guest.UserEntityRef || len(code.Ownership) == 0 || code.Scope != "openid profile" ||
			code.Nonce != "n-0S6_WzA2Mj" || code.CodeChallenge != challenge(testVerifier) || code.GrantID == "" || code.Used ||
			len(code.Resource) != 1 || code.Resource[0] != "https://api.example.com/" {
			t.Errorf("code %+v", code)
		}
		if code.AuthTime.IsZero() || code.AuthTime.After(time.Now()) {
			t.Errorf("auth_time %v", code.AuthTime)
		}
		// Made during the request, however long a loaded machine took.
		if ttl := e.cfg.Tokens.CodeTTL; code.ExpiresAt.Before(before.Add(ttl)) || code.ExpiresAt.After(after.Add(ttl)) {
			t.Errorf("code expires %v after the approval began (which took %v), want %v", code.ExpiresAt.Sub(before), after.Sub(before), ttl)
		}
		// The decided session keeps only what answers a second decision.
		if r := e.session(t, id); r.Decision != "approved" || r.ClientID != "app" || r.ExpiresAt.IsZero() ||
			r.RedirectURI != "" || r.State != "" || r.Nonce != "" || r.CodeChallenge != "" || r.Scope != "" {
			t.Errorf("decided session %+v", r)
		}

		// The code redeems at the token endpoint, and the resource is the
		// access token's audience (RFC 8707 §2).
		form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}
		req := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		req.Set("Authorization", "Basic "+basicAuth("app", testSecret))
		tok := b.do(t, http.MethodPost, e.issuer+"/v1/token", req, form.Encode())
		body := tok.json(t)
		at, _ := body["access_token"].(string)
		if tok.status != http.StatusOK || at == "" || body["id_token"] == nil {
			t.Fatalf("token: %d %s", tok.status, tok.body)
		}
		if aud := audience(jwtClaims(t, at)["aud"]); len(aud) != 1 || aud[0] != "https://api.example.com/" {
			t.Errorf("access token aud %v, want the resource", aud)
		}

		// A second decision, either way, is refused and changes nothing.
		for _, path := range []string{"/approve", "/reject"} {
			a := b.do(t, http.MethodPost, e.issuer+"/v1/sessions/"+id+path, bearer(guest), "")
			if a.status != http.StatusConflict || a.json(t)["error"] != "invalid_request" {
				t.Errorf("%s after approve: %d %s", path, a.status, a.body)
			}
		}
		if g := b.get(t, e.issuer+"/v1/sessions/"+id); g.status != http.StatusConflict {
			t.Errorf("get after approve: %d %s", g.status, g.body)
		}
		if r := e.session(t, id); r.Decision != "approved" {
			t.Errorf("decision %q", r.Decision)
		}
	})

	t.Run("reject", func(t *testing.T) {
		id := e.authorize(t, b, authParams("app"))
		codes := len(e.codes(t))
		a := b.do(t, http.MethodPost, e.issuer+"/v1/sessions/"+id+"/reject", bearer(guest), "")
		redirect, _ := a.json(t)["redirectUrl"].(string)
		u, err := url.Parse(redirect)
		if a.status != http.StatusOK || err != nil || !strings.HasPrefix(redirect, testRedirect+"?") {
			t.Fatalf("reject: %d %s", a.status, a.body)
		}
		if q := u.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Get("iss") != e.issuer || q.Has("code") {
			t.Errorf("redirect query %v", q)
		}
		if r := e.session(t, id); r.Decision != "rejected" {
			t.Errorf("decision %q", r.Decision)
		}
		if n := len(e.codes(t)); n != codes {
			t.Errorf("reject stored a code")
		}
		a = b.do(t, http.MethodPost, e.issuer+"/v1/sessions/"+id+"/approve", bearer(guest), "")
		if a.status != http.StatusConflict {
			t.Errorf("approve after reject: %d %s", a.status, a.body)
		}
	})
}

// TestSessionDecidedOnce: of many concurrent approvals of one session,
// exactly one gets a code, and only that code is left in the store.
func TestSessionDecidedOnce(t *testing.T) {
	e := start(t, nil)
	e.client(t, "app", store.ClientMetadata{})
	b := newBrowser(t)
	guest := e.guestToken(t)
	for range 5 {
		id := e.authorize(t, b, authParams("app"))
		before := len(e.codes(t))
		const n = 16
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
		)
		for range n {
			wg.Go(func() {
				a := b.do(t, http.MethodPost, e.issuer+"/v1/sessions/"+id+"/approve", bearer(guest), "")
				mu.Lock()
				statuses[a.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if statuses[http.StatusOK] != 1 || statuses[http.StatusConflict] != n-1 {
			t.Fatalf("statuses %v: want one 200 and %d 409", statuses, n-1)
		}
		if got := len(e.codes(t)) - before; got != 1 {
			t.Fatalf("%d codes left in the store, want 1", got)
		}
	}
}

func approvePath(id string) string { return "/v1/sessions/" + id + "/approve" }
func rejectPath(id string) string  { return "/v1/sessions/" + id + "/reject" }

func basicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// audience reads aud as a string or a list (RFC 7519 §4.1.3).
func audience(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			str, _ := s.(string)
			out = append(out, str)
		}
		return out
	}
	return nil
}

// TestSessionOfDeletedClient: once a client is deleted (RFC 7592), its
// pending sessions can be neither shown nor approved: nobody is sent to
// its redirect URI, and no code is written.
func TestSessionOfDeletedClient(t *testing.T) {
	e := start(t, nil)
	e.client(t, "gone", store.ClientMetadata{ClientName: "Gone", Scope: "openid"})
	b := newBrowser(t)
	guest := e.guestToken(t)
	id := e.authorize(t, b, authParams("gone"))
	if err := e.st.Clients.Delete(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"approve", "reject"} {
		a := b.do(t, http.MethodPost, e.issuer+"/v1/sessions/"+id+"/"+action, bearer(guest), "{}")
		if a.status != http.StatusNotFound || a.json(t)["error"] != "not_found" {
			t.Errorf("%s after the client's deletion: %d %s, want 404 not_found", action, a.status, a.body)
		}
	}
	if r := e.session(t, id); r.Decision != "" {
		t.Errorf("session decided %q after its client was deleted", r.Decision)
	}
	if n := len(e.codes(t)); n != 0 {
		t.Errorf("%d codes stored for a deleted client", n)
	}
}
