package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

const replicaAdminToken = "replica-admin-token-0123456789abcdef"

// replicaIssuer is the public URL of every replica of one installation:
// behind a load balancer they answer for one issuer.
const replicaIssuer = "http://gatehouse.replicas.test"

// startReplica starts a server on the PostgreSQL database dsn, as one
// replica among several on that database: its own connection pool, the
// installation's issuer, no plugin directory; edit adjusts the rest.
func startReplica(tb testing.TB, dsn string, edit func(*config.Config)) *live {
	tb.Helper()
	l := servertest.StartWith(tb, func(cfg *config.Config) {
		cfg.Log.Level = "error"
		cfg.Server.PublicURL = replicaIssuer
		cfg.Storage.Backend = "postgres"
		cfg.Storage.Postgres.DSN = dsn
		cfg.Storage.Dir = tb.TempDir() // the public-key cache, kept out of the repository
		cfg.Admin.Token = replicaAdminToken
		cfg.Plugins.Dir = filepath.Join(tb.TempDir(), "no-plugins")
		cfg.Plugins.Watch = false
		cfg.Plugins.Hooks = nil
		if edit != nil {
			edit(cfg)
		}
	}, servertest.Options{Store: func(tb testing.TB, cfg *config.Config) *store.Store {
		kv, err := postgres.Open(context.Background(), cfg.Storage.Postgres.DSN, postgres.Options{CacheEntries: cfg.Storage.Postgres.CacheEntries})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = kv.Close() })
		return store.New(kv)
	}})
	return &live{cfg: l.Cfg, srv: l.Server, st: l.Store, addr: l.Addr, base: "http://" + l.Addr + l.Cfg.Server.BasePath}
}

// admin sends an admin API request to the replica.
func (l *live) admin(tb testing.TB, method, path string) answer {
	tb.Helper()
	return l.root(tb, request{method: method, path: path, header: http.Header{"Authorization": {"Bearer " + replicaAdminToken}}})
}

// jwks lists the kids the replica publishes, in order.
func (l *live) jwks(tb testing.TB) []string {
	tb.Helper()
	a := l.do(tb, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.raw, &set) != nil {
		tb.Fatalf("JWKS: %d %s", a.status, a.raw)
	}
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = k.Kid
	}
	return kids
}

// kidOf is the kid in a JWS's header.
func kidOf(tb testing.TB, jws string) string {
	tb.Helper()
	head, _, _ := strings.Cut(jws, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(raw, &h) != nil {
		tb.Fatalf("not a JWS: %.80s", jws)
	}
	return h.Kid
}

// TestReplicasShareKeyRotation: two replicas on one PostgreSQL. A key
// rotated on one is published and signed with by the other within its
// keys.refresh_interval, and a token the other signs with a key it just
// made verifies at once, long before the next refresh (userinfo and
// introspection), after which both publish the same JWKS.
func TestReplicasShareKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	const interval = time.Second
	a := startReplica(t, dsn, func(cfg *config.Config) { cfg.Keys.RefreshInterval = interval })
	b := startReplica(t, dsn, func(cfg *config.Config) { cfg.Keys.RefreshInterval = time.Hour })
	if ka, kb := a.jwks(t), b.jwks(t); !slices.Equal(ka, kb) {
		t.Fatalf("replicas on one database publish %v and %v", ka, kb)
	}
	a.client(t, "web", store.ClientMetadata{Scope: "openid profile offline_access"})
	verifier := strings.Repeat("v", 43)
	accessToken := func(l *live) string {
		t.Helper()
		code := l.code(t, "web", "openid profile", verifier, nil)
		r := l.do(t, form("/v1/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {liveRedirect}, "code_verifier": {verifier}}, "web", liveSecret))
		if r.status != http.StatusOK || r.str("access_token") == "" {
			t.Fatalf("code exchange: %d %s", r.status, r.raw)
		}
		return r.str("access_token")
	}

	// Rotated on B: A publishes and signs with B's new key within A's
	// refresh interval.
	rotatedAt := time.Now()
	rot := b.admin(t, http.MethodPost, "/admin/keys/rotate")
	newKid := rot.str("kid")
	if rot.status != http.StatusOK || newKid == "" {
		t.Fatalf("rotate on B: %d %s", rot.status, rot.raw)
	}
	deadline := rotatedAt.Add(interval + 3*time.Second) // the bound, and slack for a loaded machine
	for !slices.Contains(a.jwks(t), newKid) {
		if time.Now().After(deadline) {
			t.Fatalf("A does not publish B's new key %s %s after the rotation (refresh interval %s): %v",
				time.Since(rotatedAt), newKid, interval, a.jwks(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("A published B's new key %s after the rotation", time.Since(rotatedAt).Round(time.Millisecond))
	if kid := kidOf(t, accessToken(a)); kid != newKid {
		t.Errorf("A signs with %s after B's rotation, want %s", kid, newKid)
	}

	// Rotated on A: B (refreshing only hourly) verifies A's token at once.
	rot = a.admin(t, http.MethodPost, "/admin/keys/rotate")
	newKid = rot.str("kid")
	if rot.status != http.StatusOK || newKid == "" {
		t.Fatalf("rotate on A: %d %s", rot.status, rot.raw)
	}
	tok := accessToken(a)
	if kid := kidOf(t, tok); kid != newKid {
		t.Fatalf("A signs with %s after its rotation, want %s", kid, newKid)
	}
	info := b.do(t, request{method: http.MethodGet, path: "/v1/userinfo", header: http.Header{"Authorization": {"Bearer " + tok}}})
	if info.status != http.StatusOK || info.str("sub") != liveSubject {
		t.Fatalf("B's userinfo with A's token of a key made a moment ago: %d %s", info.status, info.raw)
	}
	intro := b.do(t, form("/v1/introspect", url.Values{"token": {tok}}, "web", liveSecret))
	if intro.status != http.StatusOK || intro.body["active"] != true {
		t.Fatalf("B's introspection of A's token: %d %s", intro.status, intro.raw)
	}
	// Having read the keys for it, B publishes and signs with A's key.
	if kid := kidOf(t, accessToken(b)); kid != newKid {
		t.Errorf("B signs with %s after A's rotation was read, want %s", kid, newKid)
	}
	if ka, kb := a.jwks(t), b.jwks(t); !slices.Equal(ka, kb) {
		t.Errorf("after the rotations A publishes %v and B %v", ka, kb)
	}
}

// testPlugin is testdata/plugins/<name>.wasm as make plugins-testdata
// builds it, or compiled here from its WAT when it is not built.
func testPlugin(tb testing.TB, name string) []byte {
	tb.Helper()
	return plugintest.TestModule(tb, filepath.Join("..", "testdata", "plugins"), name)
}

// pluginList is GET /admin/plugins.
type pluginList struct {
	Embedded    map[string]string `json:"embedded"`
	Fingerprint string            `json:"fingerprint"`
	Plugins     []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		File    *struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		} `json:"file"`
		EmbeddedSHA256 string `json:"embedded_sha256"`
	} `json:"plugins"`
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestReplicasPluginKVAndFiles: two replicas on one PostgreSQL, each with
// its own plugin directory. What a plugin stores with kv_put on one, the
// same plugin reads with kv_get on the other (plugin KV is in the
// database); the files stay each replica's own, and GET /admin/plugins
// shows each file's SHA-256, the embedded modules' and one fingerprint,
// so a file that differs between replicas shows.
func TestReplicasPluginKVAndFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	kv, v1, v2 := testPlugin(t, "kv"), testPlugin(t, "reload_v1"), testPlugin(t, "reload_v2")
	replica := func(extra []byte) *live {
		dir := t.TempDir()
		for name, wasm := range map[string][]byte{"store": kv, "extra": extra} {
			if err := os.WriteFile(filepath.Join(dir, name+".wasm"), wasm, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l := startReplica(t, dsn, func(cfg *config.Config) {
			cfg.Plugins.Dir = dir
			cfg.Plugins.Hooks = map[string]any{"token_claims": "store"}
			cfg.Plugins.Settings = map[string]config.PluginSettings{"store": {KV: true}}
		})
		l.dir = dir
		return l
	}
	a, b := replica(v1), replica(v2)

	// kv_put on A (its notify hook stores the envelope under "last"),
	// kv_get on B (its token_claims hook returns what is stored there).
	p, ok := a.srv.Plugins().Plugin("store")
	if !ok {
		t.Fatal("A has no plugin store")
	}
	if err := p.Call(context.Background(), "notify", map[string]string{"written_on": "replica A"}, nil); err != nil {
		t.Fatalf("notify on A: %v", err)
	}
	pb, ok := b.srv.Plugins().Plugin("store")
	if !ok {
		t.Fatal("B has no plugin store")
	}
	var got struct {
		Input map[string]string `json:"input"`
	}
	if err := pb.Call(context.Background(), "token_claims", map[string]string{}, &got); err != nil || got.Input["written_on"] != "replica A" {
		t.Fatalf("kv_get on B: %+v (%v), want what A's kv_put stored", got, err)
	}
	if _, err := b.st.KV.Get(context.Background(), "plugin/store/last"); err != nil {
		t.Errorf("the plugin's record in the database: %v", err)
	}

	lists := map[*live]pluginList{}
	for _, l := range []*live{a, b} {
		r := l.admin(t, http.MethodGet, "/admin/plugins")
		var list pluginList
		if r.status != http.StatusOK || json.Unmarshal(r.raw, &list) != nil {
			t.Fatalf("GET /admin/plugins: %d %s", r.status, r.raw)
		}
		lists[l] = list
		files := map[string]string{}
		for _, pl := range list.Plugins {
			if pl.File != nil {
				files[pl.Name] = pl.File.SHA256
				if pl.File.Path != filepath.Join(l.dir, pl.Name+".wasm") {
					t.Errorf("%s's file path %q", pl.Name, pl.File.Path)
				}
			}
			if pl.Name == "store" && pl.Version != sha256Hex(kv) {
				t.Errorf("store serves %s, want its file's %s", pl.Version, sha256Hex(kv))
			}
		}
		if files["store"] != sha256Hex(kv) {
			t.Errorf("store's file hash %q, want %s", files["store"], sha256Hex(kv))
		}
		want := sha256Hex(v1)
		if l == b {
			want = sha256Hex(v2)
		}
		if files["extra"] != want {
			t.Errorf("extra's file hash %q, want %s", files["extra"], want)
		}
		for name, wasm := range gatehouse.Plugins() {
			if list.Embedded[name] != sha256Hex(wasm) {
				t.Errorf("embedded %s: %q, want %s", name, list.Embedded[name], sha256Hex(wasm))
			}
		}
	}
	if lists[a].Fingerprint == "" || lists[a].Fingerprint == lists[b].Fingerprint {
		t.Errorf("replicas with different plugin files have fingerprints %q and %q", lists[a].Fingerprint, lists[b].Fingerprint)
	}

	// The same file on both: the same fingerprint.
	if err := os.WriteFile(filepath.Join(b.dir, "extra.wasm"), v1, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := b.admin(t, http.MethodPost, "/admin/plugins/reload"); r.status != http.StatusOK {
		t.Fatalf("reload on B: %d %s", r.status, r.raw)
	}
	var again pluginList
	if r := b.admin(t, http.MethodGet, "/admin/plugins"); json.Unmarshal(r.raw, &again) != nil || again.Fingerprint != lists[a].Fingerprint {
		t.Errorf("replicas with the same plugins have fingerprints %q and %q", lists[a].Fingerprint, again.Fingerprint)
	}
}

// TestReplicasOpenSessionCap: the cap on undecided consent sessions is
// counted by each replica, and a decision made on another replica gives
// the place back: two sessions opened on A (the cap) and rejected on B let
// A open more, while two still undecided keep A at its cap.
func TestReplicasOpenSessionCap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	capped := func(c *config.Config) { c.Authorization.MaxOpenPerClient, c.Authorization.MaxOpenPerAddress = 2, 0 }
	a, b := startReplica(t, dsn, capped), startReplica(t, dsn, capped)
	a.client(t, "app", store.ClientMetadata{ResponseTypes: []string{"code"}})
	open := func() []string {
		t.Helper()
		var ids []string
		for range 2 {
			resp, id := authorizeOnce(t, a, "app")
			if id == "" {
				t.Fatalf("authorize on A: %d Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
			}
			ids = append(ids, id)
		}
		if resp, id := authorizeOnce(t, a, "app"); id != "" || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a third open session on A: %d %q, want 429", resp.StatusCode, id)
		}
		return ids
	}
	guest := testclient.Must(testclient.GuestToken(b.base))(t)
	for _, id := range open() {
		req, err := http.NewRequest(http.MethodPost, b.base+"/v1/sessions/"+id+"/reject", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+guest)
		if status, body, err := testclient.Do(req); err != nil || status != http.StatusOK {
			t.Fatalf("reject on B: %d %v %v", status, body, err)
		}
	}
	time.Sleep(time.Second) // A looks its sessions up in the store at most once a second
	open()                  // the places the decisions on B gave back, and no more
}

// TestReplicasClientIDDocumentCache: each replica fetches a client ID
// metadata document and caches it by its own (by the document's HTTP
// cache headers): two replicas fetch it once each, then both serve it
// from their caches.
func TestReplicasClientIDDocumentCache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL")
	}
	docs := startDocServer(t)
	dsn := pgtest.NewDatabase(t)
	withCA := func(c *config.Config) { c.Outbound.CAFile = docs.caFile }
	a, b := startReplica(t, dsn, withCA), startReplica(t, dsn, withCA)
	clientID := docs.URL + "/client.json"
	for i, l := range []*live{a, b, a, b} {
		if resp, id := authorizeOnce(t, l, clientID); id == "" {
			t.Fatalf("authorize %d: %d Location %q, want the consent page", i, resp.StatusCode, resp.Header.Get("Location"))
		}
		if want := min(i+1, 2); docs.count("/client.json") != want {
			t.Fatalf("after %d requests over two replicas the document was fetched %d times, want %d (once per replica, max-age=120)",
				i+1, docs.count("/client.json"), want)
		}
	}
}

// TestReplicasRateLimitPerReplica: the token endpoint's buckets are each
// replica's own (README, "Several replicas on one database"): a client
// that has spent its burst on A is served by B, whose bucket for it is
// full, and is then limited by B as A limits it.
func TestReplicasRateLimitPerReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL")
	}
	dsn := pgtest.NewDatabase(t)
	const burst = 3
	limited := func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.TokenBurst, c.RateLimit.TokenPerSecond = burst, 0.01 // no refill within the test
	}
	a, b := startReplica(t, dsn, limited), startReplica(t, dsn, limited)
	app := testclient.Must(testclient.Register(a.base, map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
	}))(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	spend := func(r *live, name string) {
		t.Helper()
		for i := range burst {
			if status, body, err := testclient.PostForm(r.base+"/v1/token", app.ID, app.Secret, cc); err != nil || status != http.StatusOK {
				t.Fatalf("token %d on %s: %d %v %v, want 200 within the burst", i+1, name, status, body, err)
			}
		}
		if status, body, err := testclient.PostForm(r.base+"/v1/token", app.ID, app.Secret, cc); err != nil || status != http.StatusTooManyRequests {
			t.Fatalf("token %d on %s: %d %v %v, want 429 past the burst", burst+1, name, status, body, err)
		}
	}
	spend(a, "A")
	spend(b, "B") // B's bucket was full: A's spending cost it nothing
}
