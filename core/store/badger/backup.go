package badger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"
)

// A backup is Badger's own backup format (what DB.Backup writes and
// DB.Load reads: length-prefixed protobuf lists of entries, each with its
// version and expiry) of one snapshot, the installation's records
// included, followed by one more list holding only trailerKey: a summary
// with the SHA-256 of everything before it. Restore refuses a backup
// without it (cut short) or whose digest differs (damaged).
const trailerKey = metaPrefix + "backup"

// BackupInfo describes a backup: what its trailer records.
type BackupInfo struct {
	Installation string    `json:"installation"`
	Commit       uint64    `json:"commit"`
	Taken        time.Time `json:"taken"`
	// Records counts the live records (not Gatehouse's own keys).
	Records int `json:"records"`
	// SHA256 is the digest of the backup up to the trailer.
	SHA256 string `json:"sha256"`
	// Bytes is the backup's size, trailer included (not recorded in it).
	Bytes int64 `json:"-"`
}

// maxList bounds one list of a backup being read: Badger writes lists of
// a few MiB.
const maxList = 256 << 20

// Backup writes a consistent snapshot of the database to w, in Badger's
// backup format with a trailer (see trailerKey), while the database
// serves reads and writes. It stops when ctx ends.
func (kv *KV) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	return backup(ctx, kv.db, w)
}

// WriteBackup is Backup for store.Backuper, logging what it wrote.
func (kv *KV) WriteBackup(ctx context.Context, w io.Writer) error {
	start := time.Now()
	info, err := kv.Backup(ctx, w)
	if err != nil {
		kv.log.Warn("storage: backup failed", "dir", kv.dir, "error", err)
		return err
	}
	kv.log.Info("storage: backup written", "dir", kv.dir, "installation", info.Installation, "commit", info.Commit,
		"records", info.Records, "bytes", info.Bytes, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func backup(ctx context.Context, db *bdg.DB, w io.Writer) (BackupInfo, error) {
	id, _, err := installation(db)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("badger: backup: %w", err)
	}
	info := BackupInfo{Installation: id, Taken: time.Now().UTC()}
	out := &backupWriter{ctx: ctx, w: w, sum: sha256.New(), info: &info}
	stream := db.NewStream()
	stream.LogPrefix = "gatehouse backup"
	// One goroutine: each of Stream's goroutines reads in a transaction of
	// its own, so with two the backup mixed two snapshots under writes
	// (the commit it recorded was not the one its records were at). One
	// also keeps the backup off the server's second core.
	stream.NumGo = 1
	commit, err := stream.Backup(out, 0)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("badger: backup: %w", unavailable(err))
	}
	info.Commit = commit
	info.SHA256 = hex.EncodeToString(out.sum.Sum(nil))
	raw, err := json.Marshal(info)
	if err != nil {
		return BackupInfo{}, err
	}
	list := &pb.KVList{Kv: []*pb.KV{{Key: []byte(trailerKey), Value: raw, Version: commit}}}
	if err := writeList(out, list); err != nil {
		return BackupInfo{}, fmt.Errorf("badger: backup: %w", err)
	}
	info.Bytes = out.n
	return info, nil
}

// backupWriter counts and digests what it writes, counts the records of
// the lists going through it, and fails once ctx has ended.
type backupWriter struct {
	ctx  context.Context
	w    io.Writer
	sum  hash.Hash
	n    int64
	info *BackupInfo
	// frame holds a list's size prefix and body until it is whole, to
	// count its records; last is the key of the last entry counted.
	frame []byte
	last  []byte
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	b.sum.Write(p[:n])
	b.count(p[:n])
	return n, err
}

// count parses the lists written so far (Badger writes a size, then the
// list) and adds their live records to info.Records.
func (b *backupWriter) count(p []byte) {
	b.frame = append(b.frame, p...)
	for len(b.frame) >= 8 {
		size := binary.LittleEndian.Uint64(b.frame)
		if uint64(len(b.frame)-8) < size {
			return
		}
		var list pb.KVList
		if proto.Unmarshal(b.frame[8:8+size], &list) == nil {
			b.info.Records += b.liveRecords(&list, time.Now())
		}
		b.frame = b.frame[8+size:]
	}
}

// liveRecords counts the list's keys that are records: whose newest
// version (the first of a key's entries) is not a deletion nor expired,
// not Gatehouse's own keys.
func (b *backupWriter) liveRecords(list *pb.KVList, now time.Time) int {
	n := 0
	for _, e := range list.Kv {
		if bytes.Equal(e.Key, b.last) {
			continue // an older version
		}
		b.last = append(b.last[:0], e.Key...)
		const bitDelete = 1 // Badger's mark of a deleted entry
		deleted := len(e.Meta) > 0 && e.Meta[0]&bitDelete != 0
		expired := e.ExpiresAt != 0 && e.ExpiresAt <= uint64(now.Unix())
		if !deleted && !expired && !strings.HasPrefix(string(e.Key), metaPrefix) {
			n++
		}
	}
	return n
}

func writeList(w io.Writer, list *pb.KVList) error {
	raw, err := proto.Marshal(list)
	if err != nil {
		return err
	}
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(raw)))
	if _, err := w.Write(size[:]); err != nil {
		return err
	}
	_, err = w.Write(raw)
	return err
}

// errBadBackup: the backup is cut short, damaged or not a backup.
var errBadBackup = errors.New("badger: not a complete gatehouse backup")

// backupReader reads a backup list by list, checking its trailer.
type backupReader struct {
	r    *bufio.Reader
	sum  hash.Hash
	next *pb.KVList // read ahead: the last list is the trailer
	raw  []byte     // next's bytes, size prefix included
	n    int64
}

func newBackupReader(r io.Reader) *backupReader {
	return &backupReader{r: bufio.NewReaderSize(r, 64<<10), sum: sha256.New()}
}

// read returns the next list of the backup, and io.EOF after the last
// one before the trailer, with the trailer checked; any other error says
// what is wrong with the backup.
func (b *backupReader) read() (*pb.KVList, BackupInfo, error) {
	list, raw, err := b.readList()
	switch {
	case errors.Is(err, io.EOF) && b.next == nil:
		return nil, BackupInfo{}, fmt.Errorf("%w: it is empty", errBadBackup)
	case errors.Is(err, io.EOF):
		info, terr := b.trailer()
		if terr == nil {
			terr = io.EOF
		}
		return nil, info, terr
	case err != nil:
		return nil, BackupInfo{}, err
	}
	prev, prevRaw := b.next, b.raw
	b.next, b.raw = list, raw
	if prev == nil {
		return b.read()
	}
	b.sum.Write(prevRaw)
	return prev, BackupInfo{}, nil
}

func (b *backupReader) readList() (*pb.KVList, []byte, error) {
	var size [8]byte
	if _, err := io.ReadFull(b.r, size[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, io.EOF
		}
		return nil, nil, fmt.Errorf("%w: it ends in the middle of a list (%v): cut short", errBadBackup, err)
	}
	n := binary.LittleEndian.Uint64(size[:])
	if n > maxList {
		return nil, nil, fmt.Errorf("%w: a list of %d bytes at offset %d: damaged, or not a backup", errBadBackup, n, b.n)
	}
	raw := make([]byte, 8+n)
	copy(raw, size[:])
	if _, err := io.ReadFull(b.r, raw[8:]); err != nil {
		return nil, nil, fmt.Errorf("%w: it ends in the middle of a list (%v): cut short", errBadBackup, err)
	}
	var list pb.KVList
	if err := proto.Unmarshal(raw[8:], &list); err != nil {
		return nil, nil, fmt.Errorf("%w: the list at offset %d does not decode (%v): damaged, or not a backup", errBadBackup, b.n, err)
	}
	b.n += int64(len(raw))
	return &list, raw, nil
}

// trailer checks the last list read: the trailer, and the digest of
// everything before it.
func (b *backupReader) trailer() (BackupInfo, error) {
	var info BackupInfo
	if len(b.next.Kv) != 1 || string(b.next.Kv[0].Key) != trailerKey {
		return info, fmt.Errorf("%w: it has no trailer: cut short, or not made by gatehouse backup", errBadBackup)
	}
	if err := json.Unmarshal(b.next.Kv[0].Value, &info); err != nil {
		return info, fmt.Errorf("%w: its trailer does not decode: %v", errBadBackup, err)
	}
	if got := hex.EncodeToString(b.sum.Sum(nil)); got != info.SHA256 {
		return info, fmt.Errorf("%w: its content does not match its checksum (SHA-256 %s, recorded %s): damaged", errBadBackup, got, info.SHA256)
	}
	info.Bytes = b.n
	return info, nil
}

// CheckBackup reads a whole backup and returns its trailer if it is
// complete and undamaged.
func CheckBackup(r io.Reader) (BackupInfo, error) {
	br := newBackupReader(r)
	for {
		_, info, err := br.read()
		if errors.Is(err, io.EOF) {
			return info, nil
		}
		if err != nil {
			return info, err
		}
	}
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Force restores into a directory that holds a database: its files
	// are moved aside first (see Restore).
	Force bool
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	BackupInfo
	// Restored counts the live records in the restored directory.
	Restored int
	// Aside is where the files of the database that was in the
	// directory went (Force), or "".
	Aside string
}

// Restore writes the backup r into the data directory dir, which must
// hold no database unless opts.Force: the backup is loaded into a new
// directory beside dir, its trailer checked, its marker written (the
// backup's installation, at the backup's commit, stopped cleanly) and the
// whole directory verified as Open does; only then are its files moved
// into dir, the files of a database already there being moved first into
// a new directory beside it (RestoreResult.Aside). Other files in dir
// (the plugin cache) are left alone. A server started on dir afterwards
// serves the backup's installation.
func Restore(ctx context.Context, dir string, r io.Reader, opts RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	held, err := holdsData(dir)
	if err != nil {
		return res, fmt.Errorf("badger: restore into %s: %w", dir, err)
	}
	if held && !opts.Force {
		return res, fmt.Errorf("badger: restore into %s: it holds a database already: restore into a new directory, or pass --force to move its files aside first", dir)
	}
	if held {
		if err := checkUnlocked(dir); err != nil {
			return res, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(abs), filepath.Base(abs)+".restoring-")
	if err != nil {
		return res, fmt.Errorf("badger: restore: %w", err)
	}
	defer os.RemoveAll(tmp)
	if res.BackupInfo, err = load(ctx, tmp, r); err != nil {
		return res, err
	}
	// Open checks every table, value and the marker, as a server would.
	vr, err := Verify(ctx, tmp, Options{})
	if err != nil {
		return res, fmt.Errorf("badger: the restored database does not verify: %w", err)
	}
	if vr.Installation != res.Installation {
		return res, fmt.Errorf("%w: the restored database is installation %s, its trailer says %s", errBadBackup, vr.Installation, res.Installation)
	}
	res.Restored = vr.Records
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return res, err
	}
	if held {
		res.Aside = fmt.Sprintf("%s.before-restore-%s", abs, time.Now().UTC().Format("20060102T150405Z"))
		if err := moveFiles(abs, res.Aside, isDatabaseFile); err != nil {
			return res, fmt.Errorf("badger: restore: move the database in %s aside: %w", dir, err)
		}
	}
	if err := moveFiles(tmp, abs, func(string) bool { return true }); err != nil {
		return res, fmt.Errorf("badger: restore: move the restored database into %s: %w", dir, err)
	}
	return res, nil
}

// load reads the backup into the new directory dir and writes its marker.
func load(ctx context.Context, dir string, r io.Reader) (BackupInfo, error) {
	db, err := openDB(badgerOptions(dir, Options{}))
	if err != nil {
		return BackupInfo{}, err
	}
	defer func() {
		if db != nil {
			_ = db.Close()
		}
	}()
	// DB.Load reads Badger's format; the lists go to it through a pipe
	// once checked, the trailer held back.
	pr, pw := io.Pipe()
	loaded := make(chan error, 1)
	go func() { loaded <- db.Load(pr, 16) }()
	br := newBackupReader(r)
	var info BackupInfo
	for {
		if err = ctx.Err(); err != nil {
			break
		}
		var list *pb.KVList
		list, info, err = br.read()
		if err != nil {
			break
		}
		if err = writeList(pw, list); err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	pw.CloseWithError(err)
	if lerr := <-loaded; err == nil && lerr != nil {
		err = fmt.Errorf("badger: restore: loading the backup: %w", lerr)
	}
	if err != nil {
		return BackupInfo{}, err
	}
	id, _, err := installation(db)
	if err != nil {
		return BackupInfo{}, err
	}
	commit, err := commitVersion(db)
	if err != nil {
		return BackupInfo{}, err
	}
	if id != info.Installation || commit != info.Commit {
		return BackupInfo{}, fmt.Errorf("%w: it loads as installation %q at commit %d, its trailer says %q at %d", errBadBackup, id, commit, info.Installation, info.Commit)
	}
	err = db.Close()
	db = nil
	if err != nil {
		return BackupInfo{}, fmt.Errorf("badger: restore: %w", err)
	}
	// The marker says the directory stopped cleanly at the backup's
	// commit, so that it opens as the same installation, missing nothing.
	err = writeMarker(dir, marker{Installation: info.Installation, Created: time.Now().UTC(), Commit: commit, Stopped: true})
	return info, err
}

// holdsData tells whether dir holds a database: Badger's files or a marker.
func holdsData(dir string) (bool, error) {
	held, err := HoldsDatabase(dir)
	if err != nil || held {
		return held, err
	}
	_, err = os.Stat(filepath.Join(dir, markerFile))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// isDatabaseFile tells the files of a data directory that are the
// database's (Badger's and the marker), not the plugin cache's.
func isDatabaseFile(name string) bool {
	switch name {
	case "MANIFEST", "KEYREGISTRY", "DISCARD", "LOCK", markerFile, markerFile + ".tmp":
		return true
	}
	for _, ext := range []string{".sst", ".vlog", ".mem"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// moveFiles renames the files of from that keep selects into to (created
// if needed), and syncs both directories.
func moveFiles(from, to string, keep func(string) bool) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !keep(e.Name()) {
			continue
		}
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return errors.Join(syncDir(to), syncDir(from))
}
