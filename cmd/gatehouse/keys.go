package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/keyset"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

const keysUsage = "usage: gatehouse keys rotate|list [--config FILE]"

// runKeys manages the signing keys in the data directory of a stopped
// server. A running server holds Badger's directory lock; it rotates
// through POST /admin/keys/rotate instead.
func runKeys(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return errors.New(keysUsage)
	}
	sub := args[0]
	cfg, _, err := loadConfig("keys "+sub, args[1:], nil)
	if err != nil {
		return err
	}
	switch {
	case cfg.Storage.Backend == "memory":
		return fmt.Errorf("keys %s: the memory backend lives only inside a running server (use POST /admin/keys/rotate)", sub)
	case cfg.Storage.Backend == "postgres" && sub == "rotate":
		// Running replicas would go on signing with the keys they loaded.
		return errors.New("keys rotate: with the postgres backend rotate through a running server with POST /admin/keys/rotate (admin.token)")
	}
	st, err := openKeyStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := keyset.Open(ctx, cfg, st)
	if err != nil {
		return err
	}
	if sub == "rotate" {
		made, err := keys.Rotate(ctx)
		if err != nil {
			return err
		}
		for _, key := range made {
			fmt.Fprintln(stdout, "new signing key:", key.ID, key.Algorithm)
		}
	}
	return listKeys(ctx, st, stdout)
}

// openKeyStore opens the data directory, explaining the lock a running
// server holds on it.
func openKeyStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := openStore(ctx, cfg, false)
	if err != nil && strings.Contains(err.Error(), "Another process is using this Badger database") {
		return nil, fmt.Errorf("the data directory %s is in use by a running gatehouse: stop it first, "+
			"or rotate through the running server with POST /admin/keys/rotate (admin.token)", cfg.Storage.Dir)
	}
	return st, err
}

// listKeys prints the stored keys (in kid order), with their state.
func listKeys(ctx context.Context, st *store.Store, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSEALED\tCREATED\tRETIRED\tEXPIRES")
	err := st.SigningKeys.List(ctx, func(id string, k store.SigningKey) error {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Sealed,
			stamp(k.CreatedAt), stamp(k.RetiredAt), stamp(k.ExpiresAt))
		return nil
	})
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
