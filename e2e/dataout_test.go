package e2e

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/tributary-io/tributary/internal/mariadbtest"
	"github.com/tributary-io/tributary/internal/testenv"
)

// Data out as a new user runs it: connections to a second PostgreSQL database and to a
// MariaDB (tested, password write-only), a saved query checked through the database (bad SQL
// and reads outside the reporting schema refused with where), exported to a table of each,
// and read back with the databases' own clients.
func TestDataOutThroughAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	maria := mariadbtest.Start(t)
	maria.CreateDatabase(t, "dashboards")
	maria.CreateUser(t, "tributary", "my-Secret-2", "dashboards")
	pgURL, err := url.Parse(testenv.EmptyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	pgPort, _ := strconv.Atoi(pgURL.Port())
	pgDB := strings.TrimPrefix(pgURL.Path, "/")

	// Some data: the assets of a Qualys report.
	var f fileView
	s.send(s.token, "POST", "/api/v1/files?name=adr.xml", "application/xml", bytes.NewReader(xmlFixture(t, "qualys_asset_data_report.xml"))).decode(t, &f)
	var imp taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "xml_assets", "name": "assets", "config": map[string]any{
		"file_id": f.ID, "preset": "qualys_asset_data_report_assets"}}, &imp)
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+imp.ID+"/runs", nil, &tr)
	if r := s.waitRun(tr.RunID, 60*time.Second); r.Status != "succeeded" {
		t.Fatalf("import: %+v", r)
	}

	type connView struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		PasswordSet bool   `json:"password_set"`
		Password    string `json:"password"`
	}
	var pgConn, myConn connView
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "warehouse", "type": "postgres", "host": pgURL.Hostname(),
		"port": pgPort, "database": pgDB, "username": "postgres", "password": "pg-Secret-1", "tls_mode": "disable"}, &pgConn)
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "dashboards", "type": "mysql", "host": maria.Host,
		"port": maria.Port, "database": "dashboards", "username": "tributary", "password": "my-Secret-2", "tls_mode": "disable"}, &myConn)
	if !pgConn.PasswordSet || pgConn.Password != "" {
		t.Fatalf("connection view: %+v", pgConn)
	}
	r := s.do("POST", "/api/v1/db-connections", map[string]any{"name": "Warehouse", "type": "oracle", "host": "db", "database": "x", "username": "u"})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"type"`) {
		t.Fatalf("bad connection: %d %s", r.status, r.body)
	}
	type report struct {
		OK      bool   `json:"ok"`
		Version string `json:"version"`
		Error   string `json:"error"`
	}
	var rep report
	for _, id := range []string{pgConn.ID, myConn.ID} {
		rep = report{}
		s.must(http.StatusOK, "POST", "/api/v1/db-connections/"+id+"/test", nil, &rep)
		if !rep.OK || rep.Version == "" {
			t.Fatalf("test connection: %+v", rep)
		}
	}
	var bad connView
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "nowhere", "type": "mysql", "host": "127.0.0.1",
		"port": 1, "database": "x", "username": "u", "password": "never-Shown-3", "tls_mode": "disable"}, &bad)
	rep = report{}
	s.must(http.StatusOK, "POST", "/api/v1/db-connections/"+bad.ID+"/test", nil, &rep)
	if rep.OK || rep.Error == "" || strings.Contains(rep.Error, "never-Shown-3") {
		t.Fatalf("a connection that cannot connect: %+v", rep)
	}

	// Saved queries are checked by the database, as the reporting role.
	for sql, want := range map[string]string{
		"SELECT name,\n  nonesuch FROM assets":   "line 2, column 3",
		"SELECT * FROM public.integration_tasks": "permission denied",
		"DELETE FROM assets":                     "returns no rows",
		"SELECT ip_addresses FROM assets":        "cast it",
	} {
		r := s.do("POST", "/api/v1/saved-queries", map[string]any{"name": "bad", "sql": sql})
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"sql"`) || !strings.Contains(string(r.body), want) {
			t.Errorf("%q: %d %s", sql, r.status, r.body)
		}
	}
	var q struct {
		ID      string           `json:"id"`
		Columns []map[string]any `json:"columns"`
	}
	s.must(http.StatusCreated, "POST", "/api/v1/saved-queries", map[string]any{"name": "Assets by OS",
		"sql": "SELECT os, count(*) AS assets, max(updated_at) AS last_change FROM assets GROUP BY os", "description": "for the dashboard"}, &q)
	if len(q.Columns) != 3 || q.Columns[1]["type"] != "bigint" {
		t.Fatalf("saved query: %+v", q)
	}
	if r := s.do("POST", "/api/v1/saved-queries", map[string]any{"name": "assets by os", "sql": "SELECT 1 AS one"}); r.status != http.StatusBadRequest {
		t.Fatalf("a taken name: %d %s", r.status, r.body)
	}

	for _, conn := range []string{"warehouse", "dashboards"} {
		var task taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "sql_export", "name": "export to " + conn, "config": map[string]any{
			"connection": conn, "exports": []map[string]any{{"query": "assets by os", "table": "assets_by_os"}}}}, &task)
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		run := s.waitRun(tr.RunID, 60*time.Second)
		if run.Status != "succeeded" || run.Counts["rows_written"] != 2 || run.Counts["tables"] != 1 {
			t.Fatalf("export to %s: %+v", conn, run)
		}
	}
	rows := func(driver, dsn, q string) string {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var out []string
		rs, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for rs.Next() {
			var os string
			var n int64
			if err := rs.Scan(&os, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s=%d", os, n))
		}
		return strings.Join(out, " ")
	}
	want := "Linux 5.x=1 Windows Server 2019 Datacenter 64 bit Edition Version 1809=1"
	if got := rows("pgx", pgURL.String(), "SELECT os, assets FROM assets_by_os ORDER BY os"); got != want {
		t.Errorf("postgres table: %q", got)
	}
	if got := rows("mysql", maria.DSN("dashboards"), "SELECT os, assets FROM assets_by_os ORDER BY os"); got != want {
		t.Errorf("mariadb table: %q", got)
	}
	if got := rows("mysql", maria.DSN("dashboards"), "SELECT table_name, row_count FROM tributary_refreshes"); got != "assets_by_os=2" {
		t.Errorf("refreshes: %q", got)
	}
	// A script: two statements (a semicolon inside a string, a comment), one snapshot, two tables.
	var script taskView
	r = s.do("POST", "/api/v1/tasks", map[string]any{"type": "sql_script", "name": "script", "config": map[string]any{
		"connection": "dashboards", "script": "SELECT 1 AS one; SELECT 2 AS two", "tables": []string{"only_one"}}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "config.tables") {
		t.Fatalf("a table per statement: %d %s", r.status, r.body)
	}
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "sql_script", "name": "script", "config": map[string]any{
		"connection": "warehouse", "tables": []string{"asset_names", "asset_totals"},
		"script": "-- names; then totals\nSELECT name, 'a;b' AS note FROM assets;\nSELECT os, count(*) AS assets FROM assets GROUP BY os"}}, &script)
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+script.ID+"/runs", nil, &tr)
	if run := s.waitRun(tr.RunID, 60*time.Second); run.Status != "succeeded" || run.Counts["tables"] != 2 || run.Counts["rows_written"] != 4 {
		t.Fatalf("script: %+v", run)
	}
	if got := rows("pgx", pgURL.String(), "SELECT os, assets FROM asset_totals ORDER BY os"); got != want {
		t.Errorf("script table: %q", got)
	}

	// The dashboard service writes its schema into the MariaDB; a second run the same day
	// replaces that day's rows.
	var dash taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "dashboard_service", "name": "dashboard", "config": map[string]any{
		"connection": "dashboards"}}, &dash)
	for _, tables := range []int64{8, 7} { // the first run writes "not performed yet" first
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+dash.ID+"/runs", nil, &tr)
		if run := s.waitRun(tr.RunID, 60*time.Second); run.Status != "succeeded" || run.Counts["tables"] != tables {
			t.Fatalf("dashboard: %+v", run)
		}
	}
	if got := rows("mysql", maria.DSN("dashboards"), "SELECT status, last_updated IS NOT NULL FROM dashboard_status"); got != "performed=1" {
		t.Errorf("dashboard status: %q", got)
	}
	if got := rows("mysql", maria.DSN("dashboards"), "SELECT source, active FROM dash_assets_daily ORDER BY source"); got != "xml=2" {
		t.Errorf("dash_assets_daily: %q", got)
	}
	if got := rows("mysql", maria.DSN("dashboards"), "SELECT run_type, succeeded FROM dash_run_health_daily WHERE run_type = 'sql_export'"); got != "sql_export=2" {
		t.Errorf("dash_run_health_daily: %q", got)
	}

	// A task naming no connection fails with a clear message.
	var none taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "sql_export", "name": "export nowhere", "config": map[string]any{
		"connection": "nope", "exports": []map[string]any{{"query": "assets by os", "table": "t"}}}}, &none)
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+none.ID+"/runs", nil, &tr)
	if run := s.waitRun(tr.RunID, 60*time.Second); run.Status != "failed" || !strings.Contains(run.Error, `no database connection named "nope"`) {
		t.Fatalf("no connection: %+v", run)
	}
}

// The worker process is killed with SIGKILL while an export streams rows into MariaDB: the
// target's transaction dies with the connection (readers keep the previous rows), and a
// fresh worker's retry leaves what one clean run leaves.
func TestExportSurvivesWorkerKill(t *testing.T) {
	bin := buildWorker(t)
	s := newStack(t, stackOptions{noWorker: true})
	maria := mariadbtest.Start(t)
	maria.CreateDatabase(t, "out")
	maria.CreateUser(t, "exporter", "exp-Secret-4", "out")
	w := s.startProcess(bin, "worker-1")
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "out", "type": "mysql", "host": maria.Host,
		"port": maria.Port, "database": "out", "username": "exporter", "password": "exp-Secret-4", "tls_mode": "disable"}, nil)
	s.must(http.StatusCreated, "POST", "/api/v1/saved-queries", map[string]any{"name": "numbers",
		"sql": "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 2000000) g"}, nil)
	var task taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "sql_export", "name": "numbers out", "max_attempts": 3,
		"config": map[string]any{"connection": "out", "exports": []map[string]any{{"query": "numbers", "table": "numbers"}}}}, &task)
	db, err := sql.Open("mysql", maria.DSN("out"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
	// Once the export's INSERTs run (its transaction is open), let it write a while, then kill.
	testenv.Eventually(t, 60*time.Second, func() error {
		var inserting int
		if err := db.QueryRow("SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = 'exporter' AND INFO LIKE 'INSERT INTO `numbers`%'").Scan(&inserting); err != nil {
			return err
		}
		if inserting == 0 {
			r := s.do("GET", "/api/v1/runs/"+tr.RunID, nil)
			if strings.Contains(string(r.body), `"succeeded"`) {
				t.Fatalf("the export ended before it could be killed: %s", r.body)
			}
			return fmt.Errorf("the export does not insert yet")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	killProcess(t, w)
	var n int64
	if err := db.QueryRow("SELECT count(*) FROM numbers").Scan(&n); err != nil || n != 0 {
		t.Fatalf("readers see %d rows of a dead export (%v)", n, err)
	}
	s.startProcess(bin, "worker-2")
	run := s.waitRun(tr.RunID, 120*time.Second)
	if run.Status != "succeeded" || run.Attempt < 2 || run.Counts["rows_written"] != 2_000_000 {
		t.Fatalf("run after the kill: %+v", run)
	}
	var sum, refreshed int64
	if err := db.QueryRow("SELECT count(*), sum(n) FROM numbers").Scan(&n, &sum); err != nil || n != 2_000_000 || sum != 2_000_000*2_000_001/2 {
		t.Fatalf("table after the retry: %d rows, sum %d (%v)", n, sum, err)
	}
	if err := db.QueryRow("SELECT row_count FROM tributary_refreshes WHERE table_name = 'numbers'").Scan(&refreshed); err != nil || refreshed != 2_000_000 {
		t.Fatalf("refresh record: %d (%v)", refreshed, err)
	}
}

// The worker process is killed after a SQL script's first table committed and before its
// second did: the retry writes both again from one snapshot and its counts are a clean
// run's — rows_deleted 0 on new tables, not the rows the dead attempt wrote (it once said
// 300,000; found by TestRandomWorkerKillsDuringTasks).
func TestScriptRetryAfterATableCommitted(t *testing.T) {
	bin := buildWorker(t)
	s := newStack(t, stackOptions{noWorker: true})
	maria := mariadbtest.Start(t)
	db := maria.CreateDatabase(t, "out")
	maria.CreateUser(t, "scripter", "scr-Secret-6", "out")
	w := s.startProcess(bin, "worker-1")
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "out", "type": "mysql", "host": maria.Host,
		"port": maria.Port, "database": "out", "username": "scripter", "password": "scr-Secret-6", "tls_mode": "disable"}, nil)
	const rows = 600_000
	var task taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "sql_script", "name": "odd and even", "max_attempts": 3,
		"config": map[string]any{"connection": "out", "tables": []string{"odd", "even"},
			"script": fmt.Sprintf("SELECT g AS n, md5(g::text) AS h FROM generate_series(1, %[1]d, 2) g; SELECT g AS n, md5(g::text) AS h FROM generate_series(2, %[1]d, 2) g", rows)}}, &task)
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
	testenv.Eventually(t, 60*time.Second, func() error {
		var odd, even int
		if err := db.QueryRow("SELECT COALESCE(sum(table_name = 'odd'), 0), COALESCE(sum(table_name = 'even'), 0) FROM tributary_refreshes").Scan(&odd, &even); err != nil {
			return err // the table does not exist yet
		}
		if even > 0 {
			t.Fatal("the second table committed before the worker could be killed")
		}
		if odd == 0 {
			return errors.New("the first table has not committed yet")
		}
		return nil
	})
	killProcess(t, w)
	s.startProcess(bin, "worker-2")
	run := s.waitRun(tr.RunID, 120*time.Second)
	want := map[string]int64{"tables": 2, "rows_written": rows, "rows_deleted": 0}
	if run.Status != "succeeded" || run.Attempt < 2 || fmt.Sprint(run.Counts) != fmt.Sprint(want) {
		t.Fatalf("run after the kill: %+v, want counts %v", run, want)
	}
	for _, table := range []string{"odd", "even"} {
		var n, deleted int64
		if err := db.QueryRow("SELECT (SELECT count(*) FROM `"+table+"`), run_deleted FROM tributary_refreshes WHERE table_name = ?", table).Scan(&n, &deleted); err != nil ||
			n != rows/2 || deleted != 0 {
			t.Errorf("%s: %d rows, run_deleted %d (%v)", table, n, deleted, err)
		}
	}
}
