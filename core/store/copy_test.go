package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// TestCopy: every live record is copied with its value and expiry, in
// pages and batches (large values included), expired ones are not; a
// destination holding records is refused unless forced, which replaces
// the records of the same key and keeps the others.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	src, dst := memory.New(), memory.New()
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)
	large := make([]byte, 100<<10)
	for i := range 2500 {
		exp := time.Time{}
		if i%3 == 0 {
			exp = expiry
		}
		value := []byte(fmt.Sprint("v", i))
		if i%1000 == 7 {
			value = large
		}
		if err := src.Put(ctx, fmt.Sprintf("kind%d/%05d", i%2, i), value, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Put(ctx, "kind0/expired", []byte("x"), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	var progress []int
	res, err := store.Copy(ctx, dst, src, store.CopyOptions{Progress: func(n int) { progress = append(progress, n) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 2500 || res.Kinds() != "kind0 1250, kind1 1250" || len(progress) != 3 {
		t.Fatalf("copied %+v (%s), progress %v", res, res.Kinds(), progress)
	}
	page, err := dst.ScanPage(ctx, "", store.Page{Limit: store.MaxPageLimit})
	if err != nil || len(page) != 2500 {
		t.Fatalf("destination: %d records, %v", len(page), err)
	}
	for _, e := range page {
		var i int
		fmt.Sscanf(e.Key[len("kind0/"):], "%d", &i)
		want := fmt.Sprint("v", i)
		if i%1000 == 7 {
			want = string(large)
		}
		if string(e.Value) != want || (i%3 == 0) != !e.ExpiresAt.IsZero() || (i%3 == 0 && !e.ExpiresAt.Equal(expiry)) {
			t.Fatalf("copied %q = %.10q expiring %v", e.Key, e.Value, e.ExpiresAt)
		}
	}

	if _, err := store.Copy(ctx, dst, src, store.CopyOptions{}); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("copy into a destination holding records = %v, want ErrNotEmpty", err)
	}
	if err := dst.Put(ctx, "kind0/00000", []byte("changed"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Put(ctx, "other/1", []byte("kept"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if res, err := store.Copy(ctx, dst, src, store.CopyOptions{Force: true}); err != nil || res.Records != 2500 {
		t.Fatalf("forced copy = %+v, %v", res, err)
	}
	for key, want := range map[string]string{"kind0/00000": "v0", "other/1": "kept"} {
		if got, err := dst.Get(ctx, key); err != nil || string(got) != want {
			t.Errorf("after a forced copy %s = %q, %v; want %q", key, got, err, want)
		}
	}
}
