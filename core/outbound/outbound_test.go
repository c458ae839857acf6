package outbound_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/outbound"
)

// peer is a loopback server that counts the requests it receives.
func peer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

// TestRefusesLocalDestinations: with the development setting off, every
// spelling of a loopback or otherwise special address is refused at the
// dial, after resolution, and the peer never sees a request. (Decimal,
// octal and hex forms such as 2130706433 are not IP literals to Go: they
// go to the resolver, and whatever it answers is checked the same way.)
func TestRefusesLocalDestinations(t *testing.T) {
	srv, hits := peer(t, ok)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	c := outbound.New(outbound.Options{}).HTTP(outbound.Policy{})
	for _, host := range []string{
		"127.0.0.1",          // loopback
		"localhost",          // a name resolving to 127.0.0.1
		"[::ffff:127.0.0.1]", // IPv4-mapped IPv6
		"[::1]",              // IPv6 loopback
		"0.0.0.0",            // unspecified: reaches local listeners
		"[::]",
		"10.0.0.1", "172.16.0.1", "192.168.1.1", // private
		"169.254.169.254", // link-local: cloud metadata
		"[fe80::1]", "[fc00::1]", "100.64.0.1", "224.0.0.1", "[ff02::1]",
	} {
		t.Run(host, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+":"+port+"/", nil)
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s answered %s, want refused", req.URL, resp.Status)
			}
			if re := (*outbound.RefusedError)(nil); !errors.As(err, &re) {
				t.Errorf("GET %s: %v, want a RefusedError", req.URL, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback peer received %d requests", n)
	}
	// The same names resolve and connect with the development setting on.
	dev := outbound.New(outbound.Options{AllowPrivate: true}).HTTP(outbound.Policy{})
	for _, host := range []string{"127.0.0.1", "localhost"} {
		resp, err := dev.Get("http://" + host + ":" + port + "/")
		if err != nil {
			t.Fatalf("allow_private: GET %s: %v", host, err)
		}
		resp.Body.Close()
	}
	if hits.Load() != 2 {
		t.Errorf("with allow_private the peer got %d requests, want 2", hits.Load())
	}
}

// TestRedirects: the number of hops is bounded, each hop is offered to the
// use's CheckRedirect, and https-only uses refuse plain http. (Each hop to
// a new host is a new dial, through the same guard.)
func TestRedirects(t *testing.T) {
	target, _ := peer(t, ok)
	hops := 0
	bouncer, _ := peer(t, func(w http.ResponseWriter, r *http.Request) {
		hops++
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})

	dev := outbound.New(outbound.Options{AllowPrivate: true, MaxRedirects: 3})
	// Bounded: a redirect loop stops after MaxRedirects.
	loop := bouncer.URL + "/?to=" + bouncer.URL + "/%3Fto%3D" + bouncer.URL
	if _, err := dev.HTTP(outbound.Policy{}).Get(loop); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop: %v, want stopped", err)
	}
	// NoRedirects answers the redirect itself.
	resp, err := dev.HTTP(outbound.Policy{NoRedirects: true}).Get(bouncer.URL + "/?to=" + target.URL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("NoRedirects: %v %v, want the 302", resp, err)
	}
	resp.Body.Close()
	// CheckRedirect sees every hop.
	refuse := errors.New("not on the list")
	_, err = dev.HTTP(outbound.Policy{CheckRedirect: func(*http.Request) error { return refuse }}).Get(bouncer.URL + "/?to=" + target.URL)
	if !errors.Is(err, refuse) {
		t.Errorf("CheckRedirect: %v", err)
	}
	// HTTPSOnly refuses plain http, a redirect to it too, unless the
	// development setting is on.
	prod := outbound.New(outbound.Options{})
	if _, err := prod.HTTP(outbound.Policy{HTTPSOnly: true}).Get(target.URL); !errors.Is(err, outbound.ErrNotHTTPS) {
		t.Errorf("HTTPSOnly: %v, want ErrNotHTTPS", err)
	}
	if resp, err := dev.HTTP(outbound.Policy{HTTPSOnly: true}).Get(target.URL); err != nil {
		t.Errorf("HTTPSOnly with allow_private: %v", err)
	} else {
		resp.Body.Close()
	}
}

// TestResponseCap: a body over the cap fails the read instead of being
// truncated silently; one exactly at the cap reads whole.
func TestResponseCap(t *testing.T) {
	srv, _ := peer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("a", 100)))
	})
	dev := outbound.New(outbound.Options{AllowPrivate: true})
	for _, tc := range []struct {
		max     int64
		wantErr bool
	}{{99, true}, {100, false}, {4096, false}} {
		resp, err := dev.HTTP(outbound.Policy{MaxResponseBytes: tc.max}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tc.wantErr != errors.Is(err, outbound.ErrResponseTooLarge) || (!tc.wantErr && len(b) != 100) {
			t.Errorf("cap %d: read %d bytes, %v", tc.max, len(b), err)
		}
	}
}
