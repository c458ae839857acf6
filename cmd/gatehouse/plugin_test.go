package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
)

// pluginPath returns the path of a plugin built by `make plugins`.
func pluginPath(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "testdata", "plugins", "bin", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if testing.Short() {
			t.Skipf("%s.wasm is not built and -short needs no toolchain: make plugins-testdata builds it", name)
		}
		t.Fatalf("%v (run make plugins)", err)
	}
	return path
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPluginTest(t *testing.T) {
	t.Parallel()
	good, trap := pluginPath(t, "good"), pluginPath(t, "trap")
	event := writeTestFile(t, "event.json", `{"provider": "github", "profile": {"email": "alice@example.com"}}`)
	cfg := writeTestFile(t, "config.json", `{"group": "group:default/staff"}`)
	tests := []struct {
		name    string
		args    []string
		want    string // JSON printed on stdout, "" for none
		errWant func(error) bool
		stderr  string
	}{
		{
			name:   "result, file first",
			args:   []string{good, "--hook", "sign_in", "--input", event, "--config", cfg},
			want:   `{"abi":1,"hook":"sign_in","config":{"group":"group:default/staff"},"input":{"provider":"github","profile":{"email":"alice@example.com"}}}`,
			stderr: "plugin=good",
		},
		{
			name: "result, flags first, no config",
			args: []string{"--hook", "token_claims", "--input", event, good},
			want: `{"abi":1,"hook":"token_claims","config":{},"input":{"provider":"github","profile":{"email":"alice@example.com"}}}`,
		},
		{
			name: "refusal",
			args: []string{good, "--hook", "resolve_user", "--input", event},
			want: `{"error":{"code":"unknown_user_id","message":"no such user"}}`,
			errWant: func(err error) bool {
				var r *plugin.Refusal
				return errors.As(err, &r) && r.Code == "unknown_user_id"
			},
		},
		{
			name: "failure",
			args: []string{trap, "--hook", "sign_in", "--input", event},
			errWant: func(err error) bool {
				var f *plugin.Failure
				return errors.As(err, &f) && f.Reason == plugin.ReasonTrap && f.Detail == "unreachable"
			},
			stderr: `reason="trap: unreachable"`,
		},
		{
			name: "hook not served",
			args: []string{good, "--hook", "auth_handler", "--input", event},
			errWant: func(err error) bool {
				var f *plugin.Failure
				return errors.As(err, &f) && f.Reason == plugin.ReasonHookNotServed
			},
		},
		{
			name:    "missing hook",
			args:    []string{good, "--input", event},
			errWant: func(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "usage:") },
		},
		{
			name:    "input missing",
			args:    []string{good, "--hook", "sign_in", "--input", cfg + ".missing"},
			errWant: func(err error) bool { return errors.Is(err, os.ErrNotExist) },
		},
		{
			name:    "input not JSON",
			args:    []string{good, "--hook", "sign_in", "--input", writeTestFile(t, "bad.json", "{")},
			errWant: func(err error) bool { return err != nil && strings.HasSuffix(err.Error(), "not valid JSON") },
		},
		{
			name: "import not granted",
			args: []string{pluginPath(t, "kv"), "--hook", "token_claims", "--input", event},
			errWant: func(err error) bool {
				var le *plugin.LoadError
				return errors.As(err, &le) && strings.Contains(le.Reason, "gatehouse.kv_get")
			},
		},
		{
			name: "allow pattern the URL matcher cannot read",
			args: []string{good, "--hook", "sign_in", "--input", event, "--allow", "https://api-*.example.com/"},
			errWant: func(err error) bool {
				return err != nil && strings.Contains(err.Error(), `--allow: [0] "https://api-*.example.com/" host label "api-*": a wildcard must be a whole label`)
			},
		},
		{
			name: "kv granted",
			args: []string{pluginPath(t, "kv"), "--kv", "--hook", "token_claims", "--input", event},
			want: `{"missing":true}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := pluginTest(context.Background(), tc.args, &stdout, &stderr)
			if tc.errWant == nil && err != nil {
				t.Fatalf("err = %v; stderr:\n%s", err, stderr.String())
			}
			if tc.errWant != nil && !tc.errWant(err) {
				t.Fatalf("err = %v (%T), not the one wanted", err, err)
			}
			if tc.want != "" {
				var got, want any
				if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
					t.Fatalf("stdout %q: %v", stdout.String(), err)
				}
				_ = json.Unmarshal([]byte(tc.want), &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("stdout = %s, want %s", stdout.String(), tc.want)
				}
			} else if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestPluginTestCommand runs the subcommand through the binary: wiring,
// stdout, and a non-zero exit on refusal.
func TestPluginTestCommand(t *testing.T) {
	good := pluginPath(t, "good")
	event := writeTestFile(t, "event.json", `{"provider": "github"}`)
	out, err := exec.Command(servertest.Binary(t), "plugin", "test", good, "--hook", "sign_in", "--input", event).Output()
	if err != nil {
		t.Fatalf("plugin test: %v", err)
	}
	if !bytes.Contains(out, []byte(`"provider": "github"`)) {
		t.Errorf("stdout = %s", out)
	}
	cmd := exec.Command(servertest.Binary(t), "plugin", "test", good, "--hook", "resolve_user", "--input", event)
	out, err = cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("refusal: err = %v, want exit status 1", err)
	}
	if !bytes.Contains(out, []byte(`"code": "unknown_user_id"`)) || !strings.Contains(string(exit.Stderr), "refused resolve_user") {
		t.Errorf("refusal: stdout %s, stderr %s", out, exit.Stderr)
	}
}
