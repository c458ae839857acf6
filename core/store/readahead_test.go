package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// multiGetKV is a memory KV with GetMany, which counts its calls and
// fails when told to.
type multiGetKV struct {
	*memory.KV
	calls int
	fail  error
}

func (m *multiGetKV) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	m.calls++
	if m.fail != nil {
		return nil, m.fail
	}
	values := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := m.Get(ctx, k)
		if err == nil {
			values[i] = v
		}
	}
	return values, nil
}

type named struct {
	Name string `json:"name"`
}

// TestReadAhead: the first read of each key under the returned context
// answers with what ReadAhead read, a missing record as ErrNotFound; any
// later read of the key, and every read when the read-ahead failed or
// the backend has no GetMany, goes to the backend.
func TestReadAhead(t *testing.T) {
	ctx := context.Background()
	kv := &multiGetKV{KV: memory.New()}
	st := store.New(kv)
	c := store.NewCollection[named](kv, "named")
	for _, id := range []string{"a", "b"} {
		if err := c.Create(ctx, id, named{Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	rctx, err := st.ReadAhead(ctx, c.Key("a"), c.Key("b"), c.Key("missing"))
	if err != nil || kv.calls != 1 {
		t.Fatalf("ReadAhead made %d GetMany calls (%v), want 1", kv.calls, err)
	}
	// Written after the read-ahead: the first reads answer what was read.
	if err := c.Put(ctx, "a", named{Name: "a2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "missing", named{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(rctx, "a"); err != nil || got.Name != "a" {
		t.Fatalf("first Get(a) = %+v, %v; want what was read ahead", got, err)
	}
	if got, version, err := c.GetVersion(rctx, "b"); err != nil || got.Name != "b" || string(version) != `{"name":"b"}` {
		t.Fatalf("first GetVersion(b) = %+v, %s, %v", got, version, err)
	}
	if _, err := c.Get(rctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("first Get(missing) = %v, want ErrNotFound as read ahead", err)
	}
	// Second reads go to the backend.
	for id, want := range map[string]string{"a": "a2", "missing": "m"} {
		if got, err := c.Get(rctx, id); err != nil || got.Name != want {
			t.Fatalf("second Get(%s) = %+v, %v; want %q from the backend", id, got, err, want)
		}
	}
	// A failed read-ahead, or a backend without GetMany: plain reads.
	kv.fail = errors.New("down")
	fctx, err := st.ReadAhead(ctx, c.Key("a"))
	if err != nil {
		t.Fatalf("ReadAhead after a failure that is not ErrUnavailable = %v, want nil", err)
	}
	if got, err := c.Get(fctx, "a"); err != nil || got.Name != "a2" {
		t.Fatalf("Get after a failed read-ahead = %+v, %v", got, err)
	}
	plain := store.New(kv.KV)
	pctx, err := plain.ReadAhead(ctx, c.Key("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(pctx, "a"); err != nil || got.Name != "a2" {
		t.Fatalf("Get after a read-ahead on a backend without GetMany = %+v, %v", got, err)
	}
	// An unavailable backend: the request fails at once rather than
	// waiting for each of its reads in turn.
	kv.fail = fmt.Errorf("%w: no answer", store.ErrUnavailable)
	if _, err := st.ReadAhead(ctx, c.Key("a")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ReadAhead on an unavailable backend = %v, want store.ErrUnavailable", err)
	}
}
