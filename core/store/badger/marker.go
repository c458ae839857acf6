package badger

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/gatehouse-auth/gatehouse/core/store"
)

// Every data directory carries a marker file beside Badger's, naming its
// installation and the commit it was at when last stopped (or last
// checkpointed while running). Badger recovers what it can from damaged
// files and opens what is left as if nothing happened: a truncated
// MANIFEST opens as an empty database, a damaged memtable log as its
// prefix. The marker is the outside evidence that tells those apart from
// a healthy directory.
const markerFile = "GATEHOUSE"

// Keys Gatehouse keeps in the database for itself, hidden from Scan.
const (
	metaPrefix = store.MetaPrefix + "/"
	// installKey holds the installation id, as in the marker.
	installKey = metaPrefix + "installation"
	// commitKey is written by every write transaction; its Badger version
	// is the commit timestamp of the last one, which only grows, so that a
	// database missing its last commits shows an older version.
	commitKey = metaPrefix + "commit"
)

// marker is the marker file's content.
type marker struct {
	Installation string    `json:"installation"`
	Created      time.Time `json:"created"`
	// Commit is the commit version the database had when the marker was
	// written; Stopped says the server stopped cleanly there, so the
	// database must be at exactly that commit, not merely at or past it.
	Commit  uint64 `json:"commit"`
	Stopped bool   `json:"stopped"`
}

// restoreHint is what every refusal tells the operator to do.
func restoreHint(dir string) string {
	return "the server will not start on it, so as not to serve lost or damaged data as if nothing happened. " +
		"Restore a copy: a backup made by `gatehouse backup`, with `gatehouse restore --data-dir " + dir + " -i BACKUP --force` " +
		"(which moves this directory's files aside), or a copy of the data directory taken while the server was stopped " +
		"(check it first with `gatehouse store verify --data DIR`); " +
		"or move this directory aside to start a new, empty installation (every client and key in it is then gone)"
}

// damaged is store.ErrDamaged naming the directory, what is wrong and
// what to do.
func damaged(dir, format string, args ...any) error {
	return fmt.Errorf("%w: data directory %s: %s; %s", store.ErrDamaged, dir, fmt.Sprintf(format, args...), restoreHint(dir))
}

func readMarker(dir string) (*marker, error) {
	raw, err := os.ReadFile(filepath.Join(dir, markerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("badger: read %s: %w", filepath.Join(dir, markerFile), err)
	}
	var m marker
	if err := json.Unmarshal(raw, &m); err != nil || m.Installation == "" {
		return nil, damaged(dir, "its marker file %s is unreadable (%v)", markerFile, err)
	}
	return &m, nil
}

// writeMarker replaces the marker file atomically and durably.
func writeMarker(dir string, m marker) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, markerFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("badger: write marker: %w", err)
	}
	_, err = f.Write(append(raw, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, markerFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("badger: write marker: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// HoldsDatabase tells whether dir has Badger files, before Open creates
// them: a directory that has them held data once.
func HoldsDatabase(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		name := e.Name()
		if name == "MANIFEST" || strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".vlog") || strings.HasSuffix(name, ".mem") {
			return true, nil
		}
	}
	return false, nil
}

// commitVersion is the version of commitKey: the last write transaction's.
func commitVersion(db *bdg.DB) (uint64, error) {
	var v uint64
	err := db.View(func(txn *bdg.Txn) error {
		item, err := txn.Get([]byte(commitKey))
		if errors.Is(err, bdg.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v = item.Version()
		return nil
	})
	return v, err
}

// installation returns the installation id stored in the database, and,
// when it holds none, whether it holds any record at all. Only a database
// without an id needs that answer, and finding it means iterating past
// every expired record (an iterator skips them one by one): on a store
// whose records had all expired, most of its start-up.
func installation(db *bdg.DB) (id string, hasData bool, err error) {
	err = db.View(func(txn *bdg.Txn) error {
		item, err := txn.Get([]byte(installKey))
		if err == nil {
			raw, err := item.ValueCopy(nil)
			id = string(raw)
			return err
		}
		if !errors.Is(err, bdg.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(bdg.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if !strings.HasPrefix(string(it.Item().Key()), metaPrefix) {
				hasData = true
				break
			}
		}
		return nil
	})
	return id, hasData, err
}

// checkInstallation compares the opened database with the marker (nil
// when there is none) and returns the marker to write now, or a refusal.
func checkInstallation(dir string, db *bdg.DB, m *marker, held bool, log interface{ Warn(string, ...any) }) (marker, error) {
	id, hasData, err := installation(db)
	if err != nil {
		return marker{}, damaged(dir, "reading it failed: %v", err)
	}
	commit, err := commitVersion(db)
	if err != nil {
		return marker{}, damaged(dir, "reading it failed: %v", err)
	}
	switch {
	case m != nil && id == "":
		return marker{}, damaged(dir, "its marker names installation %s at commit %d, but the database holds %s: its files (MANIFEST, tables) were lost or damaged",
			m.Installation, m.Commit, map[bool]string{true: "records of no installation", false: "nothing"}[hasData])
	case m != nil && id != m.Installation:
		return marker{}, damaged(dir, "its marker names installation %s but the database is installation %s: files of two installations were mixed", m.Installation, id)
	case m != nil && m.Stopped && commit != m.Commit:
		return marker{}, damaged(dir, "it was stopped cleanly at commit %d but the database is at commit %d: acknowledged writes are missing (a damaged memtable log or value log)", m.Commit, commit)
	case m != nil && commit < m.Commit:
		return marker{}, damaged(dir, "it had reached commit %d but the database is at commit %d: acknowledged writes are missing (a damaged memtable log)", m.Commit, commit)
	case m != nil:
		return marker{Installation: id, Created: m.Created, Commit: commit}, nil
	case id == "" && !hasData && held:
		return marker{}, damaged(dir, "it held a database (Badger files are there) but opens empty, and its marker file %s is missing: its MANIFEST or tables were lost or damaged", markerFile)
	}
	// A new directory, or one from before markers: give it an installation.
	if id == "" {
		id = newInstallationID()
		err := db.Update(func(txn *bdg.Txn) error {
			if err := txn.Set([]byte(installKey), []byte(id)); err != nil {
				return err
			}
			return txn.Set([]byte(commitKey), nil)
		})
		if err != nil {
			return marker{}, fmt.Errorf("badger: record the installation in %s: %w", dir, err)
		}
		if commit, err = commitVersion(db); err != nil {
			return marker{}, err
		}
	} else {
		log.Warn("storage: the marker file was missing; writing a new one", "dir", dir, "installation", id)
	}
	return marker{Installation: id, Created: time.Now().UTC(), Commit: commit}, nil
}

func newInstallationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
