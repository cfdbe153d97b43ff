package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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

// ExportQueries runs each export of the task: the saved query as the reporting role,
// streamed into its table of the target connection.
func (a *SQLExports) ExportQueries(ctx context.Context, in TaskInput) (TaskOutput, error) {
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return TaskOutput{}, err
	}
	c, err := tasktype.DecodeStored(task.Type, task.Config)
	cfg, ok := c.(*tasktype.SQLExportConfig)
	if err != nil || !ok {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is not a valid %s task: %v", task.ID, tasktype.SQLExport, err), ErrTypeInvalidConfig, nil)
	}
	started := time.Now()
	svc := &dataout.Service{Store: a.Store, Keyring: a.Keyring, Reporting: a.Reporting}
	conn, target, err := svc.OpenTarget(ctx, cfg.Connection)
	if errors.Is(err, dataout.ErrNoConnection) {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	if err != nil {
		return TaskOutput{}, err // the target is down or refuses: retried
	}
	defer target.Close()
	det := SQLExportDetails{Connection: conn.Name, Target: fmt.Sprintf("%s %s:%d/%s", conn.Type, conn.Host, conn.Port, conn.Database),
		Attempt: activity.GetInfo(ctx).Attempt}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	hb := newHeartbeater(ctx, every)
	defer hb.stop()
	counts := map[string]int64{"tables": 0, "rows_written": 0, "rows_deleted": 0}
	for i, x := range cfg.Exports {
		q, err := a.Store.SavedQueries.GetByName(ctx, x.Query)
		if errors.Is(err, store.ErrNotFound) {
			return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("exports[%d]: there is no saved query named %q", i, x.Query), ErrTypeInvalidConfig, nil)
		}
		if err != nil {
			return TaskOutput{}, err
		}
		prog := SQLProgress{Table: x.Table, Done: i, Of: len(cfg.Exports)}
		hb.set(prog)
		start := time.Now()
		var res sqlout.Result
		var written []sqlout.Column
		err = a.Reporting.Query(ctx, q.SQL, sqlout.Options{Timeout: time.Duration(cfg.TimeoutSeconds) * time.Second}, func(cols []sqlout.Column, rows pgx.Rows) error {
			short, err := sqlout.ShortColumns(cols, conn.Type)
			if err != nil {
				return &sqlout.Refused{Msg: err.Error()}
			}
			written = short
			res, err = target.Write(ctx, sqlout.Export{Table: x.Table, Columns: short, Mode: x.Mode, Keys: x.KeyColumns, DeleteMissing: x.DeleteMissing,
				SchemaChange: cfg.SchemaChange, RunID: runID, MaxRows: cfg.MaxRows}, &rowsSource{rows: rows, prog: &prog, hb: hb})
			return err
		})
		if err != nil {
			return TaskOutput{}, sqlError(fmt.Errorf("export of %q to %s: %w", x.Query, x.Table, err))
		}
		raw, _ := json.Marshal(written)
		if err := a.Store.RecordExport(ctx, &store.ExportTable{TaskID: task.ID, ConnectionID: conn.ID, Table: res.Table, Columns: raw, Rows: res.Written,
			RunID: runID, RefreshedAt: time.Now().UTC()}); err != nil {
			return TaskOutput{}, err
		}
		det.Tables = append(det.Tables, SQLExportTable{Query: q.Name, Result: res, Mode: x.Mode, DurationMS: time.Since(start).Milliseconds()})
		counts["tables"]++
		counts["rows_written"] += res.Written
		counts["rows_deleted"] += res.Deleted
	}
	det.DurationMS = time.Since(started).Milliseconds()
	if err := a.Store.Runs.SetDetails(ctx, runID, &det); err != nil {
		return TaskOutput{}, fmt.Errorf("record run details: %w", err)
	}
	activity.GetLogger(ctx).Info("queries exported", "task", task.Name, "counts", counts)
	return TaskOutput{Counts: counts}, nil
}
