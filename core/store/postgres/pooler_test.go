package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-auth/gatehouse/core/store/postgres/pgtest"
)

// fakePooler forwards connections to the database as a pooler does as
// far as the listener can tell: it hands the client a backend key of its
// own making (BackendKeyData with another pid), as PgBouncer does.
func fakePooler(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("unix", socket)
			if err != nil {
				_ = client.Close()
				continue
			}
			wg.Go(func() {
				_, _ = io.Copy(server, client)
				_ = server.Close()
			})
			wg.Go(func() {
				_ = rewriteBackendKey(client, server)
				_ = client.Close()
			})
		}
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return dsn + " host=127.0.0.1 port=" + port
}

// rewriteBackendKey copies the server's messages (a type byte, then a
// length that counts itself) to the client, adding one to the pid of
// BackendKeyData.
func rewriteBackendKey(client io.Writer, server io.Reader) error {
	header := make([]byte, 5)
	for {
		if _, err := io.ReadFull(server, header); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(header[1:])) - 4
		if n < 0 {
			return errors.New("bad message length")
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(server, body); err != nil {
			return err
		}
		if header[0] == 'K' && n >= 4 {
			binary.BigEndian.PutUint32(body, binary.BigEndian.Uint32(body)+1)
		}
		if _, err := client.Write(append(header, body...)); err != nil {
			return err
		}
	}
}

// TestCacheNotBehindPooler: a server whose connections go through a
// pooler caches nothing, since the pooler may lend the listening session
// to other clients; everything else works as without a cache.
func TestCacheNotBehindPooler(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	direct := openCaching(t, dsn)
	pooled := openCaching(t, fakePooler(t, dsn))

	trusted(t, direct) // the control: the same database, connected directly, caches
	select {
	case <-pooled.listened: // the listener gave up
	case <-time.After(10 * time.Second):
		t.Fatal("the listener behind a pooler still runs after 10s")
	}
	if pooled.cache.begin().ok {
		t.Fatal("a server behind a pooler trusts its cache")
	}
	const key = "client/c1"
	if err := direct.Put(ctx, key, []byte("v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, pooled, key); got != "v1" {
		t.Fatalf("Get through the pooler = %q, want v1", got)
	}
	setRow(t, direct, key, "v2")
	if got := mustGet(t, pooled, key); got != "v2" {
		t.Fatalf("Get through the pooler = %q after a change, want v2 from the database", got)
	}
}
