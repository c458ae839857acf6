package keyset_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// countingKV counts the scans of the signing keys, the one read a reload
// makes.
type countingKV struct {
	store.KV
	keyScans atomic.Int64
}

func (c *countingKV) Scan(ctx context.Context, prefix string, fn func(string, []byte) error) error {
	if strings.HasPrefix(prefix, "key") {
		c.keyScans.Add(1)
	}
	return c.KV.Scan(ctx, prefix, fn)
}

// TestRefreshAcrossProcesses: two keysets on one store, as two replicas
// on one database. A rotation on one is signed with and published by the
// other after its Refresh, in the same order; before that, a token of the
// new key verifies on the other at once (a kid it does not know makes it
// read the keys).
func TestRefreshAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	kv := &countingKV{KV: memory.New()}
	st := store.New(kv)
	a := openKeys(t, st, "ES256")
	b := openKeys(t, st, "ES256")
	if !slices.Equal(published(a), published(b)) {
		t.Fatalf("two processes on one store publish %v and %v", published(a), published(b))
	}
	made, err := a.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Sign("at+jwt", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.Verify(ctx, tok)
	if err != nil || v.KeyID != made[0].ID {
		t.Fatalf("B verifies A's token of the new key: %+v %v", v, err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(published(a), published(b)) {
		t.Errorf("after refresh, A publishes %v and B %v", published(a), published(b))
	}
	if _, kid := signedAlg(t, b, jose.ES256); kid != made[0].ID {
		t.Errorf("B signs ES256 with %s, want A's new %s", kid, made[0].ID)
	}
	if _, kid := signedAlg(t, b, jose.RS256); kid != made[1].ID {
		t.Errorf("B signs RS256 with %s, want A's new %s", kid, made[1].ID)
	}
	// A refresh that finds nothing new keeps the same keys.
	before := published(b)
	if err := b.Refresh(ctx); err != nil || !slices.Equal(published(b), before) {
		t.Errorf("an idle refresh changed the keys: %v → %v (%v)", before, published(b), err)
	}
}

// TestUnknownKidReadsOnce: tokens naming kids nobody made cost at most one
// read of the keys a second, however many there are, and are refused.
func TestUnknownKidReadsOnce(t *testing.T) {
	ctx := context.Background()
	kv := &countingKV{KV: memory.New()}
	st := store.New(kv)
	other := openKeys(t, store.New(memory.New()), "ES256") // keys of another installation
	keys := openKeys(t, st, "ES256")
	start := kv.keyScans.Load()
	for range 50 {
		tok, err := other.Sign("at+jwt", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Verify(ctx, tok); !errors.Is(err, keyset.ErrUnknownKey) {
			t.Fatalf("a token of unknown keys: %v, want ErrUnknownKey", err)
		}
	}
	if n := kv.keyScans.Load() - start; n != 1 {
		t.Errorf("50 unknown kids read the keys %d times, want once", n)
	}
}

// TestRefreshMakesNoRetirement: a process configured with another
// keys.algorithm adds the key it lacks on refresh but retires none, so two
// processes that disagree do not undo each other's keys forever.
func TestRefreshMakesNoRetirement(t *testing.T) {
	ctx := context.Background()
	st := store.New(memory.New())
	es := openKeys(t, st, "ES256")
	ed := openKeys(t, st, "EdDSA") // retires the ES256 key
	if err := es.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ed.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got := published(ed)
	if err := es.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ed.Refresh(ctx); err != nil || !slices.Equal(published(ed), got) {
		t.Errorf("refreshes keep changing the keys: %v → %v (%v)", got, published(ed), err)
	}
	if _, kid := signedAlg(t, es, jose.ES256); kid == "" {
		t.Error("the ES256 process has no ES256 key")
	}
	if _, kid := signedAlg(t, ed, jose.EdDSA); kid == "" {
		t.Error("the EdDSA process has no EdDSA key")
	}
}
