package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/store/badger"
)

const storeUsage = "usage: gatehouse store verify [--config FILE | --data DIR]"

// runStore checks the data directory of a stopped server offline: every
// table's checksums, every value, and the marker against the database (no
// acknowledged commit missing). It exits non-zero on damage, saying what
// is wrong, so that a copy can be checked before it is restored.
func runStore(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New(storeUsage)
	}
	var data string
	cfg, _, err := loadConfig("store verify", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&data, "data", "", "the data directory to check (default: storage.dir of the configuration)")
	})
	if err != nil {
		return err
	}
	dir := data
	if dir == "" {
		if cfg.Storage.Backend != "badger" {
			return fmt.Errorf("store verify works on a badger data directory; the %s backend has none", cfg.Storage.Backend)
		}
		dir = cfg.Storage.Dir
	}
	if held, err := badger.HoldsDatabase(dir); err != nil || !held {
		return fmt.Errorf("%s holds no gatehouse database (%v)", dir, err)
	}
	r, err := badger.Verify(ctx, dir, badger.Options{})
	if err != nil && strings.Contains(err.Error(), "Another process is using this Badger database") {
		return fmt.Errorf("the data directory %s is in use by a running gatehouse: stop it first, or verify a copy taken while it was stopped", dir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data directory %s: healthy: installation %s at commit %d, %d records, every table and value checked\n",
		dir, r.Installation, r.Commit, r.Records)
	return nil
}
