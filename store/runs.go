package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Run kinds, triggers and statuses as stored in runs.
const (
	KindTask              = "task"
	KindConnectorDiscover = "connector_discover"
	KindConnectorSync     = "connector_sync"

	TriggerScheduled = "scheduled"
	TriggerManual    = "manual"
	TriggerAPI       = "api"

	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusCancelled = "cancelled"
	StatusTimedOut  = "timed_out"
)

// Kinds, Triggers and Statuses list the values the runs table accepts.
var (
	Kinds    = []string{KindTask, KindConnectorDiscover, KindConnectorSync}
	Triggers = []string{TriggerScheduled, TriggerManual, TriggerAPI}
	Statuses = []string{StatusRunning, StatusSucceeded, StatusFailed, StatusSkipped, StatusCancelled, StatusTimedOut}
)

// Run is one row of run history.
type Run struct {
	bun.BaseModel `bun:"table:runs"`

	ID            uuid.UUID        `bun:"id,pk,type:uuid"`
	Kind          string           `bun:"kind,notnull"`
	TaskID        *uuid.UUID       `bun:"task_id,type:uuid"`
	TaskType      *string          `bun:"task_type"`
	ConnectorID   *uuid.UUID       `bun:"connector_id,type:uuid"`
	SubjectName   string           `bun:"subject_name,notnull"`
	Trigger       string           `bun:"trigger,notnull"`
	TriggeredBy   string           `bun:"triggered_by,notnull"`
	Status        string           `bun:"status,notnull"`
	StartedAt     time.Time        `bun:"started_at,notnull"`
	EndedAt       *time.Time       `bun:"ended_at"`
	DurationMS    *int64           `bun:"duration_ms"`
	WorkflowID    string           `bun:"workflow_id,notnull"`
	WorkflowRunID string           `bun:"workflow_run_id,notnull"`
	Attempt       int              `bun:"attempt,notnull"`
	Counts        map[string]int64 `bun:"counts,type:jsonb,notnull"`
	Details       json.RawMessage  `bun:"details,type:jsonb,notnull"`
	Error         string           `bun:"error,notnull"`
}

// Runs reads and writes run history.
type Runs struct{ db bun.IDB }

// RecordStart inserts a running run. A second call with the same ID (an activity retry)
// changes nothing and reports the stored row.
func (s *Runs) RecordStart(ctx context.Context, r *Run) error {
	_, err := s.RecordStartOnce(ctx, r)
	return err
}

// RecordStartOnce is RecordStart, saying whether this call inserted the run (false: an
// activity retry found it).
func (s *Runs) RecordStartOnce(ctx context.Context, r *Run) (bool, error) {
	r.Status = StatusRunning
	r.EndedAt, r.DurationMS = nil, nil
	return s.insertOnce(ctx, r)
}

// RecordSkipped inserts a run that never started because its exclusivity key was busy, and
// says whether this call inserted it.
func (s *Runs) RecordSkipped(ctx context.Context, r *Run) (bool, error) {
	r.Status = StatusSkipped
	ended := r.StartedAt
	var zero int64
	r.EndedAt, r.DurationMS = &ended, &zero
	return s.insertOnce(ctx, r)
}

// insertOnce inserts r unless a run with its ID exists (an activity retry).
func (s *Runs) insertOnce(ctx context.Context, r *Run) (bool, error) {
	if r.Counts == nil {
		r.Counts = map[string]int64{}
	}
	if len(r.Details) == 0 {
		r.Details = json.RawMessage(`{}`)
	}
	res, err := s.db.NewInsert().Model(r).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	if err != nil {
		return false, mapError(err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// RunEnd is the outcome written by Finish.
type RunEnd struct {
	Status  string
	EndedAt time.Time
	Counts  map[string]int64
	Error   string
}

// Finish closes a running run. It only changes a run that is still running, so a retried
// call, or a late call after the run was closed by reconciliation, changes nothing.
// It reports whether the row changed.
func (s *Runs) Finish(ctx context.Context, id uuid.UUID, end RunEnd) (bool, error) {
	if end.Counts == nil {
		end.Counts = map[string]int64{}
	}
	counts, err := json.Marshal(end.Counts)
	if err != nil {
		return false, err
	}
	res, err := s.db.NewUpdate().Model((*Run)(nil)).
		Set("status = ?", end.Status).
		Set("ended_at = greatest(?::timestamptz, started_at)", end.EndedAt).
		Set("duration_ms = (extract(epoch from (greatest(?::timestamptz, started_at) - started_at)) * 1000)::bigint", end.EndedAt).
		Set("counts = counts || ?::jsonb", string(counts)).
		Set("error = ?", end.Error).
		Where("id = ?", id).
		Where("status = ?", StatusRunning).
		Exec(ctx)
	if err != nil {
		return false, mapError(err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SetAttempt records which activity attempt is executing a running run.
func (s *Runs) SetAttempt(ctx context.Context, id uuid.UUID, attempt int) error {
	_, err := s.db.NewUpdate().Model((*Run)(nil)).Set("attempt = ?", attempt).
		Where("id = ?", id).Where("status = ?", StatusRunning).Exec(ctx)
	return mapError(err)
}

// SetDetails replaces the type-specific details of a run.
func (s *Runs) SetDetails(ctx context.Context, id uuid.UUID, details any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = s.db.NewUpdate().Model((*Run)(nil)).Set("details = ?::jsonb", string(b)).Where("id = ?", id).Exec(ctx)
	return mapError(err)
}

// Get returns the run with id, or ErrNotFound.
func (s *Runs) Get(ctx context.Context, id uuid.UUID) (*Run, error) {
	r := new(Run)
	return r, mapError(s.db.NewSelect().Model(r).Where("id = ?", id).Scan(ctx))
}

// GetByWorkflowRun returns the run executed by the Temporal run workflowRunID, or ErrNotFound.
func (s *Runs) GetByWorkflowRun(ctx context.Context, workflowRunID string) (*Run, error) {
	r := new(Run)
	err := s.db.NewSelect().Model(r).Where("workflow_run_id = ?", workflowRunID).
		Where("workflow_run_id <> ''").Limit(1).Scan(ctx)
	return r, mapError(err)
}

// ListRunning returns running runs that started before olderThan, oldest first.
func (s *Runs) ListRunning(ctx context.Context, olderThan time.Time, limit int) ([]Run, error) {
	var out []Run
	err := s.db.NewSelect().Model(&out).Where("status = ?", StatusRunning).
		Where("started_at < ?", olderThan).OrderExpr("started_at").Limit(int64(limit)).Scan(ctx)
	return out, mapError(err)
}

// RunFilter narrows a run listing; zero fields do not filter.
type RunFilter struct {
	TaskID        *uuid.UUID
	ConnectorID   *uuid.UUID
	Kind          string
	Status        string
	Trigger       string
	StartedAfter  *time.Time // inclusive
	StartedBefore *time.Time // exclusive
	// Cursor continues a listing after the last row of the previous page.
	Cursor string
	// Limit is the page size. Optional; defaults to 50.
	Limit int
}

// Apply adds the filter's conditions to q.
func (f RunFilter) Apply(q *bun.SelectQuery) *bun.SelectQuery {
	if f.TaskID != nil {
		q = q.Where("task_id = ?", *f.TaskID)
	}
	if f.ConnectorID != nil {
		q = q.Where("connector_id = ?", *f.ConnectorID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Trigger != "" {
		q = q.Where("trigger = ?", f.Trigger)
	}
	if f.StartedAfter != nil {
		q = q.Where("started_at >= ?", *f.StartedAfter)
	}
	if f.StartedBefore != nil {
		q = q.Where("started_at < ?", *f.StartedBefore)
	}
	return q
}

type runCursor struct {
	StartedAt time.Time `json:"t"`
	ID        uuid.UUID `json:"i"`
}

// List returns one page of runs, newest first, and the cursor of the next page ("" at the end).
// Details are not read (a listing does not show them; Get does).
func (s *Runs) List(ctx context.Context, f RunFilter) ([]Run, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Run, 0, f.Limit+1)
	q := s.db.NewSelect().Model(&out).ExcludeColumn("details").Apply(f.Apply)
	if f.Cursor != "" {
		var c runCursor
		if err := decodeCursor(f.Cursor, &c, func() bool { return c.ID != uuid.Nil && !c.StartedAt.IsZero() }, "run"); err != nil {
			return nil, "", err
		}
		q = q.Where("(started_at, id) < (?, ?)", c.StartedAt, c.ID)
	}
	err := q.OrderExpr("started_at DESC, id DESC").Limit(int64(f.Limit + 1)).Scan(ctx)
	if err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor(runCursor{StartedAt: last.StartedAt, ID: last.ID})
	}
	return out, next, nil
}

// LatestTaskRuns returns the newest run of each task in ids (tasks without runs have none),
// keyed by task ID; one index probe per task.
func (s *Runs) LatestTaskRuns(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Run, error) {
	return s.latest(ctx, "task_id", "", ids)
}

// LatestConnectorRuns returns the newest run of kind (KindConnectorDiscover or
// KindConnectorSync) of each connector in ids, keyed by connector ID.
func (s *Runs) LatestConnectorRuns(ctx context.Context, kind string, ids []uuid.UUID) (map[uuid.UUID]Run, error) {
	return s.latest(ctx, "connector_id", kind, ids)
}

func (s *Runs) latest(ctx context.Context, column, kind string, ids []uuid.UUID) (map[uuid.UUID]Run, error) {
	out := map[uuid.UUID]Run{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Run
	err := s.db.NewSelect().
		TableExpr("unnest(?::uuid[]) AS subject(id)", pgdialect.Array(ids)).
		Join("CROSS JOIN LATERAL (?) AS run", s.db.NewSelect().Model((*Run)(nil)).ExcludeColumn("details").
			Where("? = subject.id", bun.Ident(column)).
			Apply(func(q *bun.SelectQuery) *bun.SelectQuery {
				if kind != "" {
					q = q.Where("kind = ?", kind)
				}
				return q
			}).
			OrderExpr("started_at DESC, id DESC").Limit(1)).
		ColumnExpr("run.*").
		Scan(ctx, &rows)
	if err != nil {
		return nil, mapError(err)
	}
	for _, r := range rows {
		if column == "task_id" && r.TaskID != nil {
			out[*r.TaskID] = r
		} else if r.ConnectorID != nil {
			out[*r.ConnectorID] = r
		}
	}
	return out, nil
}

// PruneRuns removes the ended runs that started before before, with their record issues and
// import markers, in batches of batch rows, each its own short statement (so that no lock is
// held long and several workers can prune at once: locked rows are skipped). pause runs
// between batches. It returns how many runs it removed.
func (s *Runs) PruneRuns(ctx context.Context, before time.Time, batch int, pause func(context.Context) error) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `WITH doomed AS (
				SELECT id FROM runs WHERE started_at < ? AND status <> 'running'
				ORDER BY started_at LIMIT ? FOR UPDATE SKIP LOCKED),
			issues AS (DELETE FROM import_record_issues i USING doomed d WHERE i.run_id = d.id),
			marks AS (DELETE FROM scanner_imports m USING doomed d WHERE m.run_id = d.id)
			DELETE FROM runs r USING doomed d WHERE r.id = d.id`, before, batch)
		if err != nil {
			return total, mapError(err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(batch) {
			return total, nil
		}
		if err := pause(ctx); err != nil {
			return total, err
		}
	}
}
