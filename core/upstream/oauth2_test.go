package upstream_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// fakeGitHub is GitHub's OAuth app flow in miniature: /login/oauth/authorize
// sends the browser straight back with a code, /login/oauth/access_token
// redeems it (checking the client secret and the PKCE verifier), /user
// answers the profile for the access token, /user/emails the account's
// addresses (emails, set by the test; a non-JSON value answers 500).
type fakeGitHub struct {
	url        string
	mu         sync.Mutex
	challenges map[string]string // code → S256 challenge
	emails     string
	login      string
}

func (g *fakeGitHub) setLogin(login string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.login = login
}

func (g *fakeGitHub) setEmails(list string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.emails = list
}

func startGitHub(t *testing.T, clientID, secret string) *fakeGitHub {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGitHub{url: "http://" + ln.Addr().String(), challenges: map[string]string{}, login: "Octo-Cat"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")[:8]
		g.mu.Lock()
		g.challenges[code] = q.Get("code_challenge")
		g.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.FormValue("client_id"), r.FormValue("client_secret")
		}
		g.mu.Lock()
		challenge, known := g.challenges[r.FormValue("code")]
		delete(g.challenges, r.FormValue("code"))
		g.mu.Unlock()
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if id != clientID || sec != secret || !known || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "gho_octo", "token_type": "bearer", "scope": "read:user,user:email"})
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer gho_octo" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		login := g.login
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"login": login, "id": 583231, "name": nil, "email": "octo@example.com",
			"avatar_url": "https://avatars.example.com/u/583231", "groups": []string{"x"}})
	})
	mux.HandleFunc("GET /user/emails", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer gho_octo" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		list := g.emails
		g.mu.Unlock()
		if !json.Valid([]byte(list)) {
			http.Error(w, `{"message":"Server Error"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(list))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fake GitHub: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return g
}

// TestGitHubProvider: the generic OAuth 2.0 type with GitHub's endpoints,
// userinfo and emails: profile from /user (login for the missing name,
// avatar_url) with the verified primary address of /user/emails, sign_in
// by the default plugin, refresh without an upstream refresh token keeps
// the session.
func TestGitHubProvider(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		ok           bool
	}{{"signed in", "gh-secret", true}, {"wrong client secret", "nope", false}} {
		t.Run(tc.name, func(t *testing.T) {
			gh := startGitHub(t, "Iv1.test", "gh-secret")
			gh.setEmails(`[{"email":"octo@example.com","primary":true,"verified":true}]`)
			e := start(t, func(c *config.Config) {
				c.Server.AppURL = appOrigin
				c.Providers = map[string]map[string]config.Provider{"github": {"development": {
					Type: config.ProviderOAuth2, ClientID: "Iv1.test", ClientSecret: tc.secret, Scopes: []string{"read:user", "user:email"},
					AuthorizeURL: gh.url + "/login/oauth/authorize", TokenURL: gh.url + "/login/oauth/access_token", UserinfoURL: gh.url + "/user",
					EmailsURL: gh.url + "/user/emails",
				}}}
				c.Plugins.Dir = "" // the embedded first-party plugins
				c.Plugins.Watch = false
			})
			b := newBrowser(t)
			_, back := b.follow(t, e.issuer+"/github/start?env=development", e.issuer+"/github/handler/frame")
			msg, origin := parseFrame(t, b.do(t, http.MethodGet, back, "", ""))
			if origin != appOrigin {
				t.Errorf("origin %q", origin)
			}
			if !tc.ok {
				if msg.Response != nil || msg.Error == nil || msg.Error.Message != "The sign-in provider's answer could not be verified." {
					t.Fatalf("payload %+v %+v", msg, msg.Error)
				}
				return
			}
			if msg.Response == nil {
				t.Fatalf("refused: %+v", msg.Error)
			}
			r := msg.Response
			if r.BackstageIdentity.Identity.UserEntityRef != "user:default/octo" || r.Profile.DisplayName != "Octo-Cat" ||
				r.Profile.Email != "octo@example.com" || r.ProviderInfo.AccessToken != "gho_octo" || r.ProviderInfo.IDToken != "" {
				t.Errorf("response %+v", r)
			}
			a := b.xhr(t, http.MethodPost, e.issuer+"/github/refresh?env=development")
			var again struct {
				ProviderInfo struct {
					AccessToken string `json:"accessToken"`
				} `json:"providerInfo"`
				Profile struct {
					Picture string `json:"picture"`
				} `json:"profile"`
			}
			if err := json.Unmarshal(a.body, &again); err != nil || a.status != http.StatusOK ||
				again.ProviderInfo.AccessToken != "gho_octo" || again.Profile.Picture != "https://avatars.example.com/u/583231" {
				t.Errorf("refresh %d %s", a.status, a.body)
			}
		})
	}
}

// TestGitHubEmailsURL: with emails_url, the profile's email is the
// account's primary verified address from GitHub's /user/emails, not the
// public one /user shows; an emails URL that fails fails the sign-in.
// Without a verified address (no verified primary one, or no emails URL:
// /user says nothing of verification), signin-default, which matches by
// e-mail in the embedded configuration, refuses the sign-in.
func TestGitHubEmailsURL(t *testing.T) {
	const primary = `[{"email":"octo@users.noreply.example.com","primary":false,"verified":true},{"email":"octo.cat@example.com","primary":true,"verified":true,"visibility":"private"}]`
	for _, tc := range []struct {
		name, emails string
		ref, email   string // the signed-in user, or "" when refused
		refusal      string
	}{
		{"primary verified address", primary, "user:default/octo.cat", "octo.cat@example.com", ""},
		{"emails URL fails", "down", "", "", "The sign-in provider's answer could not be verified."},
		{"primary address not verified", `[{"email":"octo@users.noreply.example.com","primary":false,"verified":true},{"email":"octo@example.com","primary":true,"verified":false}]`,
			"", "", `email "octo@example.com" is not verified by the sign-in provider`},
		{"no emails URL", "", "", "", `the sign-in provider did not say that email "octo@example.com" is verified (email_verified)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := startGitHub(t, "Iv1.test", "gh-secret")
			gh.setEmails(tc.emails)
			e := start(t, func(c *config.Config) {
				c.Server.AppURL = appOrigin
				c.Providers = map[string]map[string]config.Provider{"github": {"development": {
					Type: config.ProviderOAuth2, ClientID: "Iv1.test", ClientSecret: "gh-secret", Scopes: []string{"read:user", "user:email"},
					AuthorizeURL: gh.url + "/login/oauth/authorize", TokenURL: gh.url + "/login/oauth/access_token",
					UserinfoURL: gh.url + "/user",
				}}}
				if tc.emails != "" {
					p := c.Providers["github"]["development"]
					p.EmailsURL = p.UserinfoURL + "/emails"
					c.Providers["github"]["development"] = p
				}
				c.Plugins.Dir = "" // the embedded first-party plugins
				c.Plugins.Watch = false
			})
			b := newBrowser(t)
			_, back := b.follow(t, e.issuer+"/github/start?env=development", e.issuer+"/github/handler/frame")
			msg, _ := parseFrame(t, b.do(t, http.MethodGet, back, "", ""))
			if tc.ref == "" {
				if msg.Response != nil || msg.Error == nil || msg.Error.Message != tc.refusal {
					t.Fatalf("payload %+v %+v, want refused with %q", msg.Response, msg.Error, tc.refusal)
				}
				return
			}
			if msg.Response == nil {
				t.Fatalf("refused: %+v", msg.Error)
			}
			if r := msg.Response; r.BackstageIdentity.Identity.UserEntityRef != tc.ref || r.Profile.Email != tc.email {
				t.Errorf("signed in as %s with email %s, want %s with %s", r.BackstageIdentity.Identity.UserEntityRef, r.Profile.Email, tc.ref, tc.email)
			}
		})
	}
}

// TestGitHubCatalogResolver: the real server signs a GitHub user in with
// signin-default's usernameMatchingUserEntityName against a Backstage
// catalog (a fake one on loopback): the catalog's user and its groups
// become sub and ent; a login the catalog does not know, or a catalog
// that refuses the service token, refuses the sign-in.
func TestGitHubCatalogResolver(t *testing.T) {
	var filters []string
	var mu sync.Mutex
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer svc-token" {
			http.Error(w, `{"error":{"name":"AuthenticationError"}}`, http.StatusUnauthorized)
			return
		}
		filter := r.URL.Query().Get("filter")
		mu.Lock()
		filters = append(filters, r.URL.Path+"?"+filter)
		mu.Unlock()
		items := `[]`
		if filter == "kind=user,metadata.namespace=default,metadata.name=octo-cat" {
			items = `[{"kind":"User","metadata":{"namespace":"default","name":"octo-cat"},"spec":{"memberOf":["cats"]},
				"relations":[{"type":"memberOf","targetRef":"group:default/cats"},{"type":"memberOf","targetRef":"group:infra/platform"}]}]`
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":` + items + `,"totalItems":1,"pageInfo":{}}`))
	}))
	t.Cleanup(catalog.Close)
	for _, tc := range []struct {
		name, login, token string
		ref                string
		ent                []string
		refusal            string
	}{
		{"catalog user", "Octo-Cat", "svc-token", "user:default/octo-cat", []string{"user:default/octo-cat", "group:default/cats", "group:infra/platform"}, ""},
		{"not in the catalog", "Mallory", "svc-token", "", nil, `user not found: no user entity has metadata.name "mallory"`},
		{"service token refused", "Octo-Cat", "stale", "", nil, "the user catalog could not be asked: the catalog refused the lookup with status 401: check catalog.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := startGitHub(t, "Iv1.test", "gh-secret")
			gh.setLogin(tc.login)
			e := start(t, func(c *config.Config) {
				c.Server.AppURL = appOrigin
				c.Providers = map[string]map[string]config.Provider{"github": {"development": {
					Type: config.ProviderOAuth2, ClientID: "Iv1.test", ClientSecret: "gh-secret", Scopes: []string{"read:user"},
					AuthorizeURL: gh.url + "/login/oauth/authorize", TokenURL: gh.url + "/login/oauth/access_token", UserinfoURL: gh.url + "/user",
				}}}
				c.Plugins.Dir, c.Plugins.Watch = "", false // the embedded first-party plugins
				c.Plugins.Settings["signin-default"] = config.PluginSettings{
					HTTPAllow: []string{catalog.URL + "/api/catalog/entities/by-query"},
					Config: map[string]any{"resolver": "usernameMatchingUserEntityName",
						"catalog": map[string]any{"url": catalog.URL + "/api/catalog", "token": tc.token}},
				}
			})
			b := newBrowser(t)
			_, back := b.follow(t, e.issuer+"/github/start?env=development", e.issuer+"/github/handler/frame")
			msg, _ := parseFrame(t, b.do(t, http.MethodGet, back, "", ""))
			if tc.ref == "" {
				if msg.Response != nil || msg.Error == nil || msg.Error.Message != tc.refusal {
					t.Fatalf("payload %+v %+v, want refused with %q", msg.Response, msg.Error, tc.refusal)
				}
				return
			}
			if msg.Response == nil {
				t.Fatalf("refused: %+v", msg.Error)
			}
			if id := msg.Response.BackstageIdentity.Identity; id.UserEntityRef != tc.ref || !slices.Equal(id.OwnershipEntityRefs, tc.ent) {
				t.Errorf("identity %+v, want %s %v", id, tc.ref, tc.ent)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(filters) != 2 || filters[0] != "/api/catalog/entities/by-query?kind=user,metadata.namespace=default,metadata.name=octo-cat" {
		t.Errorf("catalog queries %q", filters)
	}
}
