package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Task is one configured integration task.
type Task struct {
	bun.BaseModel `bun:"table:integration_tasks"`

	ID                 uuid.UUID       `bun:"id,pk,type:uuid"`
	Type               string          `bun:"type,notnull"`
	Name               string          `bun:"name,notnull"`
	Description        string          `bun:"description,notnull"`
	Config             json.RawMessage `bun:"config,type:jsonb,notnull"`
	Schedule           string          `bun:"schedule,notnull"`
	Timezone           string          `bun:"timezone,notnull"`
	Enabled            bool            `bun:"enabled,notnull"`
	OverlapPolicy      string          `bun:"overlap_policy,notnull"`
	MaxDurationSeconds int             `bun:"max_duration_seconds,notnull"`
	MaxAttempts        int             `bun:"max_attempts,notnull"`
	CreatedAt          time.Time       `bun:"created_at,notnull"`
	UpdatedAt          time.Time       `bun:"updated_at,notnull"`
}

// Tasks reads and writes integration tasks.
type Tasks struct{ db bun.IDB }

// TaskFilter narrows a task listing; zero fields do not filter.
type TaskFilter struct {
	Type    string
	Enabled *bool
}

// Get returns the task with id, or ErrNotFound.
func (s *Tasks) Get(ctx context.Context, id uuid.UUID) (*Task, error) {
	t := new(Task)
	err := s.db.NewSelect().Model(t).Where("id = ?", id).Scan(ctx)
	return t, mapError(err)
}

// List returns tasks ordered by name.
func (s *Tasks) List(ctx context.Context, f TaskFilter) ([]Task, error) {
	var out []Task
	q := s.db.NewSelect().Model(&out).OrderExpr("lower(name), id")
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.Enabled != nil {
		q = q.Where("enabled = ?", *f.Enabled)
	}
	return out, mapError(q.Scan(ctx))
}

// Insert stores a new task.
func (s *Tasks) Insert(ctx context.Context, t *Task) error {
	_, err := s.db.NewInsert().Model(t).Exec(ctx)
	return mapError(err)
}

// Update replaces every mutable column of t.
func (s *Tasks) Update(ctx context.Context, t *Task) error {
	res, err := s.db.NewUpdate().Model(t).
		Column("name", "description", "config", "schedule", "timezone", "enabled", "overlap_policy",
			"max_duration_seconds", "max_attempts", "updated_at").
		WherePK().Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete removes the task with id. Its run history stays.
func (s *Tasks) Delete(ctx context.Context, id uuid.UUID) error {
	res, err := s.db.NewDelete().Model((*Task)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetForUpdate returns the task with id and locks its row until the transaction ends.
func (s *Tasks) GetForUpdate(ctx context.Context, id uuid.UUID) (*Task, error) {
	t := new(Task)
	err := s.db.NewSelect().Model(t).Where("id = ?", id).For("UPDATE").Scan(ctx)
	return t, mapError(err)
}

// ListForUpdate returns every task and locks the rows until the transaction ends.
func (s *Tasks) ListForUpdate(ctx context.Context) ([]Task, error) {
	var out []Task
	return out, mapError(s.db.NewSelect().Model(&out).OrderExpr("id").For("UPDATE").Scan(ctx))
}
