package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-auth/gatehouse/core/store/postgres"
)

// runMigrate creates or migrates the postgres backend's schema and exits,
// for an operator who migrates before rolling out replicas (serve
// migrates at start as well).
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, nil)
	if err != nil {
		return err
	}
	if cfg.Storage.Backend != "postgres" {
		return fmt.Errorf("migrate works on the postgres backend; storage.backend is %s, whose data needs no migration", cfg.Storage.Backend)
	}
	pool, err := postgres.NewPool(ctx, cfg.Storage.Postgres.DSN, postgresOptions(cfg.Storage.Postgres))
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := postgres.Migrate(ctx, pool)
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied migration %04d\n", v)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema up to date")
	}
	return nil
}
