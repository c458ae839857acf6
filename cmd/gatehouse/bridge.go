package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/upstream"
)

const bridgeUsage = "usage: gatehouse bridge purge [--within DURATION] [--config FILE]"

// runBridge maintains the client bridge's grants in the data directory of
// a stopped server. A running server's Badger drops expired grants by TTL
// already; purge also sweeps them from the files, and --within drops the
// grants that would expire within DURATION (idle the longest).
func runBridge(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "purge" {
		return errors.New(bridgeUsage)
	}
	var within time.Duration
	cfg, _, err := loadConfig("bridge purge", args[1:], func(fs *flag.FlagSet) {
		fs.DurationVar(&within, "within", 0, "also purge grants that expire within this duration")
	})
	if err != nil {
		return err
	}
	if within < 0 {
		return fmt.Errorf("--within must not be negative, got %s", within)
	}
	if cfg.Storage.Backend == "memory" {
		return errors.New("bridge purge works on a badger data directory or a postgres database; the memory backend lives only inside a running server")
	}
	st, err := openKeyStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := upstream.PurgeBridge(ctx, st, time.Now().Add(within))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "purged %d bridged grants\n", n)
	return nil
}
