package postgres

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

// BenchmarkCopyFromBadger: gatehouse store copy of 20,000 records of 300
// bytes from Badger into a new PostgreSQL database (durable commits).
func BenchmarkCopyFromBadger(b *testing.B) {
	const n = 20_000
	src, err := badger.Open(b.TempDir(), badger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = src.Close() })
	storetest.FillRecords(b, src, n, 300)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dst, err := Open(ctx, pgtest.NewDatabase(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := store.Copy(ctx, dst, src, store.CopyOptions{})
		if err != nil || res.Records != n {
			b.Fatalf("copy: %+v, %v", res, err)
		}
		b.StopTimer()
		_ = dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
