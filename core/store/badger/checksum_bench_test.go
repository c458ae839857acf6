package badger

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

// benchRecords records of about 300 bytes: ~6 MiB of tables, the size of
// a busy installation's live codes, sessions and refresh tokens.
const benchRecords = 20_000

func benchDir(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	kv, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("v", 300))
	ctx := context.Background()
	for i := range benchRecords {
		if err := kv.Put(ctx, fmt.Sprintf("refresh/%08d", i), value, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := kv.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkOpenChecks: what verifying at start costs over Badger's own
// open, part by part, on benchRecords records.
func BenchmarkOpenChecks(b *testing.B) {
	dir := benchDir(b)
	b.Run("badger.Open", func(b *testing.B) {
		for b.Loop() {
			db, err := bdg.Open(badgerOptions(dir, Options{}))
			if err != nil {
				b.Fatal(err)
			}
			_ = db.Close()
		}
	})
	b.Run("checkTables", func(b *testing.B) {
		for b.Loop() {
			if err := checkTables(badgerOptions(dir, Options{})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkValues", func(b *testing.B) {
		db, err := bdg.Open(badgerOptions(dir, Options{}))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		// Every key, as when a value-log file holds values.
		for b.Loop() {
			if _, err := checkValues(dir, db, 32<<10, false, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			kv, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			_ = kv.Close()
		}
	})
}

// BenchmarkGetChecksum: a read with and without Badger verifying each
// table block it reads (ChecksumVerificationMode).
func BenchmarkGetChecksum(b *testing.B) {
	dir := benchDir(b)
	for _, mode := range []struct {
		name string
		mode options.ChecksumVerificationMode
	}{{"NoVerification", options.NoVerification}, {"OnBlockRead", options.OnBlockRead}} {
		b.Run(mode.name, func(b *testing.B) {
			db, err := bdg.Open(badgerOptions(dir, Options{}).WithChecksumVerificationMode(mode.mode))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			kv := &KV{db: db, dir: dir}
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := kv.Get(ctx, fmt.Sprintf("refresh/%08d", (i*7919)%benchRecords)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkCreate: one durable Create, what every registration, code and
// token write costs the store (the free-space check and the commit record
// included).
func BenchmarkCreate(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("SyncWrites=%v", sync), func(b *testing.B) {
			kv, err := Open(b.TempDir(), Options{SyncWrites: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer kv.Close()
			value := []byte(strings.Repeat("v", 300))
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if err := kv.Create(ctx, fmt.Sprintf("refresh/%08d", i), value, time.Time{}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkOpen: Open of a stopped server's directory (the checks
// included, Close not) by the number of records, each about 350 bytes
// under a random key, as grants and refresh tokens are: what start-up
// costs as the store grows. The directory is written once per size.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{20_000, 200_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			fillRandom(b, dir, n)
			b.ResetTimer()
			for range b.N {
				kv, err := Open(dir, Options{SyncWrites: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := kv.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			b.ReportMetric(float64(len(tables)), "tables")
		})
	}
}

// fillRandom writes n records of 350 bytes under random keys into dir and
// closes it.
func fillRandom(b *testing.B, dir string, n int) {
	b.Helper()
	kv, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	storetest.FillRecords(b, kv, n, 350)
	if err := kv.Close(); err != nil {
		b.Fatal(err)
	}
}
