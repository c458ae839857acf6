package plugins_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// signin-default's Backstage resolvers, through the committed module in
// the real runtime: against the static users, and against a fake
// Backstage catalog on loopback reached through http_request.

const resolverNames = "usernameMatchingUserEntityName, emailMatchingUserEntityProfileEmail, emailLocalPartMatchingUserEntityName, " +
	"emailMatchingUserEntityAnnotation, usernameMatchingUserEntityAnnotation, userIdMatchingUserEntityAnnotation, email_local_part, email, refuse"

// upstream is a sign_in input: profile email and the upstream's claims.
func upstream(provider, email string, claims map[string]any) map[string]any {
	return map[string]any{"provider": provider, "env": "development",
		"profile": map[string]any{"email": email}, "claims": claims}
}

// octocat is GitHub's /user answer with a verified email.
var octocat = map[string]any{"login": "OctoCat", "id": 583231, "email_verified": true}

func TestFirstPartySignInDefaultEmailVerified(t *testing.T) {
	t.Parallel()
	const users = `"users":[{"email":"alice@example.com","ref":"user:default/alice"}]`
	alice := `{"sub":"user:default/alice","ent":["user:default/alice"]}`
	notVerified := `email "alice@example.com" is not verified by the sign-in provider`
	notSaid := `the sign-in provider did not say that email "alice@example.com" is verified (email_verified)`
	tests := []struct {
		name, config string
		claims       map[string]any
		want         string
		code, msg    string
	}{
		{"verified", `{"resolver":"emailMatchingUserEntityProfileEmail",` + users + `}`, map[string]any{"email_verified": true}, alice, "", ""},
		{"verified as a string", `{"resolver":"emailMatchingUserEntityProfileEmail",` + users + `}`, map[string]any{"email_verified": "TRUE"}, alice, "", ""},
		{"false refuses the profile email resolver", `{"resolver":"emailMatchingUserEntityProfileEmail",` + users + `}`, map[string]any{"email_verified": false}, "", "access_denied", notVerified},
		{"false refuses the local part resolver", `{"resolver":"emailLocalPartMatchingUserEntityName",` + users + `}`, map[string]any{"email_verified": false}, "", "access_denied", notVerified},
		{"false refuses the annotation resolver", `{"resolver":"emailMatchingUserEntityAnnotation","annotation":"google.com/email",` + users + `}`, map[string]any{"email_verified": false}, "", "access_denied", notVerified},
		{"false refuses email_local_part", `{"resolver":"email_local_part"}`, map[string]any{"email_verified": false}, "", "access_denied", notVerified},
		{"false refuses email", `{"resolver":"email",` + users + `}`, map[string]any{"email_verified": false}, "", "access_denied", notVerified},
		{"false as a string", `{"resolver":"email_local_part"}`, map[string]any{"email_verified": "false"}, "", "access_denied", notVerified},
		{"anything but true is not verified", `{"resolver":"email_local_part"}`, map[string]any{"email_verified": 1}, "", "access_denied", notVerified},
		{"false refuses even with if_present", `{"resolver":"email_local_part","email_verified":"if_present"}`, map[string]any{"email_verified": false}, "", "access_denied", notVerified},
		{"absent refuses by default", `{"resolver":"email_local_part"}`, map[string]any{}, "", "access_denied", notSaid},
		{"absent refuses with required", `{"resolver":"emailMatchingUserEntityProfileEmail","email_verified":"required",` + users + `}`, map[string]any{"email_verified": nil}, "", "access_denied", notSaid},
		{"absent passes with if_present", `{"resolver":"emailMatchingUserEntityProfileEmail","email_verified":"if_present",` + users + `}`, map[string]any{}, alice, "", ""},
		{"if_present per provider", `{"resolver":"email_local_part","providers":{"github":{"email_verified":"if_present"}}}`, map[string]any{}, alice, "", ""},
		{"if_present for another provider only", `{"resolver":"email_local_part","providers":{"corp":{"email_verified":"if_present"}}}`, map[string]any{}, "", "access_denied", notSaid},
		// A resolver that does not match by e-mail does not read it, unless
		// allowed_domains does, and then only a verified address passes.
		{"username resolver ignores the email", `{"resolver":"usernameMatchingUserEntityName","users":[{"email":"x@example.com","ref":"user:default/alice"}]}`,
			map[string]any{"login": "alice", "email_verified": false}, alice, "", ""},
		{"allowed_domains needs a verified email", `{"resolver":"usernameMatchingUserEntityName","allowed_domains":["example.com"],"users":[{"email":"x@example.com","ref":"user:default/alice"}]}`,
			map[string]any{"login": "alice", "email_verified": false}, "", "access_denied", notVerified},
		{"unknown policy", `{"resolver":"email_local_part","email_verified":"never"}`, map[string]any{}, "", "server_error",
			`plugin config: email_verified "never" is not one of required, if_present`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("signin-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, hook.SignIn, upstream("github", "alice@example.com", tt.claims)), tt.want, tt.code, tt.msg)
		})
	}
}

// The static users stand in for the catalog: the same resolvers, not
// found and ambiguous included.
func TestFirstPartySignInDefaultStaticResolvers(t *testing.T) {
	t.Parallel()
	const users = `"users":[
		{"email":"Octo.Cat@example.com","ref":"user:default/octocat","groups":["group:default/cats"],
		 "annotations":{"github.com/user-login":"OctoCat","github.com/user-id":"583231","google.com/email":"octo@example.com"}},
		{"email":"twin@example.com","ref":"user:default/twin-a","annotations":{"github.com/user-login":"twin"}},
		{"email":"twin@example.com","ref":"user:default/twin-b","annotations":{"github.com/user-login":"twin"}},
		{"email":"carol@example.com","ref":"user:dev/carol"}]`
	octo := `{"sub":"user:default/octocat","ent":["user:default/octocat","group:default/cats"]}`
	tests := []struct {
		name, config, email string
		claims              map[string]any
		want                string
		code, msg           string
	}{
		{"username matching entity name", `{"resolver":"usernameMatchingUserEntityName",` + users + `}`, "", octocat, octo, "", ""},
		{"username in another namespace", `{"resolver":"usernameMatchingUserEntityName","namespace":"dev",` + users + `}`, "",
			map[string]any{"preferred_username": "Carol"}, `{"sub":"user:dev/carol","ent":["user:dev/carol"]}`, "", ""},
		{"username not found", `{"resolver":"usernameMatchingUserEntityName",` + users + `}`, "", map[string]any{"login": "mallory"},
			"", "unknown_user_id", `user not found: no user entity has metadata.name "mallory"`},
		{"no username", `{"resolver":"usernameMatchingUserEntityName",` + users + `}`, "", map[string]any{"sub": "42"},
			"", "access_denied", "sign-in requires a user name from the sign-in provider (login, username or preferred_username)"},
		{"username not an entity name", `{"resolver":"usernameMatchingUserEntityName",` + users + `}`, "", map[string]any{"login": "a b"},
			"", "access_denied", `user name "a b" is not a valid user entity name`},
		{"email matching profile email", `{"resolver":"emailMatchingUserEntityProfileEmail",` + users + `}`, "octo.cat@EXAMPLE.com", octocat, octo, "", ""},
		{"email ambiguous", `{"resolver":"emailMatchingUserEntityProfileEmail",` + users + `}`, "twin@example.com", octocat,
			"", "access_denied", `more than one user entity has spec.profile.email "twin@example.com": sign-in refused`},
		{"email not found", `{"resolver":"emailMatchingUserEntityProfileEmail",` + users + `}`, "eve@example.com", octocat,
			"", "unknown_user_id", `user not found: no user entity has spec.profile.email "eve@example.com"`},
		{"email local part matching entity name", `{"resolver":"emailLocalPartMatchingUserEntityName",` + users + `}`, "OctoCat@elsewhere.example", octocat, octo, "", ""},
		{"email local part not found", `{"resolver":"emailLocalPartMatchingUserEntityName",` + users + `}`, "octo.cat@example.com", octocat,
			"", "unknown_user_id", `user not found: no user entity has metadata.name "octo.cat"`},
		{"email annotation", `{"resolver":"emailMatchingUserEntityAnnotation","annotation":"google.com/email",` + users + `}`, "OCTO@example.com", octocat, octo, "", ""},
		{"username annotation", `{"resolver":"usernameMatchingUserEntityAnnotation","annotation":"github.com/user-login",` + users + `}`, "", octocat, octo, "", ""},
		{"username annotation ambiguous", `{"resolver":"usernameMatchingUserEntityAnnotation","annotation":"github.com/user-login",` + users + `}`, "",
			map[string]any{"login": "twin"}, "", "access_denied", `more than one user entity has metadata.annotations.github.com/user-login "twin": sign-in refused`},
		{"user id annotation (GitHub's numeric id)", `{"resolver":"userIdMatchingUserEntityAnnotation","annotation":"github.com/user-id",` + users + `}`, "", octocat, octo, "", ""},
		{"user id annotation not found", `{"resolver":"userIdMatchingUserEntityAnnotation","annotation":"github.com/user-id",` + users + `}`, "",
			map[string]any{"sub": "other"}, "", "unknown_user_id", `user not found: no user entity has metadata.annotations.github.com/user-id "other"`},
		{"per provider resolver and annotation", `{"resolver":"refuse","providers":{"github":{"resolver":"usernameMatchingUserEntityAnnotation","annotation":"github.com/user-login"}},` + users + `}`,
			"", octocat, octo, "", ""},
		{"annotation resolver needs its key", `{"resolver":"email_local_part","providers":{"google":{"resolver":"emailMatchingUserEntityAnnotation"}}}`, "", octocat,
			"", "server_error", "plugin config: providers.google.resolver emailMatchingUserEntityAnnotation needs annotation (such as github.com/user-login)"},
		{"lookup needs a directory", `{"resolver":"usernameMatchingUserEntityName"}`, "", octocat,
			"", "server_error", "plugin config: resolver usernameMatchingUserEntityName needs a catalog or users to look the user up in"},
		{"every new config problem at once", `{"resolver":"emailMatchingUserEntityAnnotation","annotation":"a,b","catalog":{"url":"ftp://x"},"providers":{"p":{"resolver":"nope","email_verified":"x"}}}`, "", octocat,
			"", "server_error", "plugin config: annotation \"a,b\" is not an annotation key such as github.com/user-login\n" +
				"providers.p.resolver \"nope\" is not one of " + resolverNames + "\n" +
				"providers.p.email_verified \"x\" is not one of required, if_present\n" +
				"catalog.url \"ftp://x\" is not an http(s) URL such as https://backstage.example.com/api/catalog"},
		{"unknown provider key", `{"resolver":"email_local_part","providers":{"github":{"resolvers":"x"}}}`, "", octocat,
			"", "server_error", `plugin config: unknown field "providers.github.resolvers"`},
		{"unknown catalog key", `{"resolver":"email_local_part","catalog":{"url":"https://b.example.com","tokens":"x"}}`, "", octocat,
			"", "server_error", `plugin config: unknown field "catalog.tokens"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, core("signin-default"), tt.config, plugin.Limits{PoolSize: 1})
			check(t, call(t, p, hook.SignIn, upstream("github", tt.email, tt.claims)), tt.want, tt.code, tt.msg)
		})
	}
}

// fakeCatalog is Backstage's catalog entity query API in miniature: GET
// /api/catalog/entities/by-query with filter (kind=user,key=value,...,
// values compared case-insensitively as the catalog does), limit and
// fields, behind a bearer service token.
type fakeCatalog struct {
	*httptest.Server
	token    string
	entities []map[string]any
	queries  atomic.Int32
}

func startCatalog(t *testing.T, token string, entities string) *fakeCatalog {
	t.Helper()
	c := &fakeCatalog{token: token}
	if err := json.Unmarshal([]byte(entities), &c.entities); err != nil {
		t.Fatal(err)
	}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.queries.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/api/catalog/entities/by-query" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+c.token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"name":"AuthenticationError","message":"Missing credentials"}}`))
			return
		}
		q := r.URL.Query()
		if q.Get("limit") != "2" || !strings.Contains(q.Get("fields"), "relations") {
			http.Error(w, "the lookup asks for at most two entities and their relations", http.StatusBadRequest)
			return
		}
		items := []map[string]any{}
		for _, e := range c.entities {
			if matchFilter(e, q.Get("filter")) {
				items = append(items, e)
			}
		}
		total := len(items)
		items = items[:min(len(items), 2)]
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items, "totalItems": total, "pageInfo": map[string]any{}})
	}))
	t.Cleanup(c.Close)
	return c
}

// matchFilter is the catalog's filter: key=value pairs joined by commas,
// all of which must hold.
func matchFilter(e map[string]any, filter string) bool {
	for _, cond := range strings.Split(filter, ",") {
		key, want, ok := strings.Cut(cond, "=")
		if !ok || !strings.EqualFold(field(e, key), want) {
			return false
		}
	}
	return true
}

func field(e map[string]any, key string) string {
	get := func(m any, k string) any {
		if mm, ok := m.(map[string]any); ok {
			return mm[k]
		}
		return nil
	}
	var v any
	if ann, ok := strings.CutPrefix(key, "metadata.annotations."); ok {
		v = get(get(e, "metadata"), "annotations")
		v = get(v, ann)
	} else {
		v = any(e)
		for _, part := range strings.Split(key, ".") {
			v = get(v, part)
		}
	}
	s, _ := v.(string)
	return s
}

const catalogEntities = `[
	{"apiVersion":"backstage.io/v1alpha1","kind":"User",
	 "metadata":{"namespace":"default","name":"octocat","annotations":{"github.com/user-login":"OctoCat","github.com/user-id":"583231","google.com/email":"octo@example.com"}},
	 "spec":{"profile":{"email":"octo.cat@example.com"},"memberOf":["cats","infra/platform","group:default/cats"]},
	 "relations":[{"type":"memberOf","targetRef":"group:default/cats"},{"type":"memberOf","targetRef":"group:infra/platform"},
	              {"type":"ownedBy","targetRef":"group:default/owners"}]},
	{"kind":"User","metadata":{"namespace":"dev","name":"Carol"},"spec":{"profile":{"email":"carol@example.com"}}},
	{"kind":"User","metadata":{"namespace":"default","name":"twin-a","annotations":{"github.com/user-login":"twin"}},"spec":{"profile":{"email":"twin@example.com"}}},
	{"kind":"User","metadata":{"namespace":"default","name":"twin-b","annotations":{"github.com/user-login":"twin"}},"spec":{"profile":{"email":"twin@example.com"}}},
	{"kind":"Group","metadata":{"namespace":"default","name":"cats"},"spec":{"profile":{"email":"cats@example.com"}}}]`

// loadCatalog loads signin-default with a catalog config and allow-list.
func loadCatalog(t *testing.T, config string, allow []string) *plugin.Plugin {
	t.Helper()
	wasm, err := os.ReadFile(core("signin-default"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.Load(context.Background(), "signin-default", wasm, plugin.Settings{
		Config:    json.RawMessage(config),
		HTTPAllow: allow,
		Limits:    plugin.Limits{PoolSize: 1},
		Logger:    slog.New(slog.DiscardHandler),
		// The fake catalog is on loopback: the development setting.
		Outbound: outbound.New(outbound.Options{AllowPrivate: true}),
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func TestFirstPartySignInDefaultCatalog(t *testing.T) {
	t.Parallel()
	cat := startCatalog(t, "svc-token", catalogEntities)
	base := cat.URL + "/api/catalog"
	allow := []string{base + "/entities/by-query"}
	withCatalog := func(rest string) string {
		return `{"catalog":{"url":"` + base + `/","token":"svc-token"},` + rest + `}`
	}
	// The user ref and its groups, from the relations and spec.memberOf
	// (relative to the user's namespace), each once, lower case.
	octo := `{"sub":"user:default/octocat","ent":["user:default/octocat","group:default/cats","group:infra/platform"]}`
	tests := []struct {
		name, config, email string
		claims              map[string]any
		want                string
		code, msg           string
	}{
		{"username matching entity name", withCatalog(`"resolver":"usernameMatchingUserEntityName"`), "", octocat, octo, "", ""},
		{"username in the configured namespace", withCatalog(`"resolver":"usernameMatchingUserEntityName","namespace":"dev"`), "",
			map[string]any{"login": "carol"}, `{"sub":"user:dev/carol","ent":["user:dev/carol"]}`, "", ""},
		{"username in another namespace is not found", withCatalog(`"resolver":"usernameMatchingUserEntityName"`), "",
			map[string]any{"login": "carol"}, "", "unknown_user_id", `user not found: no user entity has metadata.name "carol"`},
		{"email matching profile email", withCatalog(`"resolver":"emailMatchingUserEntityProfileEmail"`), "Octo.Cat@example.com", octocat, octo, "", ""},
		{"email local part matching entity name", withCatalog(`"resolver":"emailLocalPartMatchingUserEntityName"`), "octocat@example.com", octocat, octo, "", ""},
		{"email annotation", withCatalog(`"resolver":"emailMatchingUserEntityAnnotation","annotation":"google.com/email"`), "octo@example.com", octocat, octo, "", ""},
		{"login annotation", withCatalog(`"resolver":"usernameMatchingUserEntityAnnotation","annotation":"github.com/user-login"`), "", octocat, octo, "", ""},
		{"user id annotation", withCatalog(`"resolver":"userIdMatchingUserEntityAnnotation","annotation":"github.com/user-id"`), "", octocat, octo, "", ""},
		{"not found", withCatalog(`"resolver":"emailMatchingUserEntityProfileEmail"`), "eve@example.com", octocat,
			"", "unknown_user_id", `user not found: no user entity has spec.profile.email "eve@example.com"`},
		{"a group is not a user", withCatalog(`"resolver":"emailMatchingUserEntityProfileEmail"`), "cats@example.com", octocat,
			"", "unknown_user_id", `user not found: no user entity has spec.profile.email "cats@example.com"`},
		{"ambiguous", withCatalog(`"resolver":"emailMatchingUserEntityProfileEmail"`), "twin@example.com", octocat,
			"", "access_denied", `more than one user entity has spec.profile.email "twin@example.com": sign-in refused`},
		{"ambiguous annotation", withCatalog(`"resolver":"usernameMatchingUserEntityAnnotation","annotation":"github.com/user-login"`), "",
			map[string]any{"login": "twin"}, "", "access_denied", `more than one user entity has metadata.annotations.github.com/user-login "twin": sign-in refused`},
		{"a comma cannot widen the filter", withCatalog(`"resolver":"usernameMatchingUserEntityAnnotation","annotation":"github.com/user-login"`), "",
			map[string]any{"login": "x,kind=user"}, "", "unknown_user_id", `user not found: no user entity has metadata.annotations.github.com/user-login "x,kind=user"`},
		{"email_verified false refused before any lookup", withCatalog(`"resolver":"emailMatchingUserEntityProfileEmail"`), "octo.cat@example.com",
			map[string]any{"email_verified": false}, "", "access_denied", `email "octo.cat@example.com" is not verified by the sign-in provider`},
		{"wrong service token", `{"catalog":{"url":"` + base + `","token":"stale"},"resolver":"usernameMatchingUserEntityName"}`, "", octocat,
			"", "server_error", "the user catalog could not be asked: the catalog refused the lookup with status 401: check catalog.token"},
		{"the catalog wins over the static users", withCatalog(`"resolver":"usernameMatchingUserEntityName","users":[{"email":"x@example.com","ref":"user:default/mallory"}]`), "",
			map[string]any{"login": "mallory"}, "", "unknown_user_id", `user not found: no user entity has metadata.name "mallory"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := loadCatalog(t, tt.config, allow)
			check(t, call(t, p, hook.SignIn, upstream("github", tt.email, tt.claims)), tt.want, tt.code, tt.msg)
		})
	}
}

// A catalog that cannot be asked fails the sign-in closed (server_error),
// never falls back to anything: not granted by http_allow, down, or
// answering nonsense.
func TestFirstPartySignInDefaultCatalogUnavailable(t *testing.T) {
	t.Parallel()
	cat := startCatalog(t, "svc-token", catalogEntities)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/api/catalog"
	down.Close()
	nonsense := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"entities":[]}`))
	}))
	t.Cleanup(nonsense.Close)
	users := `"users":[{"email":"octo.cat@example.com","ref":"user:default/octocat"}]`
	tests := []struct {
		name, url string
		allow     []string
		msg       string
	}{
		{"no http_allow", cat.URL + "/api/catalog", nil,
			"the user catalog could not be asked: url not allowed (" + cat.URL + "/api/catalog/entities/by-query?filter=kind%3Duser%2Cmetadata.namespace%3Ddefault%2Cmetadata.name%3Doctocat&limit=2&fields=kind%2Cmetadata.namespace%2Cmetadata.name%2Cspec.memberOf%2Crelations)"},
		{"http_allow elsewhere", cat.URL + "/api/catalog", []string{cat.URL + "/other/**"}, "the user catalog could not be asked: url not allowed"},
		{"catalog down", downURL, []string{downURL + "/**"}, "the user catalog could not be asked: request failed"},
		{"not a catalog", nonsense.URL, []string{nonsense.URL + "/**"}, "the user catalog could not be asked: the catalog's answer has no items list"},
		{"wrong path", cat.URL + "/api/catalogue", []string{cat.URL + "/**"}, "the user catalog could not be asked: the catalog answered status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := loadCatalog(t, `{"resolver":"usernameMatchingUserEntityName","catalog":{"url":"`+tt.url+`","token":"svc-token"},`+users+`}`, tt.allow)
			got := call(t, p, hook.SignIn, upstream("github", "", octocat))
			if got.Code != "server_error" || !strings.HasPrefix(got.Message, tt.msg) {
				t.Fatalf("got %+v, want server_error starting %q", got, tt.msg)
			}
		})
	}
	if n := cat.queries.Load(); n != 0 {
		t.Errorf("the catalog was asked %d times though no allow-list admitted it", n)
	}
}
