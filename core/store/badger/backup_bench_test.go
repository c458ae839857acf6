package badger

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

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
	storetest.FillRecords(b, kv, 100_000, 300)
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
	storetest.FillRecords(b, kv, 100_000, 300)
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
