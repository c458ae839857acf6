package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// FillRecords creates n records of size bytes under random keys, as grants and
// refresh tokens are stored, a tenth of them expiring in an hour: the
// data of the store benchmarks.
func FillRecords(tb testing.TB, kv store.KV, n, size int) {
	tb.Helper()
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), size)
	const batchSize = 256
	batch := make([]store.Write, 0, batchSize)
	for i := range n {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		var exp time.Time
		if i%10 == 0 {
			exp = time.Now().Add(time.Hour)
		}
		batch = append(batch, store.CreateWrite("grant/"+hex.EncodeToString(id), value, exp))
		if len(batch) == batchSize || i == n-1 {
			if err := kv.Apply(ctx, batch...); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}
