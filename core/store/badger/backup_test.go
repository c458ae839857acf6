package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// TestBackupRestore: a backup taken while writers run holds every record
// written before it started, with its expiry, large values (kept in the
// value log) included; restored into a new directory it opens as the same
// installation at the backup's commit and takes writes.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	kv := open(t, t.TempDir(), Options{})
	large := bytes.Repeat([]byte("L"), 100<<10)
	expiry := time.Now().Add(time.Hour)
	for i := range 500 {
		value := []byte(fmt.Sprint("v", i))
		if i%100 == 0 {
			value = large
		}
		exp := time.Time{}
		if i%2 == 1 {
			exp = expiry
		}
		if err := kv.Put(ctx, fmt.Sprintf("before/%03d", i), value, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Put(ctx, "gone/1", []byte("x"), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(ctx, "deleted/1", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "deleted/1"); err != nil {
		t.Fatal(err)
	}
	// Writers keep going during the backup.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 100_000; i++ {
				if err := kv.Put(ctx, fmt.Sprintf("during/%d/%d", w, i), []byte("d"), time.Time{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var buf bytes.Buffer
	info, err := kv.Backup(ctx, &buf)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if id := markOf(kv).Installation; info.Bytes != int64(buf.Len()) || info.Records < 500 || info.Installation != id {
		t.Fatalf("backup info %+v (%d bytes written), installation %s", info, buf.Len(), id)
	}
	if got, err := CheckBackup(bytes.NewReader(buf.Bytes())); err != nil || got.SHA256 != info.SHA256 {
		t.Fatalf("CheckBackup = %+v, %v", got, err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	res, err := Restore(ctx, dir, bytes.NewReader(buf.Bytes()), RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Restored != info.Records || res.Aside != "" {
		t.Fatalf("restored %+v, backup %+v", res, info)
	}
	restored := open(t, dir, Options{})
	if mark := markOf(restored); mark.Installation != info.Installation || mark.Commit != info.Commit {
		t.Fatalf("restored marker %+v, backup %+v", mark, info)
	}
	for i := range 500 {
		key := fmt.Sprintf("before/%03d", i)
		got, err := restored.Get(ctx, key)
		want := []byte(fmt.Sprint("v", i))
		if i%100 == 0 {
			want = large
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("restored %s = %.20q, %v", key, got, err)
		}
	}
	page, err := restored.ScanPage(ctx, "before/", store.Page{Limit: 2})
	if err != nil || len(page) != 2 || !page[0].ExpiresAt.IsZero() || page[1].ExpiresAt.Unix() != expiry.Unix() {
		t.Fatalf("restored expiries: %+v, %v", page, err)
	}
	for _, key := range []string{"gone/1", "deleted/1"} {
		if _, err := restored.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("restored %s: %v, want not found", key, err)
		}
	}
	// The snapshot is consistent: the writes during it are a prefix of
	// each writer's sequence.
	for w := range 2 {
		n := 0
		if err := restored.Scan(ctx, fmt.Sprintf("during/%d/", w), func(string, []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if _, err := restored.Get(ctx, fmt.Sprintf("during/%d/%d", w, n-1)); err != nil {
				t.Errorf("writer %d: %d writes restored but not the %dth: %v", w, n, n-1, err)
			}
		}
	}
	if err := restored.Put(ctx, "after/1", []byte("x"), time.Time{}); err != nil {
		t.Fatalf("write to the restored database: %v", err)
	}
}

// TestRestoreRefuses: a backup cut short, damaged or empty, and a
// directory that holds a database (unless forced), are refused, and
// nothing is written into the directory.
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	src := open(t, t.TempDir(), Options{})
	for i := range 50 {
		if err := src.Put(ctx, fmt.Sprint("k/", i), bytes.Repeat([]byte("v"), 1000), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := src.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	for name, backup := range map[string][]byte{
		"empty":           nil,
		"cut short":       good[:len(good)/2],
		"without trailer": good[:len(good)-200],
		"flipped":         flipped,
		"not a backup":    []byte(strings.Repeat("not a backup\n", 100)),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			_, err := Restore(ctx, dir, bytes.NewReader(backup), RestoreOptions{})
			if !errors.Is(err, errBadBackup) {
				t.Fatalf("Restore = %v, want a refused backup", err)
			}
			if held, _ := holdsData(dir); held {
				t.Fatal("a refused restore left a database behind")
			}
			if _, err := CheckBackup(bytes.NewReader(backup)); !errors.Is(err, errBadBackup) {
				t.Fatalf("CheckBackup = %v, want refused", err)
			}
		})
	}

	// A directory holding a database: refused, then moved aside with Force.
	dir := t.TempDir()
	other, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Put(ctx, "other/1", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, dir, bytes.NewReader(good), RestoreOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Restore over a database in use = %v, want refused", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep-me"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, dir, bytes.NewReader(good), RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Restore over a database = %v, want refused naming --force", err)
	}
	res, err := Restore(ctx, dir, bytes.NewReader(good), RestoreOptions{Force: true})
	if err != nil || res.Aside == "" || res.Restored != 50 {
		t.Fatalf("forced Restore = %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep-me")); err != nil {
		t.Errorf("a file that is not the database's: %v", err)
	}
	kept := open(t, res.Aside, Options{})
	if _, err := kept.Get(ctx, "other/1"); err != nil {
		t.Errorf("the database moved aside: %v", err)
	}
	restored := open(t, dir, Options{})
	if _, err := restored.Get(ctx, "other/1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the restored directory holds the old database's record: %v", err)
	}
	if _, err := restored.Get(ctx, "k/7"); err != nil {
		t.Errorf("the restored directory: %v", err)
	}
}

// TestBackupIsOneSnapshot: a backup taken under writes holds each write
// whole or not at all, even across the key ranges Badger streams apart.
// Each write here puts a key at each end of the key space in one
// transaction; a backup that read its ranges at different moments held
// one without the other.
func TestBackupIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	kv := open(t, t.TempDir(), Options{})
	// Enough for several tables, so that the stream has ranges to split.
	filler := bytes.Repeat([]byte("f"), 2000)
	for i := range 40 {
		writes := make([]store.Write, 0, 100)
		for j := range 100 {
			writes = append(writes, store.CreateWrite(fmt.Sprintf("m/%02d/%03d", i, j), filler, time.Time{}))
		}
		if err := kv.Apply(ctx, writes...); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					n := fmt.Sprintf("%d/%d/%d", round, w, i)
					if err := kv.Apply(ctx, store.CreateWrite("a/"+n, []byte("x"), time.Time{}), store.CreateWrite("z/"+n, []byte("x"), time.Time{})); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		var buf bytes.Buffer
		_, err := kv.Backup(ctx, &buf)
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "restored")
		if _, err := Restore(ctx, dir, bytes.NewReader(buf.Bytes()), RestoreOptions{}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		restored := open(t, dir, Options{})
		seen := map[string]int{}
		for _, prefix := range []string{"a/", "z/"} {
			if err := restored.Scan(ctx, prefix, func(key string, _ []byte) error {
				seen[strings.TrimPrefix(key, prefix)]++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for n, count := range seen {
			if count != 2 {
				t.Fatalf("round %d: the backup holds half of write %s (%d of the 2 keys it wrote together)", round, n, count)
			}
		}
		t.Logf("round %d: %d writes, each whole", round, len(seen))
	}
}
