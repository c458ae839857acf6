package badger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/storetest"
)

const goldenRecords = 200

// goldenDir writes goldenRecords clients, every tenth large enough for the
// value log, into a new data directory and returns it as a stopped server
// leaves it: closed, or (crashed) copied while open, after a checkpoint,
// as a server killed a while after those writes leaves it.
func goldenDir(t *testing.T, crashed bool) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	kv, err := Open(dir, Options{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv)
	for i := range goldenRecords {
		c := store.Client{ID: fmt.Sprintf("c%03d", i), ClientMetadata: store.ClientMetadata{ClientName: "golden"}}
		if i%10 == 0 {
			c.ClientName = strings.Repeat("x", 40<<10)
		}
		if err := st.Clients.Create(ctx, c.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if !crashed {
		if err := kv.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if err := kv.checkpoint(); err != nil {
		t.Fatal(err)
	}
	copied := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "LOCK" && !e.IsDir() {
			copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(copied, e.Name()))
		}
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	return copied
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// damages are the ones a reliability run made to stopped servers' data
// directories, each served before as if nothing had happened (or as a new
// installation, or a panic).
var damages = []struct {
	name    string
	crashed bool // the directory of a killed server: its memtable log holds data
	damage  func(t *testing.T, dir string)
}{
	{"MANIFEST truncated", false, func(t *testing.T, dir string) { storetest.TruncateHalf(t, filepath.Join(dir, "MANIFEST")) }},
	{"MANIFEST flipped", false, func(t *testing.T, dir string) { storetest.FlipMiddle(t, filepath.Join(dir, "MANIFEST")) }},
	{"mem truncated", true, func(t *testing.T, dir string) { storetest.TruncateHalf(t, storetest.NewestFile(t, dir, ".mem")) }},
	{"mem flipped", true, func(t *testing.T, dir string) { storetest.FlipMiddle(t, storetest.NewestFile(t, dir, ".mem")) }},
	{"vlog truncated", false, func(t *testing.T, dir string) { storetest.TruncateHalf(t, storetest.NewestFile(t, dir, ".vlog")) }},
	{"vlog flipped", false, func(t *testing.T, dir string) { storetest.FlipMiddle(t, storetest.NewestFile(t, dir, ".vlog")) }},
	{"sst truncated", false, func(t *testing.T, dir string) { storetest.TruncateHalf(t, storetest.NewestFile(t, dir, ".sst")) }},
	{"sst flipped", false, func(t *testing.T, dir string) { storetest.FlipMiddle(t, storetest.NewestFile(t, dir, ".sst")) }},
}

// TestDamagedDataRefused: each damage makes Open and Verify refuse the
// directory with store.ErrDamaged naming it, instead of serving what is
// left (or starting a new installation, or panicking).
func TestDamagedDataRefused(t *testing.T) {
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := goldenDir(t, tc.crashed)
			tc.damage(t, dir)
			kv, err := Open(dir, Options{SyncWrites: true})
			if err == nil {
				n := 0
				_ = kv.Scan(context.Background(), "client/", func(string, []byte) error { n++; return nil })
				_ = kv.Close()
				t.Fatalf("Open of a damaged directory succeeded (%d of %d records there)", n, goldenRecords)
			}
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open = %v, want store.ErrDamaged naming %s", err, dir)
			}
			t.Logf("Open: %v", err)
			if _, err := Verify(context.Background(), dir, Options{}); !errors.Is(err, store.ErrDamaged) {
				t.Fatalf("Verify = %v, want store.ErrDamaged", err)
			}
		})
	}
}

// TestHealthyDataOpens: the golden directories themselves, closed or
// crashed, open with every record, and Verify passes them.
func TestHealthyDataOpens(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		t.Run(fmt.Sprintf("crashed=%v", crashed), func(t *testing.T) {
			dir := goldenDir(t, crashed)
			r, err := Verify(context.Background(), dir, Options{})
			if err != nil || r.Records != goldenRecords {
				t.Fatalf("Verify = %+v, %v; want %d records", r, err, goldenRecords)
			}
			kv := open(t, dir, Options{})
			n := 0
			if err := kv.Scan(context.Background(), "client/", func(string, []byte) error { n++; return nil }); err != nil || n != goldenRecords {
				t.Fatalf("Scan after reopen: %d records, %v", n, err)
			}
			if err := kv.Put(context.Background(), "k", []byte("v"), time.Time{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUnlistedTableOpens: a table file the MANIFEST does not list, empty
// or half written, is what a crash while Badger writes a table (a flush,
// a compaction) leaves; Badger deletes it at open, so Open does not take
// it for damage.
func TestUnlistedTableOpens(t *testing.T) {
	dir := goldenDir(t, false)
	table, err := os.ReadFile(storetest.NewestFile(t, dir, ".sst"))
	if err != nil {
		t.Fatal(err)
	}
	unlisted := map[string][]byte{"999998.sst": nil, "999999.sst": table[:len(table)/2]}
	for name, raw := range unlisted {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kv := open(t, dir, Options{})
	n := 0
	if err := kv.Scan(context.Background(), "client/", func(string, []byte) error { n++; return nil }); err != nil || n != goldenRecords {
		t.Fatalf("Scan: %d records, %v; want %d", n, err, goldenRecords)
	}
	for name := range unlisted {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Open: %v, want it deleted", name, err)
		}
	}
}

// TestDirectoryFromBeforeMarkers: a data directory written before markers
// existed (Badger files, records, no marker) is adopted with its data; the
// same directory with its MANIFEST truncated is refused, not taken for a
// new installation.
func TestDirectoryFromBeforeMarkers(t *testing.T) {
	ctx := context.Background()
	legacy := func(t *testing.T) string {
		dir := t.TempDir()
		db, err := bdg.Open(badgerOptions(dir, Options{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(txn *bdg.Txn) error { return txn.Set([]byte("client/old"), []byte(`{}`)) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("adopted", func(t *testing.T) {
		dir := legacy(t)
		kv := open(t, dir, Options{})
		if _, err := kv.Get(ctx, "client/old"); err != nil {
			t.Fatalf("record of the old directory: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
			t.Fatalf("no marker written: %v", err)
		}
	})
	t.Run("MANIFEST truncated", func(t *testing.T) {
		dir := legacy(t)
		if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 0); err != nil {
			t.Fatal(err)
		}
		if kv, err := Open(dir, Options{}); !errors.Is(err, store.ErrDamaged) {
			if err == nil {
				_ = kv.Close()
			}
			t.Fatalf("Open = %v, want store.ErrDamaged", err)
		}
	})
}

// TestValueLogsEmpty: a store of small records keeps no value in the
// value log, so Open need not read every key to check it; a large value,
// or a value-log file cut short, makes Open check every key again.
func TestValueLogsEmpty(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// checked is how many keys the last Open went through.
	checked := -1
	reopen := func(write func(kv *KV)) {
		t.Helper()
		kv, err := Open(dir, Options{SyncWrites: true})
		if err != nil {
			t.Fatal(err)
		}
		checked = kv.valuesChecked
		write(kv)
		if err := kv.Close(); err != nil {
			t.Fatal(err)
		}
	}
	reopen(func(kv *KV) {
		for i := range 100 {
			if err := kv.Put(ctx, fmt.Sprintf("small/%d", i), []byte("value"), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !valueLogsEmpty(dir) {
		t.Fatal("small records only: valueLogsEmpty = false, want true")
	}
	// Badger adds a value-log file of its own, mapped large, as it opens:
	// Open decides from the files as they were before.
	reopen(func(*KV) {})
	if checked != 0 {
		t.Fatalf("Open of small records only went through %d keys to check the value log, want none", checked)
	}
	// A server that did not stop cleanly leaves its value-log file at the
	// size Badger mapped it, its header followed by zeros.
	crashed := t.TempDir()
	reopen(func(kv *KV) {
		if err := kv.checkpoint(); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "LOCK" && !e.IsDir() {
				copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(crashed, e.Name()))
			}
		}
	})
	if fi, err := os.Stat(storetest.NewestFile(t, crashed, ".vlog")); err != nil || fi.Size() <= vlogHeaderSize {
		t.Fatalf("the value-log file of a running server: %v, %v; want it larger than its header", fi, err)
	}
	kv, err := Open(crashed, Options{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	if kv.valuesChecked != 0 {
		t.Fatalf("Open after a crash, small records only: went through %d keys to check the value log, want none", kv.valuesChecked)
	}

	cut := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(cut, e.Name()))
	}
	storetest.TruncateHalf(t, storetest.NewestFile(t, cut, ".vlog"))
	if valueLogsEmpty(cut) {
		t.Fatal("a value-log file cut short: valueLogsEmpty = true, want false")
	}

	reopen(func(kv *KV) {
		if err := kv.Put(ctx, "large", []byte(strings.Repeat("x", 40<<10)), time.Time{}); err != nil {
			t.Fatal(err)
		}
	})
	if valueLogsEmpty(dir) {
		t.Fatal("a value over the threshold: valueLogsEmpty = true, want false")
	}
	reopen(func(*KV) {})
	if checked < 101 {
		t.Fatalf("Open with a value in the value log went through %d keys, want every one (101 and more)", checked)
	}
}

// TestExpiredStoreReopens: a store whose records have all expired opens
// as the same installation, and Open reads its installation id without
// looking for records (which meant iterating past every expired one).
func TestExpiredStoreReopens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kv, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := kv.Put(ctx, fmt.Sprintf("grant/%d", i), []byte("value"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	before := markOf(kv).Installation
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	// Badger keeps expiry in whole seconds.
	time.Sleep(2100 * time.Millisecond)

	kv, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of an expired store: %v", err)
	}
	id, hasData, err := installation(kv.db)
	if err != nil || id != before || hasData {
		t.Errorf("installation = %q, %v, %v; want %q, not looked for, nil", id, hasData, err, before)
	}
	if id := markOf(kv).Installation; id != before {
		t.Errorf("reopened as installation %s, want %s", id, before)
	}
	if _, err := kv.Get(ctx, "grant/1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of an expired record = %v, want ErrNotFound", err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestZeroedValueLog: a value-log file whose values were replaced by zeros
// reads as the file a server that did not stop cleanly leaves, so Open
// does not go through the keys to check it (TestValueLogsEmpty); a read of
// a record whose value it held still answers store.ErrDamaged, and Verify,
// which reads every value, refuses the directory.
func TestZeroedValueLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kv := open(t, dir, Options{SyncWrites: true})
	if err := kv.Put(ctx, "big", []byte(strings.Repeat("x", 100<<10)), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	name := storetest.NewestFile(t, dir, ".vlog")
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) <= vlogHeaderSize {
		t.Fatalf("the value log is %d bytes: the value is not in it", len(raw))
	}
	clear(raw[vlogHeaderSize:])
	if err := os.WriteFile(name, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if kv, err := Open(dir, Options{SyncWrites: true}); err == nil {
		_, err := kv.Get(ctx, "big")
		if cerr := kv.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if !errors.Is(err, store.ErrDamaged) {
			t.Fatalf("Get of a value the zeros replaced = %v, want store.ErrDamaged", err)
		}
	} else if !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("Open = %v, want success or store.ErrDamaged", err)
	}
	if _, err := Verify(ctx, dir, Options{}); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Verify = %v, want store.ErrDamaged naming %s", err, dir)
	}
}
