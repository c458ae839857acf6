package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/store/badger"
)

const (
	backupUsage  = "usage: gatehouse backup (--url URL [--token TOKEN] | --data-dir DIR | --config FILE) -o FILE"
	restoreUsage = "usage: gatehouse restore [--data-dir DIR | --config FILE] -i FILE [--force]"
)

// runBackup writes a backup of a Badger database: from a running server
// through GET /admin/backup (--url), or from the data directory of a
// stopped one. Either way the backup is one consistent snapshot, and it is
// checked whole (its trailer and checksum) before it is kept under its
// name.
func runBackup(ctx context.Context, args []string, stdout io.Writer) error {
	var serverURL, token, dataDir, output string
	cfg, _, err := loadConfig("backup", args, func(fs *flag.FlagSet) {
		fs.StringVar(&serverURL, "url", "", "URL of a running gatehouse (its origin; the admin API is at /admin)")
		fs.StringVar(&token, "token", "", "admin token of the running server (default: admin.token of the configuration)")
		fs.StringVar(&dataDir, "data-dir", "", "data directory of a stopped server (default: storage.dir of the configuration)")
		fs.StringVar(&output, "o", "", "the backup file to write (- for standard output)")
	})
	if err != nil {
		return err
	}
	if output == "" {
		return errors.New(backupUsage)
	}
	if serverURL != "" && dataDir != "" {
		return errors.New("backup: --url and --data-dir exclude each other")
	}
	start := time.Now()
	var info badger.BackupInfo
	err = writeFileChecked(output, stdout, func(w io.Writer) error {
		if serverURL != "" {
			if token == "" {
				token = cfg.Admin.Token
			}
			info, err = backupFromServer(ctx, serverURL, token, w)
			return err
		}
		if dataDir == "" {
			if cfg.Storage.Backend != "badger" {
				return fmt.Errorf("backup works on a badger data directory; back up the %s backend with its own tools, or copy it with gatehouse store copy", cfg.Storage.Backend)
			}
			dataDir = cfg.Storage.Dir
		}
		info, err = backupDataDir(ctx, dataDir, w)
		return err
	})
	if err != nil {
		return err
	}
	out := stdout
	if output == "-" {
		out = os.Stderr
	}
	fmt.Fprintf(out, "backup of installation %s at commit %d: %d records, %d bytes in %s, sha256 %s, to %s\n",
		info.Installation, info.Commit, info.Records, info.Bytes, time.Since(start).Round(time.Millisecond), info.SHA256, output)
	return nil
}

// writeFileChecked runs write into output: a new file, synced and renamed
// into place only once write succeeded (or standard output for "-").
func writeFileChecked(output string, stdout io.Writer, write func(io.Writer) error) error {
	if output == "-" {
		return write(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(output), filepath.Base(output)+".partial-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(f.Name())
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), output)
	}
	return err
}

// backupDataDir backs up the data directory of a stopped server.
func backupDataDir(ctx context.Context, dir string, w io.Writer) (badger.BackupInfo, error) {
	if held, err := badger.HoldsDatabase(dir); err != nil || !held {
		return badger.BackupInfo{}, fmt.Errorf("backup: %s holds no gatehouse database (%v)", dir, err)
	}
	kv, err := badger.Open(dir, badger.Options{Reserve: -1})
	if err != nil && strings.Contains(err.Error(), "Another process is using this Badger database") {
		return badger.BackupInfo{}, fmt.Errorf("backup: the data directory %s is in use by a running gatehouse: back it up through it with --url and its admin token", dir)
	}
	if err != nil {
		return badger.BackupInfo{}, err
	}
	info, err := kv.Backup(ctx, w)
	return info, errors.Join(err, kv.Close())
}

// backupFromServer reads GET /admin/backup into w, checking the backup
// as it arrives: a backup the server cut short has no trailer.
func backupFromServer(ctx context.Context, server, token string, w io.Writer) (badger.BackupInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/admin/backup", nil)
	if err != nil {
		return badger.BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return badger.BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode == http.StatusNotFound {
			return badger.BackupInfo{}, fmt.Errorf("backup: the server answered 404: it has no admin.token, or its backend (postgres) is backed up with the database's own tools")
		}
		return badger.BackupInfo{}, fmt.Errorf("backup: the server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	info, err := badger.CheckBackup(io.TeeReader(resp.Body, w))
	if err != nil {
		return info, fmt.Errorf("backup: what the server sent is not a complete backup (see its log): %w", err)
	}
	return info, nil
}

// runRestore restores a backup into a Badger data directory of a stopped
// server: a new or empty one, or, with --force, one holding a database,
// which is moved aside first.
func runRestore(ctx context.Context, args []string, stdout io.Writer) error {
	var dataDir, input string
	var force bool
	cfg, _, err := loadConfig("restore", args, func(fs *flag.FlagSet) {
		fs.StringVar(&dataDir, "data-dir", "", "the data directory to restore into (default: storage.dir of the configuration)")
		fs.StringVar(&input, "i", "", "the backup file (- for standard input)")
		fs.BoolVar(&force, "force", false, "restore into a directory that holds a database, moving its files aside first")
	})
	if err != nil {
		return err
	}
	if input == "" {
		return errors.New(restoreUsage)
	}
	if dataDir == "" {
		if cfg.Storage.Backend != "badger" {
			return fmt.Errorf("restore works on a badger data directory; to move a backup onto the %s backend, restore it into a directory and use gatehouse store copy", cfg.Storage.Backend)
		}
		dataDir = cfg.Storage.Dir
	}
	var r io.Reader = os.Stdin
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		r = f
	}
	start := time.Now()
	res, err := badger.Restore(ctx, dataDir, r, badger.RestoreOptions{Force: force})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored installation %s at commit %d (backup of %s): %d records into %s in %s\n",
		res.Installation, res.Commit, res.Taken.Format(time.RFC3339), res.Restored, dataDir, time.Since(start).Round(time.Millisecond))
	if res.Aside != "" {
		fmt.Fprintf(stdout, "the database that was in %s is now in %s: remove it once the restored server serves\n", dataDir, res.Aside)
	}
	return nil
}
