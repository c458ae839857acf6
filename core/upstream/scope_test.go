package upstream_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// scopedUpstream is an OAuth 2.0 provider whose grants carry refresh
// tokens (as GitHub Apps with expiring tokens do) and whose token answers
// name no scope, so that what was granted is known only from what was
// asked. It records the scope of every authorization and token request.
// A refresh asking for the scope "forbidden" is refused with invalid_scope.
type scopedUpstream struct {
	url string

	mu         sync.Mutex
	authorized []string            // scope of each authorization request
	refreshes  []url.Values        // form of each refresh request
	challenges map[string]string   // code → S256 challenge
	refresh    map[string]struct{} // live refresh tokens
	n          int
}

func startScopedUpstream(t *testing.T) *scopedUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &scopedUpstream{url: "http://" + ln.Addr().String(), challenges: map[string]string{}, refresh: map[string]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		u.mu.Lock()
		u.n++
		code := fmt.Sprintf("code-%d", u.n)
		u.challenges[code] = q.Get("code_challenge")
		u.authorized = append(u.authorized, q.Get("scope"))
		u.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fail := func(code string) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
		}
		if id, sec, ok := r.BasicAuth(); !ok || id != "scoped-client" || sec != "scoped-secret" {
			fail("invalid_client")
			return
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		switch r.FormValue("grant_type") {
		case "authorization_code":
			challenge, ok := u.challenges[r.FormValue("code")]
			delete(u.challenges, r.FormValue("code"))
			sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
			if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
				fail("invalid_grant")
				return
			}
		case "refresh_token":
			form := url.Values{}
			for k, v := range r.PostForm {
				form[k] = v
			}
			u.refreshes = append(u.refreshes, form)
			if _, ok := u.refresh[r.FormValue("refresh_token")]; !ok {
				fail("invalid_grant")
				return
			}
			if slices.Contains(strings.Fields(r.FormValue("scope")), "forbidden") {
				fail("invalid_scope")
				return
			}
			delete(u.refresh, r.FormValue("refresh_token"))
		default:
			fail("unsupported_grant_type")
			return
		}
		u.n++
		rt := fmt.Sprintf("rt-%d", u.n)
		u.refresh[rt] = struct{}{}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("at-%d", u.n), "token_type": "bearer",
			"refresh_token": rt, "expires_in": 3600})
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-") {
			http.Error(w, "{}", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"login":"scoped","email":"scoped@example.com"}`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fake upstream: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

func (u *scopedUpstream) lastAuthorized() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.authorized[len(u.authorized)-1]
}

func (u *scopedUpstream) refreshCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.refreshes)
}

func (u *scopedUpstream) lastRefresh() url.Values {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refreshes[len(u.refreshes)-1]
}

func startScoped(t *testing.T, edit func(*config.Config, *config.Provider)) (*env, *scopedUpstream) {
	t.Helper()
	up := startScopedUpstream(t)
	e := start(t, func(c *config.Config) {
		c.Server.AppURL = appOrigin
		p := config.Provider{
			Type: config.ProviderOAuth2, ClientID: "scoped-client", ClientSecret: "scoped-secret", Scopes: []string{"read:user", "user:email"},
			AuthorizeURL: up.url + "/authorize", TokenURL: up.url + "/token", UserinfoURL: up.url + "/user",
		}
		if edit != nil {
			edit(c, &p)
		}
		c.Providers = map[string]map[string]config.Provider{"gh": {"development": p}}
		c.Plugins.Dir = "" // the embedded first-party plugins
		c.Plugins.Watch = false
		noEmailVerified(c) // the fake upstream's /user says nothing of it
	})
	return e, up
}

// signIn runs /gh/start?{query} through the fake upstream to the frame
// handler and returns the start answer (its cookies), the frame answer
// and the payload.
func signInScoped(t *testing.T, e *env, b browser, query string) (answer, answer, webMessage) {
	t.Helper()
	st := b.do(t, http.MethodGet, e.issuer+"/gh/start?env=development&"+query, "", "")
	if st.status != http.StatusFound {
		t.Fatalf("start: %d %s", st.status, st.body)
	}
	_, back := b.follow(t, st.header.Get("Location"), e.issuer+"/gh/handler/frame")
	frame := b.do(t, http.MethodGet, back, "", "")
	msg, _ := parseFrame(t, frame)
	if msg.Response == nil {
		t.Fatalf("sign-in refused: %+v", msg.Error)
	}
	return st, frame, msg
}

type refreshAnswer struct {
	ProviderInfo struct {
		AccessToken string `json:"accessToken"`
		Scope       string `json:"scope"`
	} `json:"providerInfo"`
}

func refreshScoped(t *testing.T, e *env, b browser, query string) (answer, refreshAnswer) {
	t.Helper()
	a := b.xhr(t, http.MethodPost, e.issuer+"/gh/refresh?env=development"+query)
	var r refreshAnswer
	if a.status == http.StatusOK {
		if err := json.Unmarshal(a.body, &r); err != nil {
			t.Fatal(err)
		}
	}
	return a, r
}

// TestProviderScope: the scope parameter of /start and /refresh reaches
// the upstream on top of the configured scopes, each scope once, and what
// was granted is kept in the provider session, so that a later refresh and
// a later sign-in ask for it again, as Backstage's CookieScopeManager
// persists granted scopes.
func TestProviderScope(t *testing.T) {
	e, up := startScoped(t, nil)
	b := newBrowser(t)

	_, _, msg := signInScoped(t, e, b, "scope="+url.QueryEscape("repo read:user,workflow"))
	if got, want := up.lastAuthorized(), "read:user user:email repo workflow"; got != want {
		t.Errorf("upstream asked for %q, want %q", got, want)
	}
	if got := msg.Response.ProviderInfo.Scope; got != "read:user user:email repo workflow" {
		t.Errorf("providerInfo.scope %q", got)
	}

	// A refresh asking for nothing new refreshes the grant as it is.
	a, r := refreshScoped(t, e, b, "&scope=repo")
	if a.status != http.StatusOK || r.ProviderInfo.Scope != "read:user user:email repo workflow" {
		t.Fatalf("refresh: %d %s", a.status, a.body)
	}
	if f := up.lastRefresh(); f.Has("scope") {
		t.Errorf("a refresh within the granted scopes sent scope %q", f.Get("scope"))
	}

	// A refresh adding a scope asks the upstream for it with the refresh.
	a, r = refreshScoped(t, e, b, "&scope=admin:org")
	if a.status != http.StatusOK {
		t.Fatalf("refresh adding admin:org: %d %s", a.status, a.body)
	}
	if got, want := up.lastRefresh().Get("scope"), "read:user user:email repo workflow admin:org"; got != want {
		t.Errorf("refresh asked for %q, want %q", got, want)
	}
	if r.ProviderInfo.Scope != "read:user user:email repo workflow admin:org" {
		t.Errorf("providerInfo.scope after adding %q", r.ProviderInfo.Scope)
	}

	// Later refreshes keep it, though the upstream never names it.
	a, r = refreshScoped(t, e, b, "")
	if a.status != http.StatusOK || !strings.HasSuffix(r.ProviderInfo.Scope, " admin:org") || up.lastRefresh().Has("scope") {
		t.Errorf("later refresh: %d %q, upstream scope %q", a.status, r.ProviderInfo.Scope, up.lastRefresh().Get("scope"))
	}

	// The upstream refusing an added scope: 401, the session is kept.
	n := up.refreshCount()
	a, _ = refreshScoped(t, e, b, "&scope=forbidden")
	if body := a.json(t); a.status != http.StatusUnauthorized || body["error"] != "login_required" ||
		!strings.Contains(fmt.Sprint(body["error_description"]), "/gh/start") || up.refreshCount() != n+1 {
		t.Errorf("refused scope: %d %s", a.status, a.body)
	}
	if a, r = refreshScoped(t, e, b, ""); a.status != http.StatusOK || strings.Contains(r.ProviderInfo.Scope, "forbidden") {
		t.Errorf("refresh after a refused scope: %d %s", a.status, a.body)
	}

	// A new sign-in in the same browser asks for what was granted before.
	signInScoped(t, e, b, "scope=gist")
	if got, want := up.lastAuthorized(), "read:user user:email repo workflow admin:org gist"; got != want {
		t.Errorf("second sign-in asked for %q, want %q", got, want)
	}
}

// TestProviderSessionLifetime: the provider session and its refresh
// cookie last tokens.provider_session_ttl (Backstage's 1000 days in the
// embedded configuration) or the environment's session_duration; the
// round trip's nonce cookie lasts 10 minutes, as Backstage's.
func TestProviderSessionLifetime(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name string
		edit func(*config.Config, *config.Provider)
		want time.Duration
	}{
		{"embedded default", nil, 1000 * day},
		{"global", func(c *config.Config, _ *config.Provider) { c.Tokens.ProviderSessionTTL = 30 * day }, 30 * day},
		{"per environment", func(c *config.Config, p *config.Provider) {
			c.Tokens.ProviderSessionTTL = 30 * day
			p.SessionDuration = 2 * day
		}, 2 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := startScoped(t, tc.edit)
			b := newBrowser(t)
			before := time.Now()
			st, frame, _ := signInScoped(t, e, b, "")
			expiry := func(a answer, name string) time.Duration {
				t.Helper()
				for _, c := range (&http.Response{Header: a.header}).Cookies() {
					if c.Name == name && c.Value != "" {
						return c.Expires.Sub(before)
					}
				}
				t.Fatalf("no cookie %s in %v", name, a.header.Values("Set-Cookie"))
				return 0
			}
			within := func(got, want time.Duration) bool { return got > want-time.Minute && got < want+time.Minute }
			if got := expiry(frame, "gatehouse_gh_refresh"); !within(got, tc.want) {
				t.Errorf("refresh cookie lasts %s, want %s", got, tc.want)
			}
			if got := expiry(st, "gatehouse_gh_nonce"); !within(got, 10*time.Minute) {
				t.Errorf("nonce cookie lasts %s, want 10m", got)
			}
			if a, _ := refreshScoped(t, e, b, ""); a.status != http.StatusOK {
				t.Errorf("refresh: %d %s", a.status, a.body)
			}
		})
	}
}
