package plugin

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce gathers the burst of events one copy or build makes (create,
// several writes, chmod, rename) into one reload.
const debounce = 50 * time.Millisecond

// watcher reloads the host when the plugin directory changes. It watches
// the directory itself, so that editors and installers that write a
// temporary file and rename it over the plugin are seen (the rename is a
// Create of the plugin's name). When the directory does not exist yet it
// watches the parent and starts watching the directory once it appears.
type watcher struct {
	fs     *fsnotify.Watcher
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (h *Host) startWatch() (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dir := filepath.Clean(h.cfg.Dir)
	watchingDir := true
	if err := fw.Add(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			fw.Close()
			return nil, err
		}
		// Watch the parent for the directory's creation.
		if err := fw.Add(filepath.Dir(dir)); err != nil {
			fw.Close()
			return nil, err
		}
		watchingDir = false
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{fs: fw, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx, h, dir, watchingDir)
	return w, nil
}

func (w *watcher) run(ctx context.Context, h *Host, dir string, watchingDir bool) {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if !watchingDir {
				if filepath.Clean(ev.Name) != dir {
					continue
				}
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					continue
				}
				if err := w.fs.Add(dir); err != nil {
					h.logger.Warn("cannot watch the new plugin directory", "dir", dir, "error", err)
					continue
				}
				watchingDir = true
				_ = w.fs.Remove(filepath.Dir(dir))
				h.logger.Info("plugin directory appeared: watching it", "dir", dir)
			} else if filepath.Clean(ev.Name) == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The directory itself went away: fall back to the parent.
				if err := w.fs.Add(filepath.Dir(dir)); err == nil {
					watchingDir = false
				}
			}
			timer.Reset(debounce)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			h.logger.Warn("plugin directory watch", "dir", dir, "error", err)
			timer.Reset(debounce)
		case <-timer.C:
			// Load errors are logged and recorded by Reload.
			_ = h.Reload(ctx)
		}
	}
}

// stop ends the watch and waits for a reload in progress.
func (w *watcher) stop() {
	w.once.Do(func() {
		w.cancel()
		w.fs.Close()
		<-w.done
	})
}
