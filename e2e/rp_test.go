package e2e_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// rpDir holds the third-party relying parties these tests drive: npm
// packages pinned by package-lock.json and oauth2-proxy at the version in
// oauth2-proxy.version, installed by make deps-rp (which make test runs).
const rpDir = "testdata/rp"

// TestRelyingParties drives widely used third-party relying parties,
// installed from their registries, against the real server with the
// embedded configuration, at the root and under a base path: openid-client
// and the MCP TypeScript SDK's OAuth clients (Node test files in
// testdata/rp), and oauth2-proxy (rp_proxy_test.go). A Node test marked
// todo is a known failure: it runs, its result is reported here, and it
// does not fail the run.
func TestRelyingParties(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Node and oauth2-proxy (make deps-rp)")
	}
	deps := rpDeps(t)
	for name, basePath := range map[string]string{"root": "", "basepath": "/api/auth"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := startRP(t, basePath)
			for _, file := range []string{"openid-client.test.mjs", "mcp.test.mjs"} {
				t.Run(strings.TrimSuffix(file, ".test.mjs"), func(t *testing.T) {
					runNodeTests(t, deps, l, file)
				})
			}
			t.Run("oauth2-proxy", func(t *testing.T) { testOAuth2Proxy(t, deps, l) })
		})
	}
}

// rpTools are the installed relying parties.
type rpTools struct {
	node        string // the node binary
	oauth2Proxy string // the oauth2-proxy binary
}

// rpDeps finds what make deps-rp installs, failing the test (not skipping
// it) when something is missing.
func rpDeps(t *testing.T) rpTools {
	t.Helper()
	const hint = "run make deps-rp (make test runs it)"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v; %s", err, hint)
	}
	if _, err := os.Stat(filepath.Join(rpDir, "node_modules", ".gatehouse-installed")); err != nil {
		t.Fatalf("the npm packages of %s are not installed: %v; %s", rpDir, err, hint)
	}
	version, err := os.ReadFile(filepath.Join(rpDir, "oauth2-proxy.version"))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := filepath.Abs(filepath.Join(rpDir, "bin", "oauth2-proxy-"+strings.TrimSpace(string(version))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(proxy); err != nil {
		t.Fatalf("oauth2-proxy is not installed: %v; %s", err, hint)
	}
	return rpTools{node: node, oauth2Proxy: proxy}
}

// startRP starts Gatehouse with the embedded configuration (on the memory
// store) and the first-party plugins embedded in the binary, as a new user
// gets it from an empty directory: no plugin file overrides them.
func startRP(t *testing.T, basePath string) *servertest.Live {
	t.Helper()
	return servertest.Start(t, func(cfg *config.Config) {
		cfg.Server.BasePath = basePath
		cfg.Log.Level = "warn"
		cfg.Plugins.Dir, cfg.Plugins.Watch = t.TempDir(), false
	})
}

// tapResult is a top-level test result line of node --test's TAP output:
// "ok 3 - name # TODO reason"; the group is "not " for a failure.
var tapResult = regexp.MustCompile(`^(not )?ok \d+ - (.*?)(?: # (TODO|SKIP)\b ?(.*))?$`)

// runNodeTests runs one Node test file against l and reports each of its
// tests as a subtest: a failure fails it, a known failure (todo) is logged.
func runNodeTests(t *testing.T, deps rpTools, l *servertest.Live, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// --test-force-exit: done when the tests are, not when the idle
	// keep-alive connections of fetch have timed out.
	cmd := exec.CommandContext(ctx, deps.node, "--test", "--test-force-exit", "--test-reporter=tap", file)
	cmd.Dir = rpDir
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_ISSUER="+l.Issuer,
		"GATEHOUSE_APP_URL="+l.Cfg.AppURL(),
		"GATEHOUSE_BASE_PATH="+l.Cfg.Server.BasePath,
	)
	cmd.WaitDelay = 5 * time.Second
	out, runErr := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", file, out)

	type result struct {
		name, directive, reason string
		ok                      bool
		detail                  []string
	}
	var results []*result
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if m := tapResult.FindStringSubmatch(line); m != nil {
			results = append(results, &result{name: m[2], ok: m[1] == "", directive: m[3], reason: m[4]})
			continue
		}
		// The YAML block after a result: duration, error, stack.
		if n := len(results); n > 0 && strings.HasPrefix(line, "  ") {
			results[n-1].detail = append(results[n-1].detail, line)
		}
	}
	failed := false
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			switch {
			case r.directive == "TODO" && r.ok:
				t.Logf("known failure now PASSES: drop its todo marker in %s/%s (%s)", rpDir, file, r.reason)
			case r.directive == "TODO":
				t.Logf("KNOWN FAILURE (%s):\n%s", r.reason, strings.Join(r.detail, "\n"))
			case r.directive == "SKIP":
				t.Skipf("skipped by the test file: %s", r.reason)
			case !r.ok:
				failed = true
				t.Errorf("failed:\n%s", strings.Join(r.detail, "\n"))
			}
		})
	}
	if len(results) == 0 {
		t.Fatalf("node --test %s reported no test (%v)", file, runErr)
	}
	if runErr != nil && !failed {
		t.Errorf("node --test %s: %v, though no test reported a failure", file, runErr)
	}
}
