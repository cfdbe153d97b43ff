package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/dataout"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// ErrTypeSQL: a query, script or export that its SQL, settings or result prevent (bad SQL,
// a changed schema under the fail policy, a repeated key, too many rows): final.
const ErrTypeSQL = "SQLRefused"

// SQLExports executes the Export Queries to SQL Tables task.
type SQLExports struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the connections' passwords. Required.
	Keyring *secrets.Keyring
	// Reporting runs the saved queries as the reporting role. Required for runs to succeed.
	Reporting *sqlout.Reporting
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 5s.
	HeartbeatEvery time.Duration
}

// SQLExportTable is what one export of a run did.
type SQLExportTable struct {
	Query string `json:"query"`
	sqlout.Result
	Mode       string `json:"mode"`
	DurationMS int64  `json:"duration_ms"`
}

// SQLExportDetails is what an export run records.
type SQLExportDetails struct {
	Connection string           `json:"connection"`
	Target     string           `json:"target"`
	Tables     []SQLExportTable `json:"tables"`
	Attempt    int32            `json:"attempt"`
	DurationMS int64            `json:"duration_ms"`
}

// SQLProgress is the heartbeat of a data-out run.
type SQLProgress struct {
	Table string
	Done  int
	Of    int
	Rows  int64
}

// rowsSource streams a query's rows into a target, counting them for the heartbeat.
type rowsSource struct {
	rows pgx.Rows
	prog *SQLProgress
	hb   *heartbeater
}

func (s *rowsSource) Next() bool {
	if !s.rows.Next() {
		return false
	}
	if s.prog.Rows++; s.prog.Rows%10_000 == 0 {
		s.hb.set(*s.prog)
	}
	return true
}

func (s *rowsSource) Values() ([]any, error) { return s.rows.Values() }
func (s *rowsSource) Err() error             { return s.rows.Err() }

// sqlError makes a data-out failure an activity error: what the SQL, settings or result
// prevent is final; a target or database that went away is retried (each table is written
// in one transaction, so a retry starts from what committed).
func sqlError(err error) error {
	var qe *sqlout.QueryError
	var rf *sqlout.Refused
	switch {
	case errors.As(err, &qe), errors.As(err, &rf), errors.Is(err, sqlout.ErrTooManyRows), errors.Is(err, sqlout.ErrNoReportingRole):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeSQL, nil)
	}
	return err
}

// sqlRun is one data-out run: its task, target and bookkeeping.
type sqlRun struct {
	runID   uuid.UUID
	task    *store.Task
	conn    *store.DBConnection
	target  sqlout.Target
	hb      *heartbeater
	det     SQLExportDetails
	counts  map[string]int64
	started time.Time
}

// openSQLRun loads the task, decodes its configuration into cfg and connects to the target
// connection it names (connection(cfg)).
func openSQLRun[C tasktype.Config](ctx context.Context, st *store.Store, keys *secrets.Keyring, in TaskInput, every time.Duration,
	connection func(C) string) (*sqlRun, C, error) {
	var cfg C
	runID, task, err := loadTask(ctx, st, in)
	if err != nil {
		return nil, cfg, err
	}
	c, err := tasktype.DecodeStored(task.Type, task.Config)
	cfg, ok := c.(C)
	if err != nil || !ok {
		return nil, cfg, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is not a valid %s task: %v", task.ID, task.Type, err), ErrTypeInvalidConfig, nil)
	}
	svc := &dataout.Service{Store: st, Keyring: keys}
	conn, target, err := svc.OpenTarget(ctx, connection(cfg))
	if errors.Is(err, dataout.ErrNoConnection) {
		return nil, cfg, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	if err != nil {
		return nil, cfg, err // the target is down or refuses: retried
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	r := &sqlRun{runID: runID, task: task, conn: conn, target: target, hb: newHeartbeater(ctx, every), started: time.Now(),
		counts: map[string]int64{"tables": 0, "rows_written": 0, "rows_deleted": 0},
		det: SQLExportDetails{Connection: conn.Name, Target: fmt.Sprintf("%s %s:%d/%s", conn.Type, conn.Host, conn.Port, conn.Database),
			Attempt: activity.GetInfo(ctx).Attempt, Tables: []SQLExportTable{}}}
	return r, cfg, nil
}

func (r *sqlRun) close() {
	r.hb.stop()
	_ = r.target.Close()
}

// write streams one result into its table and records what it did.
func (r *sqlRun) write(ctx context.Context, st *store.Store, label string, cols []sqlout.Column, rows pgx.Rows, e sqlout.Export, prog *SQLProgress) error {
	start := time.Now()
	short, err := sqlout.ShortColumns(cols, r.conn.Type)
	if err != nil {
		return &sqlout.Refused{Msg: err.Error()}
	}
	e.Columns, e.RunID = short, r.runID
	res, err := r.target.Write(ctx, e, &rowsSource{rows: rows, prog: prog, hb: r.hb})
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(short)
	if err := st.RecordExport(ctx, &store.ExportTable{TaskID: r.task.ID, ConnectionID: r.conn.ID, Table: res.Table, Columns: raw, Rows: res.Written,
		RunID: r.runID, RefreshedAt: time.Now().UTC()}); err != nil {
		return err
	}
	r.det.Tables = append(r.det.Tables, SQLExportTable{Query: label, Result: res, Mode: e.Mode, DurationMS: time.Since(start).Milliseconds()})
	r.counts["tables"]++
	r.counts["rows_written"] += res.Written
	r.counts["rows_deleted"] += res.Deleted
	return nil
}

func (r *sqlRun) finish(ctx context.Context, st *store.Store) (TaskOutput, error) {
	r.det.DurationMS = time.Since(r.started).Milliseconds()
	if err := st.Runs.SetDetails(ctx, r.runID, &r.det); err != nil {
		return TaskOutput{}, fmt.Errorf("record run details: %w", err)
	}
	activity.GetLogger(ctx).Info("data out written", "task", r.task.Name, "type", r.task.Type, "counts", r.counts)
	return TaskOutput{Counts: r.counts}, nil
}

// ExportQueries runs each export of the task: the saved query as the reporting role,
// streamed into its table of the target connection.
func (a *SQLExports) ExportQueries(ctx context.Context, in TaskInput) (TaskOutput, error) {
	r, cfg, err := openSQLRun(ctx, a.Store, a.Keyring, in, a.HeartbeatEvery, func(c *tasktype.SQLExportConfig) string { return c.Connection })
	if err != nil {
		return TaskOutput{}, err
	}
	defer r.close()
	for i, x := range cfg.Exports {
		q, err := a.Store.SavedQueries.GetByName(ctx, x.Query)
		if errors.Is(err, store.ErrNotFound) {
			return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("exports[%d]: there is no saved query named %q", i, x.Query), ErrTypeInvalidConfig, nil)
		}
		if err != nil {
			return TaskOutput{}, err
		}
		prog := SQLProgress{Table: x.Table, Done: i, Of: len(cfg.Exports)}
		r.hb.set(prog)
		err = a.Reporting.Query(ctx, q.SQL, sqlout.Options{Timeout: time.Duration(cfg.TimeoutSeconds) * time.Second}, func(cols []sqlout.Column, rows pgx.Rows) error {
			return r.write(ctx, a.Store, q.Name, cols, rows, sqlout.Export{Table: x.Table, Mode: x.Mode, Keys: x.KeyColumns, DeleteMissing: x.DeleteMissing,
				SchemaChange: cfg.SchemaChange, MaxRows: cfg.MaxRows}, &prog)
		})
		if err != nil {
			return TaskOutput{}, sqlError(fmt.Errorf("export of %q to %s: %w", x.Query, x.Table, err))
		}
	}
	return r.finish(ctx, a.Store)
}
