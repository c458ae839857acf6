package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// checkTables opens every table of dir's MANIFEST as Badger would,
// verifying the checksum of each block, before Badger does: Badger opens
// tables in goroutines of its own, where a truncated table panics the
// process, and it leaves out (logging an error) a table whose checksum
// fails, serving the database without it. A table file the MANIFEST does
// not list is what a crash while writing a table leaves, and Badger
// deletes it at open: it is not checked. Without a readable MANIFEST every
// table file is checked, and Badger (or the marker) refuses what follows.
// The tables are checked in parallel: on a large store this is most of
// the start.
func checkTables(bo bdg.Options) error {
	dir := bo.Dir
	tables, err := manifestTables(bo)
	if err != nil {
		return err
	}
	workers := min(max(runtime.GOMAXPROCS(0), tableReaders), len(tables))
	errs := make([]error, len(tables))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var buf []byte
			for i := int(next.Add(1)) - 1; i < len(tables); i = int(next.Add(1)) - 1 {
				opts := table.Options{Compression: tables[i].compression, BlockSize: bo.BlockSize}
				buf, errs[i] = checkTable(tables[i].name, opts, buf)
			}
		})
	}
	wg.Wait()
	// The first damaged table by name, whichever was checked first.
	for i, err := range errs {
		if err != nil {
			return damaged(dir, "table %s is damaged: %v", filepath.Base(tables[i].name), err)
		}
	}
	return nil
}

// tableReaders is the least number of tables checkTables reads at once.
// From a cold page cache the check waits on the disk, which serves
// several reads in flight faster than one a CPU: on two CPUs, eight
// readers start a million grants in 0.61-0.67 s against 0.78-0.94 s, and
// from a warm cache in 0.33-0.38 s against 0.41-0.44 s. A reader holds
// one table (512 KiB) at a time.
const tableReaders = 8

type tableFile struct {
	name        string
	compression options.CompressionType
}

// manifestTables lists, sorted by name, the tables the MANIFEST holds, or
// every table file when there is no readable MANIFEST.
func manifestTables(bo bdg.Options) ([]tableFile, error) {
	dir := bo.Dir
	var tables []tableFile
	f, err := os.Open(filepath.Join(dir, bdg.ManifestFilename))
	if err == nil {
		defer f.Close()
		if m, _, rerr := bdg.ReplayManifestFile(f, bo.ExternalMagicVersion, bo); rerr == nil {
			for id, t := range m.Tables {
				tables = append(tables, tableFile{table.NewFilename(id, dir), t.Compression})
			}
			slices.SortFunc(tables, func(a, b tableFile) int { return strings.Compare(a.name, b.name) })
			return tables, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("badger: open %s: %w", dir, err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		tables = append(tables, tableFile{name, options.None})
	}
	return tables, nil
}

// checkTable reads the table at name whole into buf (grown as needed and
// returned for the next table), opens it from there and verifies every
// block's checksum: mapping the file instead cost a page fault for every
// few blocks, and unmapping it, three times the checksums' CPU. OpenTable
// unmaps Data when it fails to verify the table or to parse its name or
// to stat it (never with buf: its checks are left to VerifyChecksum, the
// name was parsed here and the file's Stat just answered).
func checkTable(name string, opts table.Options, buf []byte) (_ []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed (%v)", r)
		}
	}()
	if _, ok := table.ParseFileID(name); !ok {
		return buf, nil // not a table: Badger leaves it alone too
	}
	f, err := os.Open(name)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, err
	}
	if int64(cap(buf)) < fi.Size() {
		buf = make([]byte, fi.Size())
	}
	buf = buf[:fi.Size()]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, err
	}
	opts.ChkMode = options.NoVerification
	t, err := table.OpenTable(&z.MmapFile{Data: buf, Fd: f}, opts)
	if err != nil {
		return buf, err
	}
	return buf, t.VerifyChecksum()
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

// valueLogsEmpty tells whether every value-log file of dir holds no value,
// as while every record stays under the value threshold: it is its header
// alone, or (the file a server that did not stop cleanly was writing,
// which Badger maps, so sizes, at twice the file size) its header followed
// by zeros only. A file cut shorter than its header, or holding any other
// byte, is not empty.
func valueLogsEmpty(dir string) bool {
	names, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		return false
	}
	for _, name := range names {
		if !valueLogEmpty(name) {
			return false
		}
	}
	return true
}

func valueLogEmpty(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil || fi.Size() < vlogHeaderSize:
		return false
	case fi.Size() == vlogHeaderSize:
		return true
	}
	// Unwritten, the rest of the file is a hole: only the data around the
	// holes is read, or, where the filesystem does not tell holes, all
	// the rest (a copy of 128 MiB of zeros took a fifth of a second).
	off := int64(vlogHeaderSize)
	for off < fi.Size() {
		start, end, err := nextData(f, off)
		switch {
		case errors.Is(err, io.EOF):
			return true
		case err != nil, end <= start:
			start, end = off, fi.Size()
		case start >= fi.Size():
			return true // it grew since Stat: past what is checked
		}
		if !readsZeros(io.NewSectionReader(f, start, min(end, fi.Size())-start), min(end, fi.Size())-start) {
			return false
		}
		off = end
	}
	return true
}

// readsZeros tells whether r, of n bytes, reads as zeros to its end.
func readsZeros(r io.Reader, n int64) bool {
	buf := make([]byte, min(n, 1<<20))
	zeros := make([]byte, len(buf))
	for {
		n, err := io.ReadFull(r, buf)
		if !bytes.Equal(buf[:n], zeros[:n]) {
			return false
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return true
		case err != nil:
			return false
		}
	}
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
