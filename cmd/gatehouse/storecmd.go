package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
)

const storeUsage = "usage: gatehouse store verify [--config FILE | --data DIR]\n" +
	"       gatehouse store copy --from BACKEND --to BACKEND [--from-data-dir DIR | --from-dsn DSN] [--to-data-dir DIR | --to-dsn DSN] [--force] [--config FILE]"

func runStore(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "copy" {
		return runStoreCopy(ctx, args[1:], stdout)
	}
	return runStoreVerify(ctx, args, stdout)
}

// runStoreVerify checks the data directory of a stopped server offline: every
// table's checksums, every value, and the marker against the database (no
// acknowledged commit missing). It exits non-zero on damage, saying what
// is wrong, so that a copy can be checked before it is restored.
func runStoreVerify(ctx context.Context, args []string, stdout io.Writer) error {
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

// runStoreCopy copies every record of one backend into another, to move
// an installation (badger to postgres, or back): clients, grants, tokens,
// signing keys, each with its expiry. The destination must hold no record
// unless --force. Stop the servers of the source first: the copy is not a
// snapshot of a source being written.
func runStoreCopy(ctx context.Context, args []string, stdout io.Writer) error {
	var from, to, fromDir, toDir, fromDSN, toDSN string
	var force bool
	cfg, _, err := loadConfig("store copy", args, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "the backend to copy from: badger or postgres (default: storage.backend of the configuration)")
		fs.StringVar(&to, "to", "", "the backend to copy into: badger or postgres")
		fs.StringVar(&fromDir, "from-data-dir", "", "the source's data directory, of a stopped server (default: storage.dir)")
		fs.StringVar(&fromDSN, "from-dsn", "", "the source database (default: storage.postgres.dsn)")
		fs.StringVar(&toDir, "to-data-dir", "", "the destination's data directory (created if missing)")
		fs.StringVar(&toDSN, "to-dsn", "", "the destination database (its schema is created if missing)")
		fs.BoolVar(&force, "force", false, "copy into a destination that holds records, replacing those of the same key")
	})
	if err != nil {
		return err
	}
	if from == "" {
		from = cfg.Storage.Backend
	}
	if fromDir == "" {
		fromDir = cfg.Storage.Dir
	}
	if fromDSN == "" {
		fromDSN = cfg.Storage.Postgres.DSN
	}
	if to == "" {
		return errors.New(storeUsage)
	}
	src, srcName, err := openCopyEnd(ctx, cfg, "--from", from, fromDir, fromDSN)
	if err != nil {
		return err
	}
	defer src.Close()
	if (from == to) && ((from == "badger" && filepath.Clean(fromDir) == filepath.Clean(toDir)) || (from == "postgres" && fromDSN == toDSN)) {
		return errors.New("store copy: the source and the destination are the same")
	}
	dst, dstName, err := openCopyEnd(ctx, cfg, "--to", to, toDir, toDSN)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := store.Copy(ctx, dst, src, store.CopyOptions{Force: force})
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store copy: closing the destination: %w", cerr)
	}
	if to == "badger" && err == nil {
		// The server that opens it next would compact under its first
		// requests what the copy wrote at once.
		err = badger.SettleDir(ctx, toDir, badger.Options{Reserve: reserveBytes(cfg.Storage.ReserveMiB)})
	}
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("store copy: %s holds records already: copy into an empty one, or pass --force to replace the records of the same key (%w)", dstName, err)
	}
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "copied %d records (%d bytes) from %s to %s in %s (%.0f records/s): %s\n",
		res.Records, res.Bytes, srcName, dstName, took.Round(time.Millisecond), float64(res.Records)/max(took.Seconds(), 1e-9), res.Kinds())
	return nil
}

// openCopyEnd opens one end of a copy, and names it for the report
// (never with the DSN, which may hold a password).
func openCopyEnd(ctx context.Context, cfg *config.Config, flagName, backend, dir, dsn string) (store.KV, string, error) {
	switch backend {
	case "badger":
		if dir == "" {
			return nil, "", fmt.Errorf("store copy: %s badger needs %s-data-dir", flagName, flagName)
		}
		if flagName == "--from" {
			if held, err := badger.HoldsDatabase(dir); err != nil || !held {
				return nil, "", fmt.Errorf("store copy: %s holds no gatehouse database (%v)", dir, err)
			}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("store copy: %w", err)
		}
		kv, err := badger.Open(dir, badger.Options{Reserve: reserveBytes(cfg.Storage.ReserveMiB)})
		if err != nil && strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, "", fmt.Errorf("store copy: the data directory %s is in use by a running gatehouse: stop it first", dir)
		}
		if err != nil {
			return nil, "", err
		}
		return kv, "badger " + dir, nil
	case "postgres":
		if dsn == "" {
			return nil, "", fmt.Errorf("store copy: %s postgres needs %s-dsn", flagName, flagName)
		}
		opts := postgresOptions(cfg.Storage.Postgres)
		opts.CacheEntries = 0
		kv, err := postgres.Open(ctx, dsn, opts)
		if err != nil {
			return nil, "", err
		}
		return kv, "postgres", nil
	}
	return nil, "", fmt.Errorf("store copy: %s %q: the backends that keep data are badger and postgres", flagName, backend)
}
