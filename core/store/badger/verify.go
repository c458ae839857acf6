package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// checkTables opens every table of dir as Badger would, verifying the
// checksum of each block, before Badger does: Badger opens tables in
// goroutines of its own, where a truncated table panics the process, and
// it leaves out (logging an error) a table whose checksum fails, serving
// the database without it.
func checkTables(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkTable(name); err != nil {
			return damaged(dir, "table %s is damaged: %v", filepath.Base(name), err)
		}
	}
	return nil
}

func checkTable(name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed (%v)", r)
		}
	}()
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return err
	}
	defer mf.Close(-1) // never DecrRef: a table's last reference deletes its file
	_, err = table.OpenTable(mf, table.Options{ChkMode: options.OnTableRead, Compression: options.None})
	return err
}

// checkValues reads every value that Badger keeps in the value log rather
// than in its tables (every value when all is set), checking its checksum:
// a damaged value log otherwise surfaces only when a record is used. It
// returns how many keys it went through. Unless all is set, it reads nothing when logs
// is false: the value-log files held no value before Badger opened them
// (valueLogsEmpty), and finding that out key by key was most of a large
// store's start.
func checkValues(dir string, db *bdg.DB, threshold int64, all, logs bool) (keys int, err error) {
	if !all && !logs {
		return 0, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = damaged(dir, "its value log is malformed (%v)", r)
		}
	}()
	err = db.View(func(txn *bdg.Txn) error {
		it := txn.NewIterator(bdg.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys++
			item := it.Item()
			if !all && item.ValueSize() < threshold/2 {
				continue
			}
			if v, err := item.ValueCopy(nil); err != nil || (len(v) == 0 && item.ValueSize() > 0) {
				return damaged(dir, "the value of %q cannot be read from the value log (%v; the log above says why)",
					strings.ToValidUTF8(string(item.Key()), "?"), err)
			}
		}
		return nil
	})
	return keys, err
}

// vlogHeaderSize is the size of a value-log file's header (Badger's
// vlogHeaderSize): a file of exactly this size holds no value.
const vlogHeaderSize = 20

// valueLogsEmpty tells whether every value-log file of dir is its header
// alone, as it is while every record stays under the value threshold. A
// file of another size, shorter included (a truncated one), is not.
func valueLogsEmpty(dir string) bool {
	names, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		return false
	}
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil || fi.Size() != vlogHeaderSize {
			return false
		}
	}
	return true
}

// Verify checks the data directory of a stopped server offline: every
// table's checksums, the marker against the database (no lost commits),
// and every value, read with its checksum checked. It returns nil for a
// healthy directory, a store.ErrDamaged naming what is wrong otherwise.
func Verify(ctx context.Context, dir string, opts Options) (Report, error) {
	opts.verifyAll = true
	opts.Reserve = -1
	kv, err := Open(dir, opts)
	if err != nil {
		return Report{}, err
	}
	kv.markMu.Lock()
	r := Report{Installation: kv.mark.Installation, Commit: kv.mark.Commit}
	kv.markMu.Unlock()
	err = kv.Scan(ctx, "", func(string, []byte) error { r.Records++; return nil })
	if cerr := kv.Close(); err == nil {
		err = cerr
	}
	return r, err
}

// Report is what Verify found in a healthy directory.
type Report struct {
	Installation string
	Commit       uint64
	Records      int
}
