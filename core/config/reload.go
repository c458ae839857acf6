package config

import (
	"reflect"
	"slices"
)

// reloadable are the keys a running server applies on reload (SIGHUP,
// POST /admin/plugins/reload): the plugin host swaps them in.
var reloadable = []string{"plugins.defaults", "plugins.settings", "plugins.hooks"}

// Reloadable lists the keys a running server applies on reload; every
// other key takes effect at the next start.
func Reloadable() []string { return slices.Clone(reloadable) }

// RestartNeeded lists the keys whose value differs between c (the
// configuration the server started with) and next, and that a reload does
// not apply: top-level sections, and the plugin keys other than the
// reloadable ones.
func (c *Config) RestartNeeded(next *Config) []string {
	var keys []string
	diff("", reflect.ValueOf(c).Elem(), reflect.ValueOf(next).Elem(), &keys)
	return keys
}

// diff appends the koanf keys of the fields of struct values a and b that
// differ, descending into plugins to leave out its reloadable keys.
func diff(prefix string, a, b reflect.Value, keys *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		key := prefix + t.Field(i).Tag.Get("koanf")
		if slices.Contains(reloadable, key) {
			continue
		}
		if key == "plugins" {
			diff(key+".", a.Field(i), b.Field(i), keys)
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			*keys = append(*keys, key)
		}
	}
}
