package plugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	Embedded bool     `json:"embedded,omitempty"`
	Hooks    []string `json:"hooks"`
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

// Status lists every plugin loaded, failed or bound, by name.
func (h *Host) Status() []Status {
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
	out := make([]Status, 0, len(names))
	for _, name := range slices.Sorted(maps.Keys(names)) {
		s := Status{Name: name, Hooks: []string{}, Bound: bound[name], Stats: h.stats.snapshot(name)}
		if l, ok := set.plugins[name]; ok {
			s.Version, s.LoadedAt, s.Hooks, s.Embedded = l.hash, l.at, l.p.Hooks(), l.embedded
		}
		if pl, ok := loading[name]; ok {
			s.Loading, s.LoadingSince = pl.hash, pl.since
		}
		if f, ok := set.failed[name]; ok {
			s.LoadError, s.LoadErrorAt, s.FailedVersion = f.err.Error(), f.at, f.hash
		} else if s.Version == "" && s.Loading == "" {
			s.LoadError = "not found: " + h.loadError(name).Error()
		}
		out = append(out, s)
	}
	return out
}

// bindings maps plugin names to the hook bindings of cfg naming them.
func bindings(cfg *config.Plugins) map[string][]string {
	out := map[string][]string{}
	for _, hook := range config.Hooks {
		switch v := cfg.Hooks[hook].(type) {
		case string:
			if v != "" {
				out[v] = append(out[v], hook)
			}
		case map[string]any:
			for _, provider := range slices.Sorted(maps.Keys(v)) {
				if name, _ := v[provider].(string); name != "" {
					out[name] = append(out[name], hook+"/"+provider)
				}
			}
		}
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
	return oauth.JSON(c, fiber.StatusOK, fiber.Map{"dir": h.cfg.Dir, "plugins": h.Status()})
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
