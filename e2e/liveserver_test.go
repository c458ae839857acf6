package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
)

// TestMain stops the PostgreSQL that tests on the postgres backend start,
// and removes the binary the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Cleanup()
	servertest.RemoveBinary()
	os.Exit(code)
}

// update rewrites the golden files under testdata/golden from what the
// server answers now: go test ./e2e -update
var update = flag.Bool("update", false, "rewrite testdata/golden from the current answers")

// live is a real Gatehouse on a loopback port, on the memory store, for the
// wire-level tests of this package (golden files, bad input, rate limits).
type live struct {
	cfg  *config.Config
	srv  *server.Server
	st   *store.Store
	addr string // host:port the server listens on
	// base is where requests go: the listening address plus the base path.
	// The issuer (cfg.Issuer()) may name another origin.
	base string
	// dir is the server's plugin directory, when a test gave it one.
	dir string
}

const (
	liveSecret   = "a-high-entropy-client-secret-0123456789"
	liveRedirect = "http://127.0.0.1:9/callback"
	liveSubject  = "user:default/alice"
)

// startLive starts a server with the embedded configuration on the memory
// store (or on Badger in a temporary directory if edit sets
// storage.backend back to badger, or on a database of the package's
// PostgreSQL if it sets postgres), rate limiting off unless edit turns it on.
func startLive(tb testing.TB, edit func(*config.Config)) *live {
	tb.Helper()
	l := servertest.StartWith(tb, func(cfg *config.Config) {
		cfg.Log.Level = "error"
		// No Wasm plugins: none of these endpoints calls a hook.
		cfg.Plugins.Dir = filepath.Join(tb.TempDir(), "no-plugins")
		cfg.Plugins.Watch = false
		cfg.Plugins.Hooks = nil
		if edit != nil {
			edit(cfg)
		}
		if cfg.Storage.Backend == "postgres" {
			// The public-key cache of the postgres backend, kept out of
			// the repository.
			cfg.Storage.Dir = tb.TempDir()
		}
	}, servertest.Options{Store: func(tb testing.TB, cfg *config.Config) *store.Store {
		if cfg.Storage.Backend == "postgres" {
			// A database of its own on the package's throw-away PostgreSQL.
			pkv, err := postgres.Open(context.Background(), pgtest.NewDatabase(tb), postgres.Options{CacheEntries: cfg.Storage.Postgres.CacheEntries})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = pkv.Close() })
			return store.New(pkv)
		}
		if cfg.Storage.Backend != "badger" {
			return store.New(memory.New())
		}
		// As the binary runs it: a Badger directory, sync writes as configured.
		bkv, err := badger.Open(tb.TempDir(), badger.Options{SyncWrites: cfg.Storage.SyncWrites})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = bkv.Close() })
		return store.New(bkv)
	}})
	return &live{cfg: l.Cfg, srv: l.Server, st: l.Store, addr: l.Addr, base: "http://" + l.Addr + l.Cfg.Server.BasePath}
}

// client stores a client directly; a confidential one gets liveSecret.
func (l *live) client(tb testing.TB, id string, meta store.ClientMetadata) store.Client {
	tb.Helper()
	return servertest.StoreClient(tb, l.st, id, meta, liveSecret, liveRedirect)
}

// code stores an authorization code as /v1/authorize would issue it, bound
// to verifier's S256 challenge, then applies edit.
func (l *live) code(tb testing.TB, clientID, scope, verifier string, edit func(*store.AuthCode)) string {
	tb.Helper()
	c := store.AuthCode{
		ClientID: clientID, RedirectURI: liveRedirect, RedirectURIGiven: true,
		Subject: liveSubject, Scope: scope,
		CodeChallenge: servertest.Challenge(verifier),
		AuthTime:      time.Now().Add(-time.Minute).Truncate(time.Second),
		GrantID:       oauth.RandomToken(16),
		ExpiresAt:     time.Now().Add(l.cfg.Tokens.CodeTTL),
	}
	if edit != nil {
		edit(&c)
	}
	return servertest.StoreCode(tb, l.st, c)
}

// answer is an HTTP response, its body decoded when it is JSON.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a answer) str(key string) string { s, _ := a.body[key].(string); return s }

// request is one HTTP request to the server, relative to its base path.
type request struct {
	method, path string
	header       http.Header
	body         string
}

func (r request) String() string { return r.method + " " + r.path }

// do sends r and reads the whole answer.
func (l *live) do(tb testing.TB, r request) answer {
	tb.Helper()
	req, err := http.NewRequest(r.method, l.base+r.path, strings.NewReader(r.body))
	if err != nil {
		tb.Fatal(err)
	}
	if r.header != nil {
		req.Header = r.header.Clone()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s: %v", r, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			tb.Fatalf("%s: %d with a body that is not a JSON object: %.300s", r, a.status, raw)
		}
	}
	return a
}

// root sends r to the server's root, outside the base path.
func (l *live) root(tb testing.TB, r request) answer {
	tb.Helper()
	at := *l
	at.base = strings.TrimSuffix(l.base, l.cfg.Server.BasePath)
	return at.do(tb, r)
}

// form is a form POST to path, with Basic credentials when id is set.
func form(path string, values url.Values, id, secret string) request {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if id != "" {
		h.Set("Authorization", basicAuth(id, secret))
	}
	return request{method: http.MethodPost, path: path, header: h, body: values.Encode()}
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// snapshot is every live entry in the store, for "changed nothing" checks.
func (l *live) snapshot(tb testing.TB) map[string]string {
	tb.Helper()
	m := map[string]string{}
	err := l.st.KV.Scan(context.Background(), "", func(k string, v []byte) error {
		m[k] = string(v)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// unchanged fails the test if the store differs from before.
func unchanged(tb testing.TB, before, after map[string]string) {
	tb.Helper()
	if maps.Equal(before, after) {
		return
	}
	for k, v := range after {
		if old, ok := before[k]; !ok {
			tb.Errorf("store: %s was added", k)
		} else if old != v {
			tb.Errorf("store: %s changed:\n  %s\n  %s", k, old, v)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			tb.Errorf("store: %s was removed", k)
		}
	}
}

// golden compares got (indented JSON) with testdata/golden/name, or
// rewrites the file with -update.
func golden(tb testing.TB, name string, got any) {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./e2e -update to create it)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		tb.Errorf("%s differs from the server's answer (go test ./e2e -update rewrites it after review):\n--- want\n%s\n--- got\n%s",
			path, want, buf.Bytes())
	}
}
