package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// DBConnection is a target database of the data-out tasks. Password is sealed.
type DBConnection struct {
	bun.BaseModel `bun:"table:db_connections,alias:c"`

	ID        uuid.UUID `bun:"id,pk,type:uuid"`
	Name      string    `bun:"name,notnull"`
	Type      string    `bun:"db_type,notnull"`
	Host      string    `bun:"host,notnull"`
	Port      int       `bun:"port,notnull"`
	Database  string    `bun:"database,notnull"`
	Username  string    `bun:"username,notnull"`
	Password  string    `bun:"password,notnull"`
	TLSMode   string    `bun:"tls_mode,notnull"`
	CAPEM     string    `bun:"ca_pem,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// SavedQuery is SQL over the reporting schema, with the columns its result had when saved.
type SavedQuery struct {
	bun.BaseModel `bun:"table:saved_queries,alias:q"`

	ID          uuid.UUID       `bun:"id,pk,type:uuid"`
	Name        string          `bun:"name,notnull"`
	SQL         string          `bun:"sql,notnull"`
	Description string          `bun:"description,notnull"`
	Columns     json.RawMessage `bun:"columns,type:jsonb,notnull"`
	CreatedBy   string          `bun:"created_by,notnull"`
	CreatedAt   time.Time       `bun:"created_at,notnull"`
	UpdatedAt   time.Time       `bun:"updated_at,notnull"`
}

// ExportTable is what an export task last wrote to one target table.
type ExportTable struct {
	bun.BaseModel `bun:"table:export_tables,alias:x"`

	TaskID       uuid.UUID       `bun:"task_id,pk,type:uuid"`
	ConnectionID uuid.UUID       `bun:"connection_id,pk,type:uuid"`
	Table        string          `bun:"table_name,pk"`
	Columns      json.RawMessage `bun:"columns,type:jsonb,notnull"`
	Rows         int64           `bun:"rows,notnull"`
	RunID        uuid.UUID       `bun:"run_id,type:uuid,notnull"`
	RefreshedAt  time.Time       `bun:"refreshed_at,notnull"`
}

// Named is a repository of rows of type T with an id and a case-insensitive unique name.
type Named[T any] struct {
	db bun.IDB
}

// List returns every row, ordered by name.
func (s *Named[T]) List(ctx context.Context) ([]T, error) {
	out := []T{}
	return out, mapError(s.db.NewSelect().Model(&out).OrderExpr("lower(name), id").Scan(ctx))
}

// Get returns the row with id, or ErrNotFound.
func (s *Named[T]) Get(ctx context.Context, id uuid.UUID) (*T, error) {
	v := new(T)
	return v, mapError(s.db.NewSelect().Model(v).Where("id = ?", id).Scan(ctx))
}

// GetByName returns the row named name (in any case), or ErrNotFound.
func (s *Named[T]) GetByName(ctx context.Context, name string) (*T, error) {
	v := new(T)
	return v, mapError(s.db.NewSelect().Model(v).Where("lower(name) = lower(?)", name).Scan(ctx))
}

// Insert stores a new row; a taken name is ErrDuplicate.
func (s *Named[T]) Insert(ctx context.Context, v *T) error {
	_, err := s.db.NewInsert().Model(v).Exec(ctx)
	return mapError(err)
}

// Update replaces the row with v's id, or returns ErrNotFound.
func (s *Named[T]) Update(ctx context.Context, v *T) error {
	res, err := s.db.NewUpdate().Model(v).WherePK().Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete removes the row with id, or returns ErrNotFound.
func (s *Named[T]) Delete(ctx context.Context, id uuid.UUID) error {
	res, err := s.db.NewDelete().Model((*T)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RecordExport stores what an export wrote to a table.
func (s *Store) RecordExport(ctx context.Context, x *ExportTable) error {
	_, err := s.DB.NewInsert().Model(x).On("CONFLICT (task_id, connection_id, table_name) DO UPDATE").
		Set("columns = EXCLUDED.columns, rows = EXCLUDED.rows, run_id = EXCLUDED.run_id, refreshed_at = EXCLUDED.refreshed_at").Exec(ctx)
	return mapError(err)
}

// ExportTables lists what a task's exports last wrote.
func (s *Store) ExportTables(ctx context.Context, taskID uuid.UUID) ([]ExportTable, error) {
	out := []ExportTable{}
	return out, mapError(s.DB.NewSelect().Model(&out).Where("task_id = ?", taskID).OrderExpr("table_name").Scan(ctx))
}
