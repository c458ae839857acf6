package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

// TestFullDiskRefusesWrites fills the filesystem under a database (a small
// tmpfs) to less than the reserve: writes are refused with store.ErrFull
// instead of Badger's mapped files faulting, reads go on, and once the
// ballast is gone writes succeed again in the same process.
func TestFullDiskRefusesWrites(t *testing.T) {
	fs := storetest.Tmpfs(t, 48<<20)
	ctx := context.Background()
	kv := open(t, fs, Options{SyncWrites: true})
	for i := range 50 {
		if err := kv.Create(ctx, fmt.Sprintf("k/%02d", i), []byte("value"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.CheckWrite(); err != nil {
		t.Fatalf("CheckWrite with room: %v", err)
	}
	ballast := storetest.Fill(t, fs, DefaultReserve()/2)

	// Free space is measured again within headroomInterval: poll, bounded.
	var err error
	for i := 0; i < 100; i++ {
		if err = kv.Put(ctx, "k/full", []byte("value"), time.Time{}); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(err, store.ErrFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put on a full disk = %v, want store.ErrFull", err)
	}
	for name, write := range map[string]func() error{
		"Create": func() error { return kv.Create(ctx, "k/new", []byte("v"), time.Time{}) },
		"Update": func() error {
			return kv.Update(ctx, "k/01", func([]byte) ([]byte, error) { return []byte("changed"), nil })
		},
		"Delete": func() error { return kv.Delete(ctx, "k/02") },
	} {
		if err := write(); !errors.Is(err, store.ErrFull) {
			t.Errorf("%s on a full disk = %v, want store.ErrFull", name, err)
		}
	}
	if err := kv.CheckWrite(); !errors.Is(err, store.ErrFull) {
		t.Errorf("CheckWrite on a full disk = %v", err)
	}
	if got, err := kv.Get(ctx, "k/01"); err != nil || string(got) != "value" {
		t.Errorf("Get on a full disk = %q, %v; want the unchanged value", got, err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err = kv.Create(ctx, "k/new", []byte("v"), time.Time{}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Create once space is freed: %v", err)
	}
	if err := kv.CheckWrite(); err != nil {
		t.Errorf("CheckWrite once space is freed: %v", err)
	}
}
