package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// fullKV is a memory store whose disk can be declared full: writes are
// refused with store.ErrFull, as the Badger backend refuses them below its
// reserve, and CheckWrite says so.
type fullKV struct {
	*memory.KV
	full atomic.Bool
}

var errFull = fmt.Errorf("test disk: %w", store.ErrFull)

func (k *fullKV) refuse() error {
	if k.full.Load() {
		return errFull
	}
	return nil
}
func (k *fullKV) CheckWrite() error { return k.refuse() }
func (k *fullKV) Create(ctx context.Context, key string, v []byte, exp time.Time) error {
	if err := k.refuse(); err != nil {
		return err
	}
	return k.KV.Create(ctx, key, v, exp)
}
func (k *fullKV) Put(ctx context.Context, key string, v []byte, exp time.Time) error {
	if err := k.refuse(); err != nil {
		return err
	}
	return k.KV.Put(ctx, key, v, exp)
}
func (k *fullKV) Update(ctx context.Context, key string, fn func([]byte) ([]byte, error)) error {
	if err := k.refuse(); err != nil {
		return err
	}
	return k.KV.Update(ctx, key, fn)
}
func (k *fullKV) Apply(ctx context.Context, writes ...store.Write) error {
	if err := k.refuse(); err != nil {
		return err
	}
	return k.KV.Apply(ctx, writes...)
}
func (k *fullKV) Delete(ctx context.Context, key string) error {
	if err := k.refuse(); err != nil {
		return err
	}
	return k.KV.Delete(ctx, key)
}

// TestStorageFullAnswers503: with the store refusing writes for lack of
// space, a registration answers 503 temporarily_unavailable with
// Retry-After (not 500), discovery is still served and /readyz says
// "storage full"; once the store has room, both are back. (The same with a
// real full disk: TestFullDiskAnswers503 in cmd/gatehouse, as root.)
func TestStorageFullAnswers503(t *testing.T) {
	kv := &fullKV{KV: memory.New()}
	l := servertest.StartWith(t, nil, servertest.Options{Store: func(testing.TB, *config.Config) *store.Store { return store.New(kv) }})
	register := func() (*http.Response, error) {
		return http.Post(l.Issuer+"/v1/register", "application/json", strings.NewReader(`{"client_name":"x","grant_types":["client_credentials"]}`))
	}
	origin := "http://" + l.Addr
	kv.full.Store(true)
	resp, err := register()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("registration with the store full: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	status, body := getJSON(t, origin+"/readyz")
	if status != http.StatusServiceUnavailable || body["status"] != "storage full" {
		t.Errorf("/readyz with the store full: %d %v", status, body)
	}
	if status, _ := getJSON(t, l.Issuer+"/.well-known/openid-configuration"); status != http.StatusOK {
		t.Errorf("discovery with the store full: %d", status)
	}
	kv.full.Store(false)
	if resp, err = register(); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("registration once the store has room: %d", resp.StatusCode)
	}
	if status, body := getJSON(t, origin+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz once the store has room: %d %v", status, body)
	}
}
