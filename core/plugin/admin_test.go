package plugin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-auth/gatehouse/core/admin"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

const adminToken = "an-admin-token-of-decent-length"

// adminApp mounts h's routes on /admin behind the real guard.
func adminApp(h *Host, token string) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error { return oauth.WriteError(c, err) }})
	h.Register(app.Group("/admin", admin.Guard(&config.Config{Admin: config.Admin{Token: token}})))
	return app
}

type adminList struct {
	Dir     string `json:"dir"`
	OK      *bool  `json:"ok"`
	Errors  []string
	Plugins []struct {
		Name          string   `json:"name"`
		Version       string   `json:"version"`
		Hooks         []string `json:"hooks"`
		Bound         []string `json:"bound"`
		LoadError     string   `json:"load_error"`
		FailedVersion string   `json:"failed_version"`
		Stats         struct {
			Calls, Refusals, Errors uint64
			P50, P99                string
		} `json:"stats"`
	} `json:"plugins"`
}

func do(t *testing.T, app *fiber.App, method, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func TestAdminAuth(t *testing.T) {
	h := newTestHost(t, testConfig(t.TempDir()))
	tests := []struct {
		name, configured, sent string
		want                   int
	}{
		{"no admin token configured", "", "anything", http.StatusNotFound},
		{"no token sent", adminToken, "", http.StatusUnauthorized},
		{"wrong token", adminToken, "not-the-token", http.StatusUnauthorized},
		{"right token", adminToken, adminToken, http.StatusOK},
	}
	for _, tt := range tests {
		for _, route := range []struct{ method, path string }{{"GET", "/admin/plugins"}, {"POST", "/admin/plugins/reload"}} {
			t.Run(tt.name+" "+route.method, func(t *testing.T) {
				status, _, body := do(t, adminApp(h, tt.configured), route.method, route.path, tt.sent)
				if status != tt.want {
					t.Errorf("%s %s: status %d, want %d: %s", route.method, route.path, status, tt.want, body)
				}
			})
		}
	}
}

// TestAdminListAndReload drives GET /admin/plugins and POST
// /admin/plugins/reload through a change, a broken file and a fix, and
// checks the Prometheus series.
func TestAdminListAndReload(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	h := newTestHost(t, testConfig(dir))
	app := adminApp(h, adminToken)
	ctx := context.Background()
	for range 10 {
		if _, err := version(ctx, h, "claims"); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = version(ctx, h, "gh-signin") // bound, absent: an error

	list := func(t *testing.T, method, path string) adminList {
		t.Helper()
		status, header, body := do(t, app, method, path, adminToken)
		if status != http.StatusOK || header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s %s: %d (Cache-Control %q): %s", method, path, status, header.Get("Cache-Control"), body)
		}
		var l adminList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("not JSON: %s", body)
		}
		return l
	}

	l := list(t, "GET", "/admin/plugins")
	if l.Dir != dir || len(l.Plugins) != 2 {
		t.Fatalf("list %+v", l)
	}
	claims, absent := l.Plugins[0], l.Plugins[1]
	p, _ := h.Plugin("claims")
	if claims.Name != "claims" || claims.Version != p.Version() || strings.Join(claims.Hooks, ",") != "token_claims" ||
		strings.Join(claims.Bound, ",") != "sign_in/default,token_claims" || claims.LoadError != "" {
		t.Errorf("claims %+v", claims)
	}
	if claims.Stats.Calls != 10 || claims.Stats.Errors != 0 || claims.Stats.P50 == "0s" || claims.Stats.P99 == "" {
		t.Errorf("claims stats %+v", claims.Stats)
	}
	if absent.Name != "gh-signin" || absent.Version != "" || !strings.Contains(absent.LoadError, "not found") ||
		absent.Stats.Errors != 1 || strings.Join(absent.Bound, ",") != "sign_in/github" {
		t.Errorf("absent plugin %+v", absent)
	}

	// A broken file: the reload reports it, the old version serves.
	if err := os.WriteFile(filepath.Join(dir, "claims.wasm"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = list(t, "POST", "/admin/plugins/reload")
	if l.OK == nil || *l.OK || len(l.Errors) != 1 || !strings.Contains(l.Errors[0], "invalid module") {
		t.Errorf("reload of a broken file: ok %v errors %v", l.OK, l.Errors)
	}
	if c := l.Plugins[0]; c.Version != p.Version() || !strings.Contains(c.LoadError, "invalid module") || c.FailedVersion == "" {
		t.Errorf("after a broken reload: %+v", c)
	}
	if got, err := version(ctx, h, "claims"); err != nil || got != "v1" {
		t.Errorf("old version not serving: %q, %v", got, err)
	}

	writePlugin(t, dir, "claims", testWasm(t, "reload_v2"))
	l = list(t, "POST", "/admin/plugins/reload")
	if l.OK == nil || !*l.OK || len(l.Errors) != 0 || l.Plugins[0].LoadError != "" || l.Plugins[0].Version == p.Version() {
		t.Errorf("reload of a good file: %+v", l)
	}
	if got, _ := version(ctx, h, "claims"); got != "v2" {
		t.Errorf("serving %q after the admin reload", got)
	}
	// Counts survive versions.
	if l := list(t, "GET", "/admin/plugins"); l.Plugins[0].Stats.Calls != 12 {
		t.Errorf("calls %d, want 12 across both versions", l.Plugins[0].Stats.Calls)
	}

	// The same figures on /metrics.
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		family string
		labels map[string]string
	}{
		{"gatehouse_plugin_calls_total", map[string]string{"plugin": "claims", "hook": "token_claims", "outcome": "ok"}},
		{"gatehouse_plugin_calls_total", map[string]string{"plugin": "gh-signin", "hook": "token_claims", "outcome": "unavailable"}},
		{"gatehouse_plugin_call_duration_seconds", map[string]string{"plugin": "claims", "hook": "token_claims"}},
		{"gatehouse_plugin_reloads_total", map[string]string{"plugin": "claims", "outcome": "error"}},
		{"gatehouse_plugin_reloads_total", map[string]string{"plugin": "claims", "outcome": "reloaded"}},
	} {
		if v := sample(families, want.family, want.labels); v < 1 {
			t.Errorf("%s%v = %v, want at least 1", want.family, want.labels, v)
		}
	}
}

// sample is the value (a counter's, or a histogram's count) of the series
// of family with exactly labels, or 0.
func sample(families []*dto.MetricFamily, family string, labels map[string]string) float64 {
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if m.Histogram != nil {
				return float64(m.Histogram.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestAdminReloadUnreadableDirectory: a directory that cannot be read (here
// a file in its place: root reads a 0o000 directory anyway) is a server
// error and keeps the loaded plugins.
func TestAdminReloadUnreadableDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePlugin(t, dir, "claims", testWasm(t, "reload_v1"))
	h := newTestHost(t, testConfig(dir))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("a file, not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, adminApp(h, adminToken), "POST", "/admin/plugins/reload", adminToken)
	if status != http.StatusInternalServerError || !strings.Contains(string(body), "server_error") {
		t.Errorf("status %d: %s", status, body)
	}
	if got, err := version(context.Background(), h, "claims"); err != nil || got != "v1" {
		t.Errorf("plugins dropped after a failed scan: %q, %v", got, err)
	}
}
