package plugin

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// TestHostEmbedded: an embedded module serves when a hook is bound to it
// and no file of its name is in the directory; a file overrides it and
// hot-reloads as any file; removing the file brings the embedded one back.
// Embedded modules nothing is bound to are not loaded.
func TestHostEmbedded(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Watch = true
	v1, v2 := testWasm(t, "reload_v1"), testWasm(t, "reload_v2")
	h, err := NewHost(context.Background(), cfg, memory.New(), quietLogger(),
		WithEmbedded(map[string][]byte{"claims": v1, "unbound": v1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })

	waitFor(t, h, "claims", "v1", reloadWithin)
	if _, ok := h.Plugin("unbound"); ok {
		t.Error("an embedded module no hook is bound to was loaded")
	}
	if st := statusOf(h, "claims"); !st.Embedded || st.LoadError != "" {
		t.Errorf("status %+v, want the embedded version serving", st)
	}

	writePlugin(t, dir, "claims", v2)
	waitFor(t, h, "claims", "v2", reloadWithin)
	if st := statusOf(h, "claims"); st.Embedded {
		t.Errorf("status %+v, want the file's version", st)
	}
	writePlugin(t, dir, "claims", v1[:len(v1)/2])
	if err := h.Reload(context.Background()); err == nil {
		t.Error("a broken override loaded")
	}
	if got, err := version(context.Background(), h, "claims"); err != nil || got != "v2" {
		t.Errorf("after a broken override: %q, %v; want v2 serving on", got, err)
	}

	if err := os.Remove(filepath.Join(dir, "claims.wasm")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, "claims", "v1", reloadWithin)
	if st := statusOf(h, "claims"); !st.Embedded || st.LoadError != "" {
		t.Errorf("status %+v, want the embedded version serving again", st)
	}
}

// TestHostEmbeddedWithoutDirectory: with no plugin directory configured,
// the bound embedded modules still load.
func TestHostEmbeddedWithoutDirectory(t *testing.T) {
	cfg := testConfig("")
	h, err := NewHost(context.Background(), cfg, nil, quietLogger(), WithEmbedded(map[string][]byte{"claims": testWasm(t, "reload_v1")}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	if got, err := version(context.Background(), h, "claims"); err != nil || got != "v1" {
		t.Errorf("token_claims = %q, %v; want the embedded v1", got, err)
	}
}

func statusOf(h *Host, name string) Status {
	for _, st := range h.Status() {
		if st.Name == name {
			return st
		}
	}
	return Status{}
}
