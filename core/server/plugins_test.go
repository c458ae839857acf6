package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/server"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

const pluginAdminToken = "plugin-admin-token-for-tests"

// startPluginServer runs a server whose plugin directory holds the
// reload_v1 test plugin as "claims", with token_claims bound to bound.
// startPluginServer returns the issuer, the origin (health and admin routes
// sit at the root, outside the base path) and the server.
func startPluginServer(t *testing.T, bound string) (issuer, origin string, srv *server.Server) {
	t.Helper()
	dir := t.TempDir()
	wasm := plugintest.TestModule(t, filepath.Join("..", "..", "testdata", "plugins"), "reload_v1")
	if err := os.WriteFile(filepath.Join(dir, "claims.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	l := servertest.Start(t, func(cfg *config.Config) {
		cfg.Admin.Token = pluginAdminToken
		cfg.Plugins.Dir, cfg.Plugins.CacheDir, cfg.Plugins.Watch = dir, "", false
		cfg.Plugins.Hooks = map[string]any{"token_claims": bound}
	})
	return l.Issuer, "http://" + l.Addr, l.Server
}

func clientCredentials(t *testing.T, issuer string) (int, map[string]any) {
	t.Helper()
	c := testclient.Must(testclient.Register(issuer, map[string]any{"grant_types": []string{"client_credentials"}, "client_name": "svc"}))(t)
	status, body, err := testclient.PostForm(issuer+"/v1/token", c.ID, c.Secret, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// TestTokenClaimsPlugin: the token_claims plugin's claims land in access
// tokens; a bound plugin that is absent fails token requests closed
// without stopping the server.
func TestTokenClaimsPlugin(t *testing.T) {
	t.Run("bound", func(t *testing.T) {
		issuer, _, srv := startPluginServer(t, "claims")
		if _, ok := srv.Plugins().Plugin("claims"); !ok {
			t.Fatal("Plugins() has no claims plugin")
		}
		status, body := clientCredentials(t, issuer)
		if status != http.StatusOK {
			t.Fatalf("token: %d %v", status, body)
		}
		parts := strings.Split(body["access_token"].(string), ".")
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(raw, &claims); err != nil {
			t.Fatal(err)
		}
		if claims["reload"] != "v1" || claims["iss"] != issuer {
			t.Errorf("claims %s", raw)
		}
	})
	t.Run("bound plugin absent", func(t *testing.T) {
		issuer, origin, _ := startPluginServer(t, "absent")
		status, body := clientCredentials(t, issuer)
		if status != http.StatusInternalServerError || body["error"] != "server_error" || body["error_description"] != "plugin failed" {
			t.Errorf("token: %d %v, want 500 server_error / plugin failed", status, body)
		}
		if status, _, _ := testclient.GetJSON(origin + "/readyz"); status != http.StatusOK {
			t.Errorf("readyz %d after a failed plugin call", status)
		}
	})
}

// TestPluginAdminRoutes: the host's routes are mounted on the guarded
// /admin group.
func TestPluginAdminRoutes(t *testing.T) {
	_, origin, _ := startPluginServer(t, "claims")
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/admin/plugins", pluginAdminToken, http.StatusOK},
		{"POST", "/admin/plugins/reload", pluginAdminToken, http.StatusOK},
		{"GET", "/admin/plugins", "wrong", http.StatusUnauthorized},
		{"POST", "/admin/plugins/reload", "", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(tt.method, origin+tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		status, body, err := testclient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if status != tt.want {
			t.Errorf("%s %s (token %q): %d, want %d: %v", tt.method, tt.path, tt.token, status, tt.want, body)
		}
		if status == http.StatusOK {
			plugins, _ := body["plugins"].([]any)
			if len(plugins) != 1 || plugins[0].(map[string]any)["name"] != "claims" {
				t.Errorf("%s %s: plugins %v", tt.method, tt.path, body["plugins"])
			}
		}
	}
}
