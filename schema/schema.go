// Package schema holds the Postgres schema as embedded bun migrations and the functions that
// apply them under bun's migration lock.
package schema

import (
	"context"
	"embed"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed migrations/*.sql
var sqlMigrations embed.FS

// Migrations is every migration of the schema, discovered from the embedded SQL files.
var Migrations = migrate.NewMigrations()

func init() {
	if err := Migrations.Discover(sqlMigrations); err != nil {
		panic(fmt.Sprintf("schema: embedded migrations are malformed: %v", err))
	}
}

// NewMigrator returns a migrator for db whose bookkeeping tables exist.
func NewMigrator(ctx context.Context, db *bun.DB) (*migrate.Migrator, error) {
	m := migrate.NewMigrator(db, Migrations, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("create migration tables: %w", err)
	}
	return m, nil
}

// Up applies every pending migration while holding the migration lock and returns the
// group that was applied (empty when the schema was current).
func Up(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	return locked(ctx, db, func(m *migrate.Migrator) (*migrate.MigrationGroup, error) {
		return m.Migrate(ctx)
	})
}

// Down rolls back the last applied group of migrations while holding the migration lock.
func Down(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	return locked(ctx, db, func(m *migrate.Migrator) (*migrate.MigrationGroup, error) {
		return m.Rollback(ctx)
	})
}

// Status lists every known migration with the group that applied it, if any.
func Status(ctx context.Context, db *bun.DB) (migrate.MigrationSlice, error) {
	m, err := NewMigrator(ctx, db)
	if err != nil {
		return nil, err
	}
	return m.MigrationsWithStatus(ctx)
}

// Pending reports how many migrations have not been applied yet.
func Pending(ctx context.Context, db *bun.DB) (int, error) {
	ms, err := Status(ctx, db)
	if err != nil {
		return 0, err
	}
	return len(ms.Unapplied()), nil
}

func locked(ctx context.Context, db *bun.DB, fn func(*migrate.Migrator) (*migrate.MigrationGroup, error)) (group *migrate.MigrationGroup, err error) {
	m, err := NewMigrator(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("take the migration lock (another migration may be running, or a crashed one left it: see `tributary-migrate unlock`): %w", err)
	}
	defer func() {
		if uerr := m.Unlock(context.WithoutCancel(ctx)); uerr != nil && err == nil {
			err = fmt.Errorf("release the migration lock: %w", uerr)
		}
	}()
	return fn(m)
}

// Unlock releases a migration lock left behind by a migration that crashed.
func Unlock(ctx context.Context, db *bun.DB) error {
	m, err := NewMigrator(ctx, db)
	if err != nil {
		return err
	}
	return m.Unlock(ctx)
}
