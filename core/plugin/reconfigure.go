package plugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// ConfigRefused is a configuration that was not applied: every problem
// found, and nothing changed.
type ConfigRefused struct {
	Problems []error
}

func (e *ConfigRefused) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "configuration not applied: " + strings.Join(msgs, "; ")
}

func (e *ConfigRefused) Unwrap() []error { return e.Problems }

// ConfigSource reads the configuration again, exactly as start-up did, and
// validates it (config.Load).
type ConfigSource func() (*config.Config, error)

// source is what ReloadConfig reads, and the configuration the server
// started with, against which it tells what needs a restart.
type source struct {
	running *config.Config
	read    ConfigSource
}

// SetConfigSource makes ReloadConfig (SIGHUP, POST /admin/plugins/reload)
// read the configuration with read; running is the configuration the
// server started with.
func (h *Host) SetConfigSource(running *config.Config, read ConfigSource) {
	h.src.Store(&source{running: running, read: read})
}

// Reconfigure applies the plugin defaults, settings and hook bindings of
// cfg (the rest of cfg is ignored: it needs a restart) and rescans the
// directory, as one generation: load → validate → swap → clean up. Every
// plugin whose settings changed is loaded again with them, aside; a plugin
// that serves now and would not load with its new settings, or a binding
// that is new or changed and whose plugin is not loaded or does not serve
// the hook, refuses the whole configuration: the result is a
// *ConfigRefused listing every problem, and the old settings, bindings and
// versions keep serving. Otherwise the error, if any, lists files that
// failed to load, as Reload's does.
func (h *Host) Reconfigure(ctx context.Context, cfg config.Plugins) error {
	h.reload.Lock()
	defer h.reload.Unlock()
	if h.closed {
		return errors.New("plugin: host is closed")
	}
	old := h.set.Load().cfg
	next := *old
	next.Defaults, next.Settings, next.Hooks = cfg.Defaults, cfg.Settings, cfg.Hooks
	err := h.load(ctx, &next, true)
	var refused *ConfigRefused
	if errors.As(err, &refused) {
		h.logger.Error("plugin configuration refused: the previous one keeps serving", "error", err)
		return err
	}
	changed := changedBindings(old, &next)
	var settings []string
	for _, name := range slices.Sorted(maps.Keys(names(old, &next))) {
		if !sameSettings(old, &next, name) {
			settings = append(settings, name)
		}
	}
	h.logger.Info("plugin configuration reloaded", "applied", config.Reloadable(), "bindings_changed", changed, "settings_changed", settings)
	return err
}

// ReloadConfig reads the configuration again through the source set by
// SetConfigSource, validates it, and applies its reloadable parts
// (Reconfigure); restart lists the keys that changed but need a restart.
// An invalid configuration is a *ConfigRefused listing every problem, and
// changes nothing. Without a source it is Reload.
func (h *Host) ReloadConfig(ctx context.Context) (restart []string, err error) {
	src := h.src.Load()
	if src == nil {
		return nil, h.Reload(ctx)
	}
	cfg, err := src.read()
	if err != nil {
		refused := &ConfigRefused{Problems: problems(err)}
		h.logger.Error("configuration not reloaded: the previous one keeps serving", "error", err)
		return nil, refused
	}
	restart = src.running.RestartNeeded(cfg)
	if len(restart) > 0 {
		h.logger.Warn("configuration changes that take effect only at the next start", "keys", restart)
	}
	return restart, h.Reconfigure(ctx, cfg.Plugins)
}

// problems splits a joined error (config.Validate's) into its parts.
func problems(err error) []error {
	for {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			return joined.Unwrap()
		}
		inner := errors.Unwrap(err)
		if inner == nil {
			return []error{err}
		}
		err = inner
	}
}

// sameSettings: name gets the same settings and limits from a and b.
func sameSettings(a, b *config.Plugins, name string) bool {
	if a == b {
		return true
	}
	sa, sb := normalize(a.Settings[name]), normalize(b.Settings[name])
	return reflect.DeepEqual(sa, sb) && a.LimitsFor(name) == b.LimitsFor(name)
}

// normalize makes empty and absent lists and maps alike.
func normalize(s config.PluginSettings) config.PluginSettings {
	if len(s.Config) == 0 {
		s.Config = nil
	}
	if len(s.HTTPAllow) == 0 {
		s.HTTPAllow = nil
	}
	return s
}

// names lists every plugin with settings in a or b.
func names(a, b *config.Plugins) map[string]bool {
	out := map[string]bool{}
	for name := range a.Settings {
		out[name] = true
	}
	for name := range b.Settings {
		out[name] = true
	}
	return out
}

// allBindings maps the bindings of cfg by configuration key.
func allBindings(cfg *config.Plugins) map[string]config.HookBinding {
	out := map[string]config.HookBinding{}
	for _, b := range cfg.Bindings() {
		out[b.Key] = b
	}
	return out
}

// changedBindings lists the keys of the bindings that next adds, changes
// or removes.
func changedBindings(old, next *config.Plugins) []string {
	a, b := allBindings(old), allBindings(next)
	var keys []string
	for key, nb := range b {
		if a[key] != nb {
			keys = append(keys, key)
		}
	}
	for key := range a {
		if _, ok := b[key]; !ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// checkBindings refuses every binding of next that is new or changed and
// that its plugin cannot serve: not loaded (compiling, still after
// plugins.load_wait, counts as not loaded), or not exporting the hook.
// Bindings that did not change keep start-up's rule (a warning; their
// calls fail closed until the plugin loads).
func checkBindings(old, next *pluginSet, compiling map[string]bool) []error {
	before := allBindings(old.cfg)
	after := allBindings(next.cfg)
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(after)) {
		b := after[key]
		if before[key] == b {
			continue
		}
		l, ok := next.plugins[b.Plugin]
		switch {
		case !ok:
			why := "no " + b.Plugin + ".wasm in the plugin directory"
			if f, failed := next.failed[b.Plugin]; failed {
				why = f.err.Error()
			} else if compiling[b.Plugin] {
				why = "still compiling after plugins.load_wait"
			}
			errs = append(errs, fmt.Errorf("%s: plugin %s is not loaded: %s", key, b.Plugin, why))
		case !l.p.Serves(b.Hook):
			errs = append(errs, fmt.Errorf("%s: plugin %s does not serve %s (it serves %s)", key, b.Plugin, b.Hook, strings.Join(l.p.Hooks(), ", ")))
		}
	}
	return errs
}
