// Command gatehouse is the Gatehouse authorization server and its tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `gatehouse: an OAuth 2.0 / OpenID Connect server with Wasm plugins

Usage:
  gatehouse serve   [--config FILE]          run the server
  gatehouse keys    rotate|list [--config FILE]   rotate or list the signing keys
  gatehouse client  register|show|delete --server URL ...   manage clients (RFC 7591/7592)
  gatehouse plugin  test FILE.wasm --hook H --input EVENT.json   run one plugin hook
  gatehouse ciba    history [--config FILE]  list CIBA consent decisions
  gatehouse migrate [--config FILE]          create or migrate the postgres backend's schema
  gatehouse bridge  purge [--within D] [--config FILE]  drop expired bridged grants
  gatehouse store   verify [--config FILE | --data DIR]  check a stopped server's data directory
  gatehouse store   copy --from B --to B [--from-data-dir D | --from-dsn DSN] [--to-data-dir D | --to-dsn DSN] [--force]
                                             copy every record from one backend into another
  gatehouse backup  (--url URL [--token T] | --data-dir DIR) -o FILE   back up a badger database
  gatehouse restore [--data-dir DIR] -i FILE [--force]   restore a backup into a data directory
  gatehouse version                          print the version

Configuration: the embedded config.yaml, then --config FILE, then
GATEHOUSE_* environment variables (GATEHOUSE_SERVER__ADDR=127.0.0.1:8080).
`

// commands maps a subcommand to its entry point.
var commands = map[string]func(ctx context.Context, args []string, stdout io.Writer) error{
	"serve":   runServe,
	"keys":    runKeys,
	"client":  runClient,
	"plugin":  runPlugin,
	"ciba":    runCIBA,
	"bridge":  runBridge,
	"migrate": runMigrate,
	"store":   runStore,
	"backup":  runBackup,
	"restore": runRestore,
	"version": func(context.Context, []string, io.Writer) error { fmt.Println("gatehouse", version); return nil },
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gatehouse: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, os.Args[2:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(1)
	}
}

// loadConfig parses --config from args and loads the configuration.
func loadConfig(name string, args []string, extra func(*flag.FlagSet)) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML) layered over the embedded defaults")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(gatehouse.DefaultConfig, *path)
	if err != nil {
		return nil, nil, err
	}
	setupLogging(cfg.Log)
	return cfg, fs, nil
}

func setupLogging(cfg config.Log) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	slog.SetDefault(slog.New(h))
}

func postgresOptions(c config.Postgres) postgres.Options {
	return postgres.Options{
		MaxConns: c.MaxConns, MinConns: c.MinConns,
		MaxConnLifetime: c.MaxConnLifetime, MaxConnIdleTime: c.MaxConnIdleTime,
		SweepInterval: c.SweepInterval, SweepBatch: c.SweepBatch,
		CacheEntries: c.CacheEntries,
	}
}

// reserveBytes is storage.reserve_mib as badger.Options.Reserve.
func reserveBytes(mib int) int64 {
	if mib < 0 {
		return -1
	}
	return int64(mib) << 20
}

// openStore opens the configured backend. A server (serve) opens the
// postgres backend even when the database does not answer yet, and waits
// for it in the background; the tools fail at once.
func openStore(ctx context.Context, cfg *config.Config, serve bool) (*store.Store, error) {
	switch cfg.Storage.Backend {
	case "memory":
		return store.New(memory.New()), nil
	case "postgres":
		opts := postgresOptions(cfg.Storage.Postgres)
		opts.WaitForDatabase = serve
		if !serve {
			opts.CacheEntries = 0 // a tool reads each client once, if at all
		}
		kv, err := postgres.Open(ctx, cfg.Storage.Postgres.DSN, opts)
		if err != nil {
			return nil, err
		}
		return store.New(kv), nil
	}
	if err := os.MkdirAll(cfg.Storage.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage directory: %w", err)
	}
	kv, err := badger.Open(cfg.Storage.Dir, badger.Options{SyncWrites: cfg.Storage.SyncWrites, Reserve: reserveBytes(cfg.Storage.ReserveMiB)})
	if err != nil {
		return nil, err
	}
	return store.New(kv), nil
}
