package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/plugin/plugintest"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// reloadTestWasm returns testdata/plugins/bin/<name>.wasm, compiling the WAT
// when make has not built it.
func reloadTestWasm(t *testing.T, name string) []byte {
	t.Helper()
	return plugintest.TestModule(t, filepath.Join("..", "..", "testdata", "plugins"), name)
}

// TestSIGHUPReloadsPlugins: `gatehouse serve` survives SIGHUP and reloads
// its plugin directory on it (the watcher is off here).
func TestSIGHUPReloadsPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	const token = "sighup-admin-token-0123456789"
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	v2 := reloadTestWasm(t, "reload_v2")
	if err := os.WriteFile(filepath.Join(plugins, "claims.wasm"), reloadTestWasm(t, "reload_v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := servertest.StartProcess(t, addr, dir,
		"GATEHOUSE_PLUGINS__DIR="+plugins,
		"GATEHOUSE_PLUGINS__WATCH=false",
		"GATEHOUSE_PLUGINS__HOOKS__TOKEN_CLAIMS=claims",
		"GATEHOUSE_ADMIN__TOKEN="+token,
	)
	serving := func() string {
		req, _ := http.NewRequest(http.MethodGet, p.Origin+"/admin/plugins", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		status, body, err := testclient.Do(req)
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET /admin/plugins: %d %v %v; logs:\n%s", status, body, err, p.Logs())
		}
		for _, pl := range body["plugins"].([]any) {
			if pl := pl.(map[string]any); pl["name"] == "claims" {
				v, _ := pl["version"].(string)
				return v
			}
		}
		return ""
	}
	sum := sha256.Sum256(v2)
	want := hex.EncodeToString(sum[:])
	if serving() == want || serving() == "" {
		t.Fatalf("claims serving %q before the change", serving())
	}

	if err := os.WriteFile(filepath.Join(plugins, "claims.wasm"), v2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for serving() != want {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload claims; logs:\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _, err := testclient.GetJSON(p.Origin + "/readyz"); err != nil || status != http.StatusOK {
		t.Errorf("readyz after SIGHUP: %d %v", status, err)
	}
}

// adminPlugins is one plugin of GET /admin/plugins.
type adminPlugin struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Bound     []string `json:"bound"`
	LoadError string   `json:"load_error"`
	Stats     struct {
		Calls  int `json:"calls"`
		Errors int `json:"errors"`
	} `json:"stats"`
}

// admin calls an admin route of p with the bearer token.
func admin(t *testing.T, p *servertest.Process, method, path, token string) (int, map[string]any, map[string]adminPlugin) {
	t.Helper()
	req, _ := http.NewRequest(method, p.Origin+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	status, body, err := testclient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v; logs:\n%s", method, path, err, p.Logs())
	}
	plugins := map[string]adminPlugin{}
	raw, _ := json.Marshal(body["plugins"])
	var list []adminPlugin
	_ = json.Unmarshal(raw, &list)
	for _, pl := range list {
		plugins[pl.Name] = pl
	}
	return status, body, plugins
}

// accessClaims registers a client_credentials client and returns the
// claims of an access token it gets, or the error answer.
func accessClaims(t *testing.T, issuer string) (int, map[string]any) {
	t.Helper()
	c := testclient.Must(testclient.Register(issuer, map[string]any{"client_name": "svc", "grant_types": []string{"client_credentials"}}))(t)
	status, body, err := testclient.PostForm(issuer+"/v1/token", c.ID, c.Secret, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		return status, body
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
	return status, claims
}

// TestReloadConfiguration: `gatehouse serve --config FILE` takes new
// plugin settings and hook bindings from its file on SIGHUP and on
// POST /admin/plugins/reload, without a restart: a plugin that needs a
// grant (kv) loads once the file grants it, and a new binding reaches it.
// A file that is invalid, or that would break a serving plugin or bind a
// hook to a plugin that cannot serve it, changes nothing: the admin call
// answers every problem, SIGHUP logs them. Keys that need a restart are
// named, not applied.
func TestReloadConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	const token = "reload-admin-token-0123456789"
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"claims": "reload_v1", "store": "kv"} {
		if err := os.WriteFile(filepath.Join(plugins, name+".wasm"), reloadTestWasm(t, src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "gatehouse.yaml")
	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(file, []byte("plugins:\n  dir: "+plugins+"\n  watch: false\n"+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// At start: token_claims is claims; store imports kv_get and kv_put
	// without the kv grant, so it does not load.
	write("  hooks:\n    token_claims: claims\n")
	p := servertest.StartProcessWith(t, servertest.ProcessOptions{Addr: addr, Dir: dir, Args: []string{"--config", file},
		Env: []string{"GATEHOUSE_ADMIN__TOKEN=" + token, "GATEHOUSE_LOG__LEVEL=info"}})
	if status, claims := accessClaims(t, p.Base); status != http.StatusOK || claims["reload"] != "v1" {
		t.Fatalf("token before the reload: %d %v", status, claims)
	}
	if _, _, pl := admin(t, p, "GET", "/admin/plugins", token); pl["store"].Version != "" || !strings.Contains(pl["store"].LoadError, "kv") {
		t.Fatalf("store before its grant: %+v", pl["store"])
	}

	// SIGHUP: the file grants store kv and binds token_claims to it.
	granted := "  settings:\n    store:\n      kv: true\n  hooks:\n    token_claims: store\n"
	write(granted)
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, pl := admin(t, p, "GET", "/admin/plugins", token)
		if pl["store"].Version != "" && slices.Equal(pl["store"].Bound, []string{"token_claims"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not apply the new settings and binding: %+v; logs:\n%s", pl, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The token's claims now come from store (which adds none), through
	// its kv grant: one call, no error.
	if status, claims := accessClaims(t, p.Base); status != http.StatusOK || claims["reload"] != nil {
		t.Fatalf("token after the reload: %d %v", status, claims)
	}
	if _, _, pl := admin(t, p, "GET", "/admin/plugins", token); pl["store"].Stats.Calls != 1 || pl["store"].Stats.Errors != 0 || pl["claims"].Stats.Calls != 1 {
		t.Errorf("calls after the reload: store %+v, claims %+v", pl["store"].Stats, pl["claims"].Stats)
	}

	// Invalid files change nothing; the admin call lists every problem.
	for name, tc := range map[string]struct {
		yaml string
		want []string
	}{
		"invalid": {"  defaults:\n    pool_size: -3\n  hooks:\n    token_claims: claims\n    bogus: claims\n",
			[]string{"plugins.defaults.pool_size", "plugins.hooks.bogus"}},
		"breaks serving plugins": {"  settings:\n    store:\n      kv: false\n  hooks:\n    token_claims: store\n    resolve_user: claims\n    notify: absent\n",
			[]string{"plugins.settings.store", "plugins.hooks.notify", "plugins.hooks.resolve_user"}},
	} {
		write(tc.yaml)
		status, body, _ := admin(t, p, "POST", "/admin/plugins/reload", token)
		errs, _ := body["errors"].([]any)
		if status != http.StatusUnprocessableEntity || body["error"] != "invalid_configuration" || len(errs) != len(tc.want) {
			t.Errorf("%s: %d %v", name, status, body)
		}
		for i, want := range tc.want {
			if i < len(errs) && !strings.HasPrefix(errs[i].(string), want+":") {
				t.Errorf("%s: problem %d is %q, want %s", name, i, errs[i], want)
			}
		}
		if err := p.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); strings.Count(p.Logs(), tc.want[0]) < 2; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: SIGHUP logged no refusal; logs:\n%s", name, p.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, _, pl := admin(t, p, "GET", "/admin/plugins", token); pl["store"].Version == "" || !slices.Equal(pl["store"].Bound, []string{"token_claims"}) || len(pl["claims"].Bound) != 0 {
			t.Errorf("%s changed the plugins: %+v", name, pl)
		}
		if status, claims := accessClaims(t, p.Base); status != http.StatusOK || claims["reload"] != nil {
			t.Errorf("%s: token %d %v", name, status, claims)
		}
	}

	// A key that needs a restart is named, not applied; the rest is.
	write(granted + "tokens:\n  access_token_ttl: 1m\n")
	status, body, _ := admin(t, p, "POST", "/admin/plugins/reload", token)
	if status != http.StatusOK || body["ok"] != true || fmt.Sprint(body["restart_needed"]) != "[tokens]" ||
		fmt.Sprint(body["config_reloaded"]) != "[plugins.defaults plugins.settings plugins.hooks]" {
		t.Errorf("reload with a restart-only change: %d %v", status, body)
	}
	if status, claims := accessClaims(t, p.Base); status != http.StatusOK || claims["exp"].(float64)-claims["iat"].(float64) == 60 {
		t.Errorf("tokens.access_token_ttl applied without a restart: %d %v", status, claims)
	}
}
