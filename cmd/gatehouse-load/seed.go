package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
)

// seedMain is `gatehouse-load seed`: it fills a stopped server's store
// with grants, each with its refresh token, the records a code exchange
// leaves behind, written through the store in batches rather than through
// HTTP, so that a server can then be measured on a store of a given size.
func seedMain(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	backend := fs.String("backend", "badger", "badger or postgres")
	dir := fs.String("dir", "", "Badger: the server's storage.dir")
	dsn := fs.String("dsn", os.Getenv("GATEHOUSE_STORAGE__POSTGRES__DSN"), "PostgreSQL: the server's storage.postgres.dsn")
	grants := fs.Int("grants", 10000, "grants to store, each with a refresh token")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "lifetime of the grants and their refresh tokens")
	client := fs.String("client", "seeded-client", "the client_id the grants belong to")
	perBatch := fs.Int("batch", 100, "grants per atomic write")
	workers := fs.Int("c", 4, "concurrent writers")
	_ = fs.Parse(args)
	if *grants < 0 || *perBatch < 1 || *workers < 1 {
		return errors.New("seed: -grants must be >= 0, -batch and -c >= 1")
	}

	ctx := context.Background()
	var kv store.KV
	switch *backend {
	case "badger":
		if *dir == "" {
			return errors.New("seed: -dir is required for badger")
		}
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return err
		}
		// Unsynced writes: the seed is flushed at Close, and the server
		// writes with its own settings afterwards.
		db, err := badger.Open(*dir, badger.Options{})
		if err != nil {
			return err
		}
		kv = db
	case "postgres":
		if *dsn == "" {
			return errors.New("seed: -dsn (or GATEHOUSE_STORAGE__POSTGRES__DSN) is required for postgres")
		}
		db, err := postgres.Open(ctx, *dsn, postgres.Options{MaxConns: int32(*workers)})
		if err != nil {
			return err
		}
		kv = db
	default:
		return fmt.Errorf("seed: unknown backend %q", *backend)
	}
	st := store.New(kv)

	start := time.Now()
	expires := start.Add(*ttl)
	var next, written atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, *workers)
	for w := range *workers {
		wg.Go(func() {
			for {
				from := int(next.Add(int64(*perBatch))) - *perBatch
				if from >= *grants {
					return
				}
				n := min(*perBatch, *grants-from)
				writes, err := grantWrites(st, *client, from, n, start, expires)
				if err == nil {
					err = st.Apply(ctx, writes...)
				}
				if err != nil {
					errs[w] = fmt.Errorf("seed: grants %d to %d: %w", from, from+n, err)
					return
				}
				written.Add(int64(n))
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	took := time.Since(start)
	// A server has long compacted what it holds; the seed leaves that
	// work to be done, which a measurement would count.
	if cerr := st.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("seed: close: %w", cerr))
	}
	var settle time.Duration
	if *backend == "badger" && err == nil {
		sctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		err = badger.SettleDir(sctx, *dir, badger.Options{})
		cancel()
		settle = time.Since(start) - took
	}
	fmt.Printf("seeded %d grants with refresh tokens (%d records) in %.2fs (%s, expiring %s; compactions settled after %.1fs more)\n",
		written.Load(), 2*written.Load(), took.Seconds(), *backend, expires.UTC().Format(time.RFC3339), settle.Seconds())
	return err
}

// grantWrites are the creates of n grants, numbered from first, and one
// refresh token each, as an authorization code exchange with
// offline_access records them.
func grantWrites(st *store.Store, clientID string, first, n int, now, expires time.Time) ([]store.Write, error) {
	writes := make([]store.Write, 0, 2*n)
	verified := true
	for i := first; i < first+n; i++ {
		g := store.Grant{
			ID:       oauth.RandomToken(16),
			ClientID: clientID,
			Subject:  fmt.Sprintf("user:default/seeded-%d", i),
			Profile: store.Profile{
				Email:         fmt.Sprintf("seeded-%d@example.com", i),
				DisplayName:   fmt.Sprintf("Seeded User %d", i),
				EmailVerified: &verified,
			},
			Ownership: []string{fmt.Sprintf("user:default/seeded-%d", i), "group:default/team-" + fmt.Sprint(i%50)},
			Scope:     "openid offline_access",
			AuthTime:  now,
			CreatedAt: now,
			ExpiresAt: expires,
		}
		gw, err := st.Grants.CreateWrite(g.ID, g)
		if err != nil {
			return nil, err
		}
		rw, err := st.RefreshTokens.CreateWrite(store.HashID(oauth.RandomToken(32)), store.RefreshToken{
			GrantID: g.ID, ClientID: clientID, Scope: g.Scope, IssuedAt: now, ExpiresAt: expires,
		})
		if err != nil {
			return nil, err
		}
		writes = append(writes, gw, rw)
	}
	return writes, nil
}
