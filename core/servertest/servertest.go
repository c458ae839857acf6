// Package servertest starts a real Gatehouse on a loopback port for
// end-to-end tests: the embedded default configuration, adjusted for a test
// run, served by server.New and Server.Serve exactly as the binary does;
// or the binary itself, built once, as a process (StartProcess).
package servertest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// Live is a running test server.
type Live struct {
	Issuer string         // cfg.Issuer()
	Addr   string         // host:port the server listens on
	Cfg    *config.Config // the configuration it runs with
	Server *server.Server
	Store  *store.Store
	stop   func()
}

// Options choose what Start does not decide from the configuration.
type Options struct {
	// Addr is where to listen; "" picks a free loopback port.
	Addr string
	// Store returns the store to serve from, given the final
	// configuration; nil serves from a fresh memory store.
	Store func(tb testing.TB, cfg *config.Config) *store.Store
}

// Config is the embedded default configuration for a server listening on
// addr: public URL on that address, memory store, rate limiting off (tests
// send bursts from one address), compiled plugins kept in a cache shared by
// every test server (see PluginCacheDir), and start-up waiting for every
// plugin to compile, however slow the race detector makes it (tests of
// background loading set plugins.load_wait themselves).
func Config(tb testing.TB, addr string) *config.Config {
	tb.Helper()
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Server.Addr = addr
	cfg.Server.PublicURL = "http://" + addr
	cfg.Storage.Backend = "memory"
	cfg.RateLimit.Enabled = false
	cfg.Plugins.CacheDir = PluginCacheDir(tb)
	cfg.Plugins.LoadWait = 10 * time.Minute
	return cfg
}

// PluginCacheDir is a compilation cache shared by the test servers of
// every package, so that the embedded first-party plugins each server
// loads are compiled once, not once per server. wazero keys its entries by
// its own version and the module's content, so a stale entry is never used.
func PluginCacheDir(tb testing.TB) string {
	tb.Helper()
	cacheOnce.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		cacheDir = filepath.Join(dir, "gatehouse", "test-wasm-cache")
		cacheErr = os.MkdirAll(cacheDir, 0o700)
	})
	if cacheErr != nil {
		tb.Fatalf("plugin compilation cache: %v", cacheErr)
	}
	return cacheDir
}

var (
	cacheOnce sync.Once
	cacheDir  string
	cacheErr  error
)

// Start runs a server on a free loopback port and the memory store; edit
// (if not nil) adjusts the configuration from Config first. The server
// stops when the test ends, and a Serve error fails the test.
func Start(tb testing.TB, edit func(*config.Config)) *Live {
	tb.Helper()
	return StartWith(tb, edit, Options{})
}

// StartWith is Start with a chosen address or store.
func StartWith(tb testing.TB, edit func(*config.Config), o Options) *Live {
	tb.Helper()
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := server.Listen(context.Background(), addr)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config(tb, ln.Addr().String())
	if edit != nil {
		edit(cfg)
	}
	var st *store.Store
	if o.Store != nil {
		st = o.Store(tb, cfg)
	} else {
		st = store.New(memory.New())
	}
	seedRSAKey(tb, st)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, st)
	if err != nil {
		cancel()
		_ = ln.Close()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("serve: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return &Live{Issuer: cfg.Issuer(), Addr: ln.Addr().String(), Cfg: cfg, Server: srv, Store: st, stop: stop}
}

// Stop shuts the server down gracefully and waits for Serve to return,
// failing the test on its error. Later calls, and the cleanup, do nothing.
func (l *Live) Stop() { l.stop() }

// rsaKey is one RS256 signing key for every server of the test process:
// generating a 2048-bit RSA key costs a fifth of a second, and each server
// needs one (keyset keeps RS256 for ID tokens).
var rsaKey = sync.OnceValues(func() (store.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return store.SigningKey{}, err
	}
	sum, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, err
	}
	kid := base64.RawURLEncoding.EncodeToString(sum)
	raw, err := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "RS256", Use: "sig"}.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{ID: kid, Algorithm: "RS256", PrivateJWK: raw, CreatedAt: time.Now().UTC().Truncate(time.Second)}, nil
})

// seedRSAKey stores rsaKey in a store that has no signing key yet, where
// the server's keyset finds it as its active RS256 key.
func seedRSAKey(tb testing.TB, st *store.Store) {
	tb.Helper()
	empty := true
	err := st.SigningKeys.List(context.Background(), func(string, store.SigningKey) error {
		empty = false
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if !empty {
		return
	}
	rec, err := rsaKey()
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.SigningKeys.Create(context.Background(), rec.ID, rec); err != nil {
		tb.Fatal(err)
	}
}
