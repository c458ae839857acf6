package server_test

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// TestMetricsBehindAdminToken: with admin.token set, /metrics answers only
// to it; without one it stays open.
func TestMetricsBehindAdminToken(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, addr, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	guarded := servertest.Start(t, func(cfg *config.Config) { cfg.Admin.Token = "an-admin-token-0123456789" })
	for _, bearer := range []string{"", "wrong"} {
		if status, body := get(t, guarded.Addr, bearer); status != http.StatusUnauthorized {
			t.Errorf("token %q: %d %.200s, want 401", bearer, status, body)
		}
	}
	if status, body := get(t, guarded.Addr, "an-admin-token-0123456789"); status != http.StatusOK {
		t.Errorf("admin token: %d %.200s, want 200", status, body)
	}
	open := servertest.Start(t, nil)
	if status, body := get(t, open.Addr, ""); status != http.StatusOK {
		t.Errorf("no admin token configured: %d %.200s, want 200", status, body)
	}
}

// TestReadyzWhileStopping: /readyz read while Serve flips readiness (at
// start and at shutdown) is no data race (run with -race).
func TestReadyzWhileStopping(t *testing.T) {
	t.Parallel()
	live := servertest.Start(t, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				resp, err := http.Get("http://" + live.Addr + "/readyz")
				if err != nil {
					return // the server has stopped
				}
				resp.Body.Close()
			}
		}()
	}
	live.Stop()
	wg.Wait()
}
