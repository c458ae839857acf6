package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
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
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), 300)
	var batch []store.Write
	for i := range n {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		exp := time.Time{}
		if i%10 == 0 {
			exp = time.Now().Add(time.Hour)
		}
		batch = append(batch, store.CreateWrite("grant/"+hex.EncodeToString(id), value, exp))
		if len(batch) == 64 || i == n-1 {
			if err := src.Apply(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
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
