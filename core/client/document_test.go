package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/outbound"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// TestDocumentLifetime: how long a document is cached, from its HTTP
// cache headers (RFC 9111 §4.2.1) within min_ttl and max_ttl.
func TestDocumentLifetime(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	l := &Clients{conf: config.ClientIDDocuments{MinTTL: time.Minute, DefaultTTL: 5 * time.Minute, MaxTTL: 24 * time.Hour}}
	date := now.Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"no cache headers", http.Header{}, 5 * time.Minute},
		{"max-age", http.Header{"Cache-Control": {"public, max-age=600"}}, 10 * time.Minute},
		{"max-age less Age", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"300"}}, 5 * time.Minute},
		{"max-age below min_ttl", http.Header{"Cache-Control": {"max-age=5"}}, time.Minute},
		{"max-age above max_ttl", http.Header{"Cache-Control": {"max-age=31536000"}}, 24 * time.Hour},
		{"max-age huge", http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, 5 * time.Minute},
		{"no-store wins over max-age", http.Header{"Cache-Control": {"max-age=600, no-store"}}, time.Minute},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, time.Minute},
		{"max-age over Expires", http.Header{"Cache-Control": {"max-age=600"}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, 10 * time.Minute},
		{"Expires less Date", http.Header{"Date": {date}, "Expires": {now.Add(2 * time.Hour).Format(http.TimeFormat)}}, 2 * time.Hour},
		{"Expires in the past", http.Header{"Date": {date}, "Expires": {now.Add(-time.Hour).Format(http.TimeFormat)}}, time.Minute},
		{"invalid Expires", http.Header{"Expires": {"0"}}, time.Minute},
		{"two Cache-Control lines", http.Header{"Cache-Control": {"public", "max-age=900"}}, 15 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.lifetime(tc.header, now); got != tc.want {
				t.Errorf("lifetime %s, want %s", got, tc.want)
			}
		})
	}
}

// TestDocumentCache: a document is fetched once while fresh, again once
// its lifetime is over (a changed document then takes effect), and the
// cache holds at most cache_entries documents.
func TestDocumentCache(t *testing.T) {
	var mu sync.Mutex
	fetches := map[string]int{}
	name := "First"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches[r.URL.Path]++
		doc := map[string]any{"client_id": "https://" + r.Host + r.URL.Path, "client_name": name,
			"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "token_endpoint_auth_method": "none"}
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=600")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	defer srv.Close()
	l := documentClients(t, srv, func(cfg *config.Config) {
		cfg.ClientIDDocuments.CacheEntries = 2
	})
	now := time.Now()
	l.now = func() time.Time { return now }
	ctx := context.Background()
	get := func(path, wantName string, wantFetches int) {
		t.Helper()
		cl, err := l.Get(ctx, srv.URL+path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		mu.Lock()
		n := fetches[path]
		mu.Unlock()
		if cl.ClientName != wantName || !cl.MetadataDocument || cl.TokenEndpointAuthMethod != "none" || n != wantFetches {
			t.Errorf("%s: %q (document %v, %s), %d fetches; want %q, %d fetches", path, cl.ClientName, cl.MetadataDocument,
				cl.TokenEndpointAuthMethod, n, wantName, wantFetches)
		}
	}
	get("/a.json", "First", 1)
	get("/a.json", "First", 1)
	mu.Lock()
	name = "Second"
	mu.Unlock()
	now = now.Add(9 * time.Minute)
	get("/a.json", "First", 1) // still fresh
	now = now.Add(2 * time.Minute)
	get("/a.json", "Second", 2) // stale: fetched again
	// Bounded: a third document evicts the least recently used.
	get("/b.json", "Second", 1)
	get("/c.json", "Second", 1)
	get("/a.json", "Second", 3)
	if n := l.cache.Len(); n != 2 {
		t.Errorf("cache holds %d documents, cache_entries is 2", n)
	}
}

// FuzzParseDocument: no document makes the parser panic, and one it
// accepts names the URL it came from and no shared secret.
func FuzzParseDocument(f *testing.F) {
	const id = "https://app.example.com/client.json"
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1:9/cb"]}`))
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none","client_secret":null}`))
	f.Add([]byte(`{"client_id":1}`))
	f.Add([]byte(`[]`))
	p := newPolicy(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		meta, err := parseDocument(body, id, p)
		if err != nil {
			return
		}
		if meta.TokenEndpointAuthMethod != "none" {
			t.Fatalf("accepted with token_endpoint_auth_method %q", meta.TokenEndpointAuthMethod)
		}
		var doc map[string]any
		if json.Unmarshal(body, &doc) == nil && fmt.Sprint(doc["client_id"]) != id {
			t.Fatalf("accepted client_id %v", doc["client_id"])
		}
	})
}

// TestDocumentHammer: many requests at once for one uncached document
// wait for a single fetch, and each gets the client (or, for a refused
// document, the refusal); under -race.
func TestDocumentHammer(t *testing.T) {
	const goroutines, calls = 16, 20
	var fetches sync.Map
	var countMu sync.Mutex
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := fetches.LoadOrStore(r.URL.Path, new(int64))
		countMu.Lock()
		*n.(*int64)++
		countMu.Unlock()
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		id := "https://" + r.Host + r.URL.Path
		if r.URL.Path == "/refused.json" {
			id = "https://elsewhere.example.com/client.json"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": id, "redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	}))
	defer srv.Close()
	l := documentClients(t, srv, nil)
	var started, done sync.WaitGroup
	started.Add(goroutines)
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			for i := range calls {
				path := "/client.json"
				if (g+i)%4 == 0 {
					path = "/refused.json"
				}
				cl, err := l.Get(context.Background(), srv.URL+path)
				switch {
				case path == "/client.json" && (err != nil || cl.ID != srv.URL+path):
					errs <- fmt.Errorf("%s: %v %q", path, err, cl.ID)
				case path == "/refused.json" && err == nil:
					errs <- fmt.Errorf("%s accepted", path)
				}
			}
		}()
	}
	started.Wait()
	<-entered
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, _ := fetches.Load("/client.json")
	if got := *n.(*int64); got != 1 {
		t.Errorf("/client.json fetched %d times, want 1", got)
	}
}

// TestDocumentOutage: when a cached document expires while its host is
// down (or answers 5xx), its last accepted copy stands in until max_ttl
// past its expiry, and is fetched again after min_ttl; a definite answer
// (404, an invalid document) refuses the client at once.
func TestDocumentOutage(t *testing.T) {
	var mu sync.Mutex
	status, fetches := http.StatusOK, 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": "https://" + r.Host + r.URL.Path, "client_name": "App",
			"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "token_endpoint_auth_method": "none"})
	}))
	defer srv.Close()
	l := documentClients(t, srv, nil)
	now := time.Now()
	l.now = func() time.Time { return now }
	id := srv.URL + "/app.json"
	set := func(s int) { mu.Lock(); status = s; mu.Unlock() }
	count := func() int { mu.Lock(); defer mu.Unlock(); return fetches }
	ctx := context.Background()
	if _, err := l.Get(ctx, id); err != nil {
		t.Fatal(err)
	}

	set(http.StatusServiceUnavailable)
	now = now.Add(11 * time.Minute) // expired
	if cl, err := l.Get(ctx, id); err != nil || cl.ClientName != "App" {
		t.Fatalf("during an outage: %v %v, want the last accepted copy", cl.ClientName, err)
	}
	if _, err := l.Get(ctx, id); err != nil || count() != 2 {
		t.Fatalf("again at once: %v, %d fetches; want the copy without another fetch", err, count())
	}
	now = now.Add(l.conf.MinTTL + time.Second)
	if _, err := l.Get(ctx, id); err != nil || count() != 3 {
		t.Fatalf("after min_ttl: %v, %d fetches; want the copy after one more fetch", err, count())
	}
	now = now.Add(l.conf.MaxTTL) // past the stale window
	if _, err := l.Get(ctx, id); err == nil {
		t.Fatal("an outage longer than max_ttl still served the old copy")
	}

	// A definite refusal is not papered over.
	set(http.StatusOK)
	if _, err := l.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	set(http.StatusNotFound)
	now = now.Add(11 * time.Minute)
	if _, err := l.Get(ctx, id); err == nil {
		t.Fatal("a document answering 404 was served from the old copy")
	}
}

// TestDocumentFetchesPerHost: client IDs naming many documents on one
// host make at most fetch_burst_per_host fetches at once, then are
// refused with invalid_client and no fetch; a cached document is still
// served, and the host is fetched again once its bucket refills.
func TestDocumentFetchesPerHost(t *testing.T) {
	var mu sync.Mutex
	fetches := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches++
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=600")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": "https://" + r.Host + r.URL.Path, "client_name": "Doc",
			"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "token_endpoint_auth_method": "none"})
	}))
	defer srv.Close()
	l := documentClients(t, srv, func(cfg *config.Config) {
		cfg.ClientIDDocuments.FetchesPerHost, cfg.ClientIDDocuments.FetchBurstPerHost = 1, 3
	})
	now := time.Now()
	l.now = func() time.Time { return now }
	ctx := context.Background()
	fetched := func() int { mu.Lock(); defer mu.Unlock(); return fetches }

	for i := range 3 {
		if _, err := l.Get(ctx, fmt.Sprintf("%s/c%d.json", srv.URL, i)); err != nil {
			t.Fatalf("document %d within the burst: %v", i, err)
		}
	}
	for i := 3; i < 10; i++ {
		_, err := l.Get(ctx, fmt.Sprintf("%s/c%d.json", srv.URL, i))
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Code != "invalid_client" || !strings.Contains(oe.Description, "fetches_per_host") {
			t.Fatalf("document %d beyond the burst: %v, want invalid_client naming fetches_per_host", i, err)
		}
	}
	if n := fetched(); n != 3 {
		t.Fatalf("%d fetches, want 3 (the burst)", n)
	}
	if cl, err := l.Get(ctx, srv.URL+"/c0.json"); err != nil || cl.ClientName != "Doc" {
		t.Fatalf("cached document while throttled: %v %v", cl.ClientName, err)
	}
	now = now.Add(time.Second)
	if _, err := l.Get(ctx, srv.URL+"/c3.json"); err != nil {
		t.Fatalf("after a second: %v", err)
	}
	if n := fetched(); n != 4 {
		t.Errorf("%d fetches, want 4", n)
	}
}

// documentClients is the client lookup of the embedded configuration,
// changed by tune if not nil, on the memory store, trusting srv's
// certificate for its documents.
func documentClients(t *testing.T, srv *httptest.Server, tune func(*config.Config)) *Clients {
	t.Helper()
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return NewClients(cfg, store.New(memory.New()), outbound.New(outbound.Options{AllowPrivate: true, RootCAs: roots}))
}
