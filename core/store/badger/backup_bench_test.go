package badger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// fill writes n records of about size bytes under random keys, as grants
// and refresh tokens are stored, a tenth of them expiring in an hour.
func fill(tb testing.TB, kv store.KV, n, size int) {
	tb.Helper()
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), size)
	var batch []store.Write
	for i := range n {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		exp := time.Time{}
		if i%10 == 0 {
			exp = time.Now().Add(time.Hour)
		}
		batch = append(batch, store.CreateWrite(fmt.Sprintf("grant/%s", hex.EncodeToString(id)), value, exp))
		if len(batch) == 64 || i == n-1 {
			if err := kv.Apply(ctx, batch...); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func openBench(b *testing.B) *KV {
	kv, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = kv.Close() })
	return kv
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkBackup: a backup of 100,000 records of 300 bytes, written to
// nowhere (bytes/op is the backup's size).
func BenchmarkBackup(b *testing.B) {
	kv := openBench(b)
	fill(b, kv, 100_000, 300)
	var size int64
	b.ResetTimer()
	for range b.N {
		w := &countingWriter{}
		info, err := kv.Backup(context.Background(), w)
		if err != nil || info.Records != 100_000 {
			b.Fatalf("backup: %+v, %v", info, err)
		}
		size = w.n
	}
	b.ReportMetric(float64(size), "backup-bytes")
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRestore: restoring that backup into a new directory (load,
// checks, verification of the whole directory).
func BenchmarkRestore(b *testing.B) {
	kv := openBench(b)
	fill(b, kv, 100_000, 300)
	var buf bytes.Buffer
	if _, err := kv.Backup(context.Background(), &buf); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		res, err := Restore(context.Background(), filepath.Join(b.TempDir(), fmt.Sprint(i)), bytes.NewReader(buf.Bytes()), RestoreOptions{})
		if err != nil || res.Restored != 100_000 {
			b.Fatalf("restore: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "records/s")
}
