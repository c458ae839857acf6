package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// Status describes one plugin for operators: the version serving, what it
// serves, the last load error of its file, and its call figures.
type Status struct {
	Name string `json:"name"`
	// Version is the hex SHA-256 of the serving module; empty when no
	// version of it loaded.
	Version  string    `json:"version,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Embedded: the serving version is the one the binary carries (no
	// file of this name in the plugin directory overrides it).
	Embedded bool `json:"embedded,omitempty"`
	// File is the plugin's file in the plugin directory as it is now,
	// with its SHA-256 (until it is loaded, not necessarily Version);
	// absent when there is none. Files are per replica: comparing them
	// across replicas shows drift.
	File *File `json:"file,omitempty"`
	// EmbeddedSHA256 is the hash of the module of this name the binary
	// carries, whether it serves or a file overrides it.
	EmbeddedSHA256 string   `json:"embedded_sha256,omitempty"`
	Hooks          []string `json:"hooks"`
	// Bound lists the hook bindings that name this plugin ("sign_in",
	// "sign_in/github", "notify"...).
	Bound []string `json:"bound,omitempty"`
	// LoadError is why the last load of the file failed (the previous
	// version, if any, keeps serving).
	LoadError   string    `json:"load_error,omitempty"`
	LoadErrorAt time.Time `json:"load_error_at,omitzero"`
	// FailedVersion is the hash of the file that failed to load.
	FailedVersion string `json:"failed_version,omitempty"`
	// Loading is the hash of a version still compiling in the background
	// (its hooks fail closed until it has loaded unless an older version
	// serves), since LoadingSince.
	Loading      string    `json:"loading,omitempty"`
	LoadingSince time.Time `json:"loading_since,omitzero"`
	Stats        CallStats `json:"stats"`
}

// File is one plugin file in the plugin directory.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Status lists every plugin loaded, failed or bound, or with a file in the
// plugin directory, by name.
func (h *Host) Status() []Status {
	files := h.dirFiles()
	set := h.set.Load()
	bound := bindings(set.cfg)
	names := map[string]bool{}
	for name := range set.plugins {
		names[name] = true
	}
	for name := range set.failed {
		names[name] = true
	}
	for name := range bound {
		names[name] = true
	}
	h.lmu.Lock()
	loading := maps.Clone(h.loading)
	h.lmu.Unlock()
	for name := range loading {
		names[name] = true
	}
	for name := range files {
		names[name] = true
	}
	out := make([]Status, 0, len(names))
	for _, name := range slices.Sorted(maps.Keys(names)) {
		s := Status{Name: name, Hooks: []string{}, Bound: bound[name], Stats: h.stats.snapshot(name), File: files[name]}
		if e, ok := h.embedded[name]; ok {
			s.EmbeddedSHA256 = e.hash
		}
		if l, ok := set.plugins[name]; ok {
			s.Version, s.LoadedAt, s.Hooks, s.Embedded = l.hash, l.at, l.p.Hooks(), l.embedded
		}
		if pl, ok := loading[name]; ok {
			s.Loading, s.LoadingSince = pl.hash, pl.since
		}
		if f, ok := set.failed[name]; ok {
			s.LoadError, s.LoadErrorAt, s.FailedVersion = f.err.Error(), f.at, f.hash
		} else if s.Version == "" && s.Loading == "" && len(s.Bound) > 0 {
			// Bound and nowhere. (A file not loaded yet and bound to
			// nothing is just listed.)
			s.LoadError = "not found: " + h.loadError(name).Error()
		}
		out = append(out, s)
	}
	return out
}

// bindings maps plugin names to the hook bindings of cfg naming them
// (sign_in, or sign_in/github when bound per provider), sorted.
func bindings(cfg *config.Plugins) map[string][]string {
	out := map[string][]string{}
	for _, b := range cfg.Bindings() {
		label := b.Hook
		if b.Provider != "" {
			label += "/" + b.Provider
		}
		out[b.Plugin] = append(out[b.Plugin], label)
	}
	for name := range out {
		slices.Sort(out[name])
	}
	return out
}

// Loading lists the plugins still compiling in the background, sorted.
func (h *Host) Loading() []string {
	h.lmu.Lock()
	defer h.lmu.Unlock()
	return slices.Sorted(maps.Keys(h.loading))
}

// Register mounts the operator routes on the guarded /admin group:
// GET /admin/plugins and POST /admin/plugins/reload (the configuration's
// plugin settings and bindings, then the directory).
func (h *Host) Register(admin fiber.Router) {
	admin.Get("/plugins", h.listHandler)
	admin.Post("/plugins/reload", h.reloadHandler)
}

func (h *Host) listHandler(c *fiber.Ctx) error {
	list := h.Status()
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{
		"dir": h.cfg.Dir, "plugins": list, "embedded": h.embeddedHashes(), "fingerprint": fingerprint(list),
	})
}

// dirFiles hashes the .wasm files of the plugin directory as they are now
// (what the next reload would load), by plugin name.
func (h *Host) dirFiles() map[string]*File {
	out := map[string]*File{}
	if h.cfg.Dir == "" {
		return out
	}
	entries, err := os.ReadDir(h.cfg.Dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok || name == "" || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(h.cfg.Dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sum := sha256.New()
		_, err = io.Copy(sum, f)
		_ = f.Close()
		if err == nil {
			out[name] = &File{Path: path, SHA256: hex.EncodeToString(sum.Sum(nil))}
		}
	}
	return out
}

// embeddedHashes lists the SHA-256 of every module the binary carries, by
// plugin name, bound or not.
func (h *Host) embeddedHashes() map[string]string {
	out := make(map[string]string, len(h.embedded))
	for name, f := range h.embedded {
		out[name] = f.hash
	}
	return out
}

// fingerprint is one SHA-256 over what each plugin serves and what its
// file and embedded module are: replicas with equal fingerprints run the
// same plugins (their settings aside), so one value shows drift.
func fingerprint(list []Status) string {
	sum := sha256.New()
	for _, s := range list {
		file := ""
		if s.File != nil {
			file = s.File.SHA256
		}
		fmt.Fprintf(sum, "%s %s %s %s\n", s.Name, s.Version, file, s.EmbeddedSHA256)
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// reloadHandler reads the configuration again (when the server gave a
// source) and rescans the directory now. An invalid configuration, or one
// that would break a serving plugin or binding, is answered 422 with every
// problem, and changes nothing. Load failures of files are reported in the
// answer (and the old versions keep serving); only an unreadable directory
// is a server error.
func (h *Host) reloadHandler(c *fiber.Ctx) error {
	// A client hanging up must not cancel loads half way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), time.Minute)
	defer cancel()
	start := time.Now()
	restart, err := h.ReloadConfig(ctx)
	var refused *ConfigRefused
	if errors.As(err, &refused) {
		return oauth.JSON(c, fiber.StatusUnprocessableEntity, fiber.Map{
			"ok":                false,
			"error":             "invalid_configuration",
			"error_description": fmt.Sprintf("the configuration was not applied (%d problems); nothing changed", len(refused.Problems)),
			"errors":            messages(refused.Problems),
			"took":              time.Since(start).String(),
			"dir":               h.cfg.Dir,
			"plugins":           h.Status(),
		})
	}
	errs := []string{}
	if err != nil {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = messages(joined.Unwrap())
		} else if !errors.Is(err, context.Canceled) {
			return oauth.ErrServerError().WithDescription("plugin reload failed").WithParent(err)
		}
	}
	body := fiber.Map{
		"ok":      len(errs) == 0,
		"errors":  errs,
		"took":    time.Since(start).String(),
		"dir":     h.cfg.Dir,
		"plugins": h.Status(),
	}
	if h.src.Load() != nil {
		// What this reload applied from the configuration, and what
		// changed but waits for a restart.
		body["config_reloaded"] = config.Reloadable()
		body["restart_needed"] = append([]string{}, restart...)
	}
	return oauth.JSON(c, fiber.StatusOK, body)
}

func messages(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}
