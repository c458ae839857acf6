package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema's versioned migrations, NNNN_name.sql,
// applied in order and each once.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: want %04d_name.sql", e.Name(), len(ms)+1)
		}
		sql, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(sql)})
	}
	return ms, nil
}

// createMigrationsTable records which migrations a database has had.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS gatehouse_migrations (
    version    INT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// Migrate brings the database's schema up to date and returns the versions
// it applied. Replicas starting together may migrate at once: each
// migration runs in the transaction that records it, so the one that
// inserts the version row first applies it and the others, blocked on that
// row until it commits, find it done (no advisory lock, which CockroachDB
// lacks). A database migrated by a newer release is refused.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if err := createTable(ctx, pool); err != nil {
		return nil, mapErr("create the migrations table", err)
	}
	var newest int
	if err := pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM gatehouse_migrations`).Scan(&newest); err != nil {
		return nil, mapErr("read the schema version", err)
	}
	if newest > len(ms) {
		return nil, fmt.Errorf("postgres: the database's schema is at version %d, newer than this release's %d: upgrade Gatehouse", newest, len(ms))
	}
	var applied []int
	for _, m := range ms[newest:] {
		done, err := apply(ctx, pool, m)
		if err != nil {
			return applied, mapErr(fmt.Sprintf("migration %04d_%s", m.version, m.name), err)
		}
		if done {
			slog.Info("postgres: schema migrated", "version", m.version, "name", m.name)
			applied = append(applied, m.version)
		}
	}
	return applied, nil
}

// createTable creates the migrations table. Two PostgreSQL sessions
// creating it at once may fail with a unique violation although IF NOT
// EXISTS (on the table's name, 42P07, or on its row type's, 42710): the
// loser tries again and finds it.
func createTable(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, createMigrationsTable)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07" || pgErr.Code == "42710") {
		_, err = pool.Exec(ctx, createMigrationsTable)
	}
	return err
}

// apply runs m unless another process has, and says whether it did.
func apply(ctx context.Context, pool *pgxpool.Pool, m migration) (bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx, `INSERT INTO gatehouse_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`, m.version, m.name)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}
