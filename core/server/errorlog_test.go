package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/memory"
)

// failingWrites is a store whose writes fail with cause once armed.
type failingWrites struct {
	store.KV
	armed sync.Map // any key → armed
	cause error
}

func (f *failingWrites) failing() bool { _, ok := f.armed.Load("on"); return ok }

func (f *failingWrites) Create(ctx context.Context, key string, v []byte, exp time.Time) error {
	if f.failing() {
		return f.cause
	}
	return f.KV.Create(ctx, key, v, exp)
}

func (f *failingWrites) Apply(ctx context.Context, writes ...store.Write) error {
	if f.failing() {
		return f.cause
	}
	return f.KV.Apply(ctx, writes...)
}

// TestServerErrorLogsItsCause: a 500 tells the client nothing of its cause,
// and so the log must: the wrapped error chain, with the request's id.
// (Not parallel: it captures the default logger.)
func TestServerErrorLogsItsCause(t *testing.T) {
	logs := servertest.CaptureLogs(t)

	kv := &failingWrites{KV: memory.New(), cause: errors.New("badger: value log write: sector 7 unreadable")}
	live := servertest.StartWith(t, nil, servertest.Options{Store: func(testing.TB, *config.Config) *store.Store {
		return store.New(kv)
	}})
	kv.armed.Store("on", true)

	resp, err := http.Post(live.Issuer+"/v1/register", "application/json",
		strings.NewReader(`{"client_name":"cli","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("registration on a failing store answered %d, want a 5xx", resp.StatusCode)
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	var found bool
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "sector 7 unreadable") &&
			strings.Contains(line, "request_id="+id) {
			found = true
		}
	}
	if !found {
		t.Errorf("no ERROR log line with the cause and request_id=%s; logs:\n%s", id, logs.String())
	}
}
