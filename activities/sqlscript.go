package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// SQLScripts executes the Run SQL Script task.
type SQLScripts struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the connections' passwords. Required.
	Keyring *secrets.Keyring
	// Reporting runs the script as the reporting role. Required for runs to succeed.
	Reporting *sqlout.Reporting
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 5s.
	HeartbeatEvery time.Duration
}

// RunSQLScript runs the task's script in one read-only transaction as the reporting role and
// writes each statement's result to its table (a full refresh of each).
func (a *SQLScripts) RunSQLScript(ctx context.Context, in TaskInput) (TaskOutput, error) {
	r, cfg, err := openSQLRun(ctx, a.Store, a.Keyring, in, a.HeartbeatEvery, func(c *tasktype.SQLScriptConfig) string { return c.Connection })
	if err != nil {
		return TaskOutput{}, err
	}
	defer r.close()
	statements := cfg.Statements()
	err = a.Reporting.QueryScript(ctx, statements, sqlout.Options{Timeout: time.Duration(cfg.TimeoutSeconds) * time.Second},
		func(i int, cols []sqlout.Column, rows pgx.Rows) error {
			prog := SQLProgress{Table: cfg.Tables[i], Done: i, Of: len(statements)}
			r.hb.set(prog)
			return r.write(ctx, a.Store, fmt.Sprintf("statement %d", i+1), cols, rows,
				sqlout.Export{Table: cfg.Tables[i], Mode: sqlout.ModeFull, SchemaChange: cfg.SchemaChange, MaxRows: cfg.MaxRows}, &prog)
		})
	if err != nil {
		return TaskOutput{}, sqlError(fmt.Errorf("script: %w", err))
	}
	return r.finish(ctx, a.Store)
}
