package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/urlpattern"
)

const pluginUsage = "usage: gatehouse plugin test FILE.wasm --hook HOOK --input EVENT.json [--config PLUGIN-CONFIG.json] [--allow URL-PATTERN]... [--kv] [--timeout D] [--memory-pages N]"

// runPlugin is `gatehouse plugin test`: for plugin authors, it runs one hook
// of a .wasm file with the server's own runtime and limits (sdk/ABI.md §10).
func runPlugin(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		return errors.New(pluginUsage)
	}
	return pluginTest(ctx, args[1:], stdout, os.Stderr)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// pluginTest prints the hook's result (or the plugin's refusal, as
// {"error": ...}) as JSON on stdout and the plugin's log lines on stderr. A
// refusal or a failure is also returned, so the exit status is non-zero.
func pluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse plugin test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hook := fs.String("hook", "", "hook to call: sign_in, auth_handler, resolve_user, notify, token_claims")
	inputPath := fs.String("input", "", "file with the hook's input JSON (- for stdin)")
	configPath := fs.String("config", "", "file with the plugin's config object (default {})")
	var allow stringList
	fs.Var(&allow, "allow", "URL pattern http_request may reach (repeatable; grants http_request)")
	kv := fs.Bool("kv", false, "grant kv_get/kv_put on an in-memory store")
	timeout := fs.Duration("timeout", plugin.DefaultTimeout, "call deadline")
	pages := fs.Uint("memory-pages", plugin.DefaultMemoryPages, "memory limit in 64 KiB pages")
	// The file may come before or after the flags.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 || *hook == "" || *inputPath == "" {
		return errors.New(pluginUsage)
	}
	if *pages == 0 || *pages > 65536 {
		return fmt.Errorf("--memory-pages %d: want 1..65536", *pages)
	}
	if _, err := urlpattern.ParseList(allow); err != nil {
		return fmt.Errorf("--allow: %w", err)
	}
	wasm, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	input, err := readJSON(*inputPath, "input")
	if err != nil {
		return err
	}
	var cfg json.RawMessage
	if *configPath != "" {
		if cfg, err = readJSON(*configPath, "config"); err != nil {
			return err
		}
	}
	s := plugin.Settings{
		Config:    cfg,
		HTTPAllow: allow,
		Limits:    plugin.Limits{MemoryPages: uint32(*pages), Timeout: *timeout, PoolSize: 1},
		Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if *kv {
		s.KV = memory.New()
		defer s.KV.Close()
	}
	rt, err := plugin.NewRuntime(ctx, "")
	if err != nil {
		return err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	name := strings.TrimSuffix(filepath.Base(files[0]), ".wasm")
	p, err := rt.Load(ctx, name, wasm, s)
	if err != nil {
		return err
	}
	var result json.RawMessage
	err = p.Call(ctx, *hook, input, &result)
	var refusal *plugin.Refusal
	switch {
	case errors.As(err, &refusal):
		out, _ := json.Marshal(map[string]any{"error": map[string]string{"code": refusal.Code, "message": refusal.Message}})
		result = out
	case err != nil:
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, result, "", "  "); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	pretty.WriteByte('\n')
	if _, werr := stdout.Write(pretty.Bytes()); werr != nil {
		return werr
	}
	return err
}

// readJSON reads a JSON document from path ("-" for stdin) and checks it.
func readJSON(path, what string) (json.RawMessage, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s %s: not valid JSON", what, path)
	}
	return b, nil
}
