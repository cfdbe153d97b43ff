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

// Dashboards executes the Dashboard Integration Service.
type Dashboards struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the connections' passwords. Required.
	Keyring *secrets.Keyring
	// Reporting reads the reporting schema as the reporting role. Required for runs to succeed.
	Reporting *sqlout.Reporting
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 5s.
	HeartbeatEvery time.Duration
}

// DashboardTable is one table of the dashboard schema: the query over the reporting schema
// that fills it, and its key. Snapshots are upserted by key, so each day keeps its rows and
// a second run on one day replaces that day's.
type DashboardTable struct {
	Table string
	Keys  []string
	SQL   string
}

// DashboardStatusTable holds the dashboard's "last updated" row.
const DashboardStatusTable = "dashboard_status"

// DashboardSchema is the fixed dashboard schema, documented in the README.
var DashboardSchema = []DashboardTable{
	{Table: "dash_findings_daily", Keys: []string{"snapshot_date", "product", "severity"}, SQL: `
		SELECT current_date AS snapshot_date, product_name AS product, severity,
			count(*) FILTER (WHERE active) AS open, count(*) FILTER (WHERE NOT active) AS closed
		FROM findings GROUP BY product_name, severity`},
	{Table: "dash_occurrences_daily", Keys: []string{"snapshot_date", "asset_id", "severity"}, SQL: `
		SELECT current_date AS snapshot_date, o.asset_id, min(a.name) AS asset, v.severity,
			count(*) FILTER (WHERE o.status NOT IN ('closed', 'expired')) AS open,
			count(*) FILTER (WHERE o.status IN ('closed', 'expired')) AS closed, sum(o.risk_score) AS risk_score
		FROM occurrences o JOIN vulnerabilities v ON v.id = o.vulnerability_id JOIN assets a ON a.id = o.asset_id
		GROUP BY o.asset_id, v.severity`},
	{Table: "dash_remediation_daily", Keys: []string{"snapshot_date", "source", "severity"}, SQL: `
		SELECT current_date AS snapshot_date, 'occurrences' AS source, v.severity, count(*) AS closed_last_30_days,
			round((avg(extract(epoch FROM o.closed_at - o.first_found)) / 86400)::numeric, 2) AS mean_days_to_remediate
		FROM occurrences o JOIN vulnerabilities v ON v.id = o.vulnerability_id
		WHERE o.closed_at >= now() - interval '30 days' AND o.first_found IS NOT NULL GROUP BY v.severity
		UNION ALL
		SELECT current_date, 'findings', severity, count(*),
			round((avg(extract(epoch FROM inactivated_at - first_seen)) / 86400)::numeric, 2)
		FROM findings WHERE inactivated_at >= now() - interval '30 days' AND first_seen IS NOT NULL GROUP BY severity`},
	{Table: "dash_events_daily", Keys: []string{"snapshot_date", "status", "progress"}, SQL: `
		SELECT current_date AS snapshot_date, status, progress, count(*) AS events FROM (
			SELECT status, CASE WHEN progress = 0 THEN '0%' WHEN progress < 50 THEN '1-49%' WHEN progress < 100 THEN '50-99%' ELSE '100%' END AS progress
			FROM events) e
		GROUP BY status, progress`},
	{Table: "dash_assets_daily", Keys: []string{"snapshot_date", "source", "criticality"}, SQL: `
		SELECT current_date AS snapshot_date, source, criticality,
			count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE status <> 'active') AS retired FROM (
			SELECT source, status, CASE WHEN criticality IS NULL THEN 'unset' WHEN criticality >= 75 THEN '75-100' WHEN criticality >= 50 THEN '50-74'
				WHEN criticality >= 25 THEN '25-49' ELSE '0-24' END AS criticality
			FROM assets) a
		GROUP BY source, criticality`},
	{Table: "dash_run_health_daily", Keys: []string{"snapshot_date", "run_type"}, SQL: `
		SELECT current_date AS snapshot_date, COALESCE(task_type, kind) AS run_type, count(*) AS runs,
			count(*) FILTER (WHERE status = 'succeeded') AS succeeded, count(*) FILTER (WHERE status = 'failed') AS failed,
			max(started_at) AS last_run_at, round(avg(duration_ms)) AS mean_duration_ms
		FROM runs WHERE started_at >= now() - interval '1 day' GROUP BY COALESCE(task_type, kind)`},
}

// RefreshDashboard writes the dashboard schema into the task's target: the status row says
// "not performed yet" until the first refresh completes; every snapshot is read in one
// read-only transaction (one consistent moment) and upserted into its table; the status row
// then says "performed" with the time.
func (a *Dashboards) RefreshDashboard(ctx context.Context, in TaskInput) (TaskOutput, error) {
	r, cfg, err := openSQLRun(ctx, a.Store, a.Keyring, in, a.HeartbeatEvery, func(c *tasktype.DashboardConfig) string { return c.Connection })
	if err != nil {
		return TaskOutput{}, err
	}
	defer r.close()
	opts := sqlout.Options{Timeout: time.Duration(cfg.TimeoutSeconds) * time.Second}
	status := func(text, at string) error {
		sql := fmt.Sprintf("SELECT 'dashboard' AS component, '%s' AS status, %s AS last_updated", text, at)
		return a.Reporting.Query(ctx, sql, opts, func(cols []sqlout.Column, rows pgx.Rows) error {
			return r.write(ctx, a.Store, DashboardStatusTable, cols, rows, sqlout.Export{Table: DashboardStatusTable, Mode: sqlout.ModeIncremental,
				Keys: []string{"component"}, SchemaChange: sqlout.SchemaFail}, &SQLProgress{Table: DashboardStatusTable})
		})
	}
	written, err := a.Store.ExportTables(ctx, r.task.ID)
	if err != nil {
		return TaskOutput{}, err
	}
	first := true
	for _, x := range written {
		if x.ConnectionID == r.conn.ID && x.Table == DashboardStatusTable {
			first = false
		}
	}
	if first {
		if err := status("not performed yet", "NULL::timestamptz"); err != nil {
			return TaskOutput{}, sqlError(fmt.Errorf("dashboard status: %w", err))
		}
	}
	statements := make([]string, len(DashboardSchema))
	for i, t := range DashboardSchema {
		statements[i] = t.SQL
	}
	err = a.Reporting.QueryScript(ctx, statements, opts, func(i int, cols []sqlout.Column, rows pgx.Rows) error {
		t := DashboardSchema[i]
		prog := SQLProgress{Table: t.Table, Done: i, Of: len(DashboardSchema)}
		r.hb.set(prog)
		return r.write(ctx, a.Store, t.Table, cols, rows, sqlout.Export{Table: t.Table, Mode: sqlout.ModeIncremental, Keys: t.Keys,
			SchemaChange: sqlout.SchemaAddColumns}, &prog)
	})
	if err != nil {
		return TaskOutput{}, sqlError(fmt.Errorf("dashboard: %w", err))
	}
	if err := status("performed", "now()"); err != nil {
		return TaskOutput{}, sqlError(fmt.Errorf("dashboard status: %w", err))
	}
	return r.finish(ctx, a.Store)
}
