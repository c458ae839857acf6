package wasmlimit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/internal/wasmbomb"
	"github.com/gatehouse-auth/gatehouse/core/plugin/internal/wasmlimit"
	"github.com/tetratelabs/wazero"
)

func TestRefusals(t *testing.T) {
	t.Parallel()
	l := wasmlimit.Defaults
	tests := []struct {
		name  string
		wasm  []byte
		limit string
	}{
		// 150 KB of nested blocks took wazero 26–30 s to compile.
		{"nested blocks", wasmbomb.NestedBlocks(50000, 1), "nesting"},
		// A 65520-target br_table costs wazero 2–5 s and 160 MB.
		{"large br_table", wasmbomb.BrTables(16, 65520, 1), "br_table targets"},
		// Six bytes that would make wazero allocate 4 GiB at decode.
		{"four billion locals", wasmbomb.Locals(0xFFFFFFFF), "locals"},
		{"globals", wasmbomb.Globals(l.Globals + 1), "globals"},
		{"table minimum", wasmbomb.Table(l.TableElements+1, -1), "table elements"},
		{"module size", make([]byte, l.ModuleBytes+1), "module bytes"},
		{"within every limit", wasmbomb.BrTables(4096, 8192, 2), ""},
		{"not wasm", []byte("\x00asm\x02\x00\x00\x00"), "malformed"},
		{"truncated", wasmbomb.NestedBlocks(10, 2)[:30], "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := wasmlimit.Check(tc.wasm, l)
			if tc.limit == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var e *wasmlimit.Error
			if !errors.As(err, &e) || e.Limit != tc.limit {
				t.Fatalf("Check = %v, want limit %q", err, tc.limit)
			}
		})
	}
}

// TestTablesCapped: a table without a maximum, or with one above the
// limit, gets the limit as its maximum; wazero then refuses to grow it past
// it (table.grow returns -1) while the rest of the module is unchanged.
func TestTablesCapped(t *testing.T) {
	t.Parallel()
	l := wasmlimit.Defaults
	l.TableElements = 1000
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = r.Close(ctx) })
	for _, max := range []int64{-1, 1 << 30, 500} {
		in := wasmbomb.Table(10, max)
		out, err := wasmlimit.Check(in, l)
		if err != nil {
			t.Fatal(err)
		}
		if max == 500 && &out[0] != &in[0] {
			t.Errorf("max %d: a table within the limit was rewritten", max)
		}
		if max != 500 && string(out) != string(wasmbomb.Table(10, 1000)) {
			t.Errorf("max %d: got % x, want the table capped at 1000", max, out)
		}
		if _, err := r.CompileModule(ctx, out); err != nil {
			t.Fatalf("max %d: rewritten module does not compile: %v", max, err)
		}
	}
}

// TestRealModulesPass: every module this repository builds passes the
// defaults unchanged.
func TestRealModulesPass(t *testing.T) {
	t.Parallel()
	var files []string
	for _, dir := range []string{"plugins/bin", "examples/plugins/bin", "testdata/plugins/bin"} {
		f, _ := filepath.Glob(filepath.Join("..", "..", "..", "..", dir, "*.wasm"))
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Skip("no modules built (make plugins)")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wasmlimit.Check(b, wasmlimit.Defaults); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(wasmbomb.NestedBlocks(3, 2))
	f.Add(wasmbomb.BrTables(3, 5, 1))
	f.Add(wasmbomb.Table(1, -1))
	f.Add(wasmbomb.Globals(2))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := wasmlimit.Check(b, wasmlimit.Defaults)
		if err == nil && len(out) < len(b)-16 {
			t.Fatalf("output shrank from %d to %d bytes", len(b), len(out))
		}
	})
}
