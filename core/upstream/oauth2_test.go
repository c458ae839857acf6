package upstream_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
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
	g := &fakeGitHub{url: "http://" + ln.Addr().String(), challenges: map[string]string{}}
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
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"login":"Octo-Cat","id":583231,"name":null,"email":"octo@example.com","avatar_url":"https://avatars.example.com/u/583231","groups":["x"]}`))
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

// TestGitHubProvider: the generic OAuth 2.0 type with GitHub's endpoints
// and userinfo: profile from /user (login for the missing name,
// avatar_url), sign_in by the default plugin, refresh without an upstream
// refresh token keeps the session.
func TestGitHubProvider(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		ok           bool
	}{{"signed in", "gh-secret", true}, {"wrong client secret", "nope", false}} {
		t.Run(tc.name, func(t *testing.T) {
			gh := startGitHub(t, "Iv1.test", "gh-secret")
			e := start(t, func(c *config.Config) {
				c.Server.AppURL = appOrigin
				c.Providers = map[string]map[string]config.Provider{"github": {"development": {
					Type: config.ProviderOAuth2, ClientID: "Iv1.test", ClientSecret: tc.secret, Scopes: []string{"read:user", "user:email"},
					AuthorizeURL: gh.url + "/login/oauth/authorize", TokenURL: gh.url + "/login/oauth/access_token", UserinfoURL: gh.url + "/user",
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
func TestGitHubEmailsURL(t *testing.T) {
	const primary = `[{"email":"octo@users.noreply.example.com","primary":false,"verified":true},{"email":"octo.cat@example.com","primary":true,"verified":true,"visibility":"private"}]`
	for _, tc := range []struct {
		name, emails string
		ref, email   string // the signed-in user, or "" when refused
		refusal      string
	}{
		{"primary verified address", primary, "user:default/octo.cat", "octo.cat@example.com", ""},
		{"emails URL fails", "down", "", "", "The sign-in provider's answer could not be verified."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := startGitHub(t, "Iv1.test", "gh-secret")
			gh.setEmails(tc.emails)
			e := start(t, func(c *config.Config) {
				c.Server.AppURL = appOrigin
				c.Providers = map[string]map[string]config.Provider{"github": {"development": {
					Type: config.ProviderOAuth2, ClientID: "Iv1.test", ClientSecret: "gh-secret", Scopes: []string{"read:user", "user:email"},
					AuthorizeURL: gh.url + "/login/oauth/authorize", TokenURL: gh.url + "/login/oauth/access_token",
					UserinfoURL: gh.url + "/user", EmailsURL: gh.url + "/user/emails",
				}}}
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
