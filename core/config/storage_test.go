package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
)

// TestPostgresStorage: the postgres backend needs a DSN, which the
// environment may give (keeping the password out of the file); its pool
// and sweep settings are checked, every problem reported at once.
func TestPostgresStorage(t *testing.T) {
	load := func(t *testing.T, yaml string) (*config.Config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return config.Load(gatehouse.DefaultConfig, path)
	}

	_, err := load(t, "storage:\n  backend: postgres\n")
	if err == nil || !strings.Contains(err.Error(), "storage.postgres.dsn") {
		t.Fatalf("postgres without a dsn: %v, want storage.postgres.dsn refused", err)
	}

	const dsn = "postgres://gatehouse:s3cret@db.internal:5432/gatehouse"
	t.Setenv("GATEHOUSE_STORAGE__POSTGRES__DSN", dsn)
	cfg, err := load(t, "storage:\n  backend: postgres\n")
	if err != nil {
		t.Fatalf("postgres with the dsn in the environment: %v", err)
	}
	pg := cfg.Storage.Postgres
	if pg.DSN != dsn || pg.MaxConns != 10 || pg.SweepInterval != time.Minute || pg.SweepBatch != 500 || pg.CacheEntries != 4096 {
		t.Fatalf("postgres settings = %+v, want the environment's dsn and the embedded defaults", pg)
	}

	_, err = load(t, "storage:\n  backend: postgres\n  postgres:\n    max_conns: 0\n    min_conns: -1\n    sweep_interval: 10ms\n    sweep_batch: 0\n    cache_entries: -1\n")
	for _, key := range []string{"storage.postgres.max_conns", "storage.postgres.min_conns", "storage.postgres.sweep_interval", "storage.postgres.sweep_batch", "storage.postgres.cache_entries"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("bad pool settings: %v, want %s refused", err, key)
		}
	}

	_, err = load(t, "storage:\n  backend: mysql\n")
	if err == nil || !strings.Contains(err.Error(), "badger, postgres or memory") {
		t.Errorf("an unknown backend: %v, want it refused naming the three", err)
	}
}
