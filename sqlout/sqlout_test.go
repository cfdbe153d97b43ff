package sqlout_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tributary-io/tributary/internal/mariadbtest"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
)

func TestShortIdentAndColumns(t *testing.T) {
	long := strings.Repeat("vulnérabilité_", 8)
	s := sqlout.ShortIdent(long, 63)
	if len(s) > 63 || s != sqlout.ShortIdent(long, 63) || !strings.HasPrefix(long, s[:40]) {
		t.Fatalf("short %q (%d bytes)", s, len(s))
	}
	if sqlout.ShortIdent(long, 64) == s {
		t.Error("each database's limit gives its own name")
	}
	if _, err := sqlout.ShortColumns([]sqlout.Column{{Name: "a"}, {Name: "A"}}, sqlout.MySQL); err == nil {
		t.Error("case-insensitive duplicates are refused")
	}
	if _, err := sqlout.ShortColumns([]sqlout.Column{{Name: "?column?"}}, sqlout.Postgres); err == nil {
		t.Error("an unnamed column is refused")
	}
	for _, bad := range []string{"", "1abc", "a-b", "a b", `a"b`, "a;drop", strings.Repeat("x", 201)} {
		if sqlout.CheckTableName(bad) == nil {
			t.Errorf("table name %q accepted", bad)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	script := `-- a comment; with a semicolon
SELECT 'it''s; fine' AS a;
SELECT E'back\'slash; still' AS b; /* block; /* nested; */ still */ SELECT $$dollar; quoted$$ AS c;
SELECT $fn$ x; $$ y $fn$ AS d;;
SELECT "weird;name" FROM t; -- trailing
`
	got := sqlout.SplitStatements(script)
	if len(got) != 5 || !strings.HasPrefix(got[0], "-- a comment") || !strings.Contains(got[1], `E'back\'slash; still'`) ||
		!strings.Contains(got[2], "$$dollar; quoted$$") || !strings.Contains(got[3], "$fn$ x; $$ y $fn$") || got[4] != `SELECT "weird;name" FROM t` {
		t.Fatalf("%d statements: %q", len(got), got)
	}
	if n := len(sqlout.SplitStatements("-- only\n/* comments */ ;  ;")); n != 0 {
		t.Errorf("comments alone: %d statements", n)
	}
}

// reporting returns a migrated database with a little data and the runner as the reporting role.
func reporting(t *testing.T) (*store.Store, *sqlout.Reporting) {
	t.Helper()
	db, u := testenv.DBWithURL(t)
	st := store.New(db)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO assets (identity_key, name, host_address, source, relevance, criticality, first_seen_at, last_seen_at)
		SELECT 'xml:t:' || g, 'host-' || g, 'h' || g || '.example', 'xml', 1 + g % 5, g % 101, now(), now() FROM generate_series(1, 250) g`); err != nil {
		t.Fatal(err)
	}
	return st, sqlout.NewReporting(testenv.ReportingURL(t, u))
}

func TestReportingRefusesWhatIsNotARead(t *testing.T) {
	_, r := reporting(t)
	ctx := context.Background()
	cols, err := r.Describe(ctx, "SELECT name, relevance, criticality, ip_addresses::text AS ips, updated_at FROM assets")
	if err != nil || len(cols) != 5 || cols[1].Type != sqlout.TypeBigint || cols[4].Type != sqlout.TypeTimestamptz {
		t.Fatalf("describe: %v %+v", err, cols)
	}
	for sql, want := range map[string]string{
		"SELECT name FRM assets":                 "syntax error",
		"SELECT nonesuch FROM assets":            `column "nonesuch" does not exist`,
		"SELECT * FROM public.integration_tasks": "permission denied",
		"SELECT ip_addresses FROM assets":        "cast it",
		"DELETE FROM assets":                     "",
		"CREATE TABLE x (a int)":                 "",
		"COMMIT":                                 "returns no rows",
		"SET ROLE postgres":                      "returns no rows",
		"SELECT 1; SELECT 2":                     "multiple commands",
		"SELECT set_config('transaction_read_only', 'off', true) AS r": "",
	} {
		_, err := r.Describe(ctx, sql)
		if err == nil && want == "" {
			// Some statements only fail when they run: run them.
			err = r.Query(ctx, sql, sqlout.Options{}, func(_ []sqlout.Column, rows pgx.Rows) error {
				for rows.Next() {
				}
				return rows.Err()
			})
		}
		if err == nil {
			t.Errorf("%s: accepted", sql)
			continue
		}
		if want != "" && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", sql, err, want)
		}
	}
	// Even if the role is reset, the session is the reporting role's: nothing else is readable
	// (a SET ROLE would go back to Tributary's user here).
	err = r.Query(ctx, "SELECT set_config('role', 'none', true) AS r, (SELECT count(*) FROM public.runs) AS n", sqlout.Options{}, func(_ []sqlout.Column, rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("role reset: %v", err)
	}
	var qe *sqlout.QueryError
	_, err = r.Describe(ctx, "SELECT name,\n  nonesuch FROM assets")
	if !errors.As(err, &qe) || qe.Line != 2 || qe.Column != 3 {
		t.Errorf("position: %#v", err)
	}
	// The statement timeout is the server's.
	start := time.Now()
	err = r.Query(ctx, "SELECT 1 AS s FROM pg_sleep(5)", sqlout.Options{Timeout: 200 * time.Millisecond}, func(_ []sqlout.Column, rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	})
	if err == nil || !strings.Contains(err.Error(), "statement timeout") || time.Since(start) > 3*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
	if _, err := sqlout.NewReporting("").Describe(ctx, "SELECT 1 AS a"); !errors.Is(err, sqlout.ErrNoReportingRole) {
		t.Errorf("without the role: %v", err)
	}
}

// source adapts pgx rows to a sqlout.Source.
type source struct{ rows pgx.Rows }

func (s source) Next() bool             { return s.rows.Next() }
func (s source) Values() ([]any, error) { return s.rows.Values() }
func (s source) Err() error             { return s.rows.Err() }

// export runs sql as the reporting role into table of the target.
func export(t *testing.T, r *sqlout.Reporting, tg sqlout.Target, db, sql, table string, e sqlout.Export) (sqlout.Result, error) {
	t.Helper()
	var res sqlout.Result
	err := r.Query(context.Background(), sql, sqlout.Options{}, func(cols []sqlout.Column, rows pgx.Rows) error {
		short, err := sqlout.ShortColumns(cols, db)
		if err != nil {
			return err
		}
		e.Table, e.Columns, e.RunID = table, short, uuid.New()
		res, err = tg.Write(context.Background(), e, source{rows})
		return err
	})
	return res, err
}

func targets(t *testing.T) map[string]sqlout.ConnConfig {
	t.Helper()
	// A second PostgreSQL database on the test cluster, and a MariaDB.
	pgURL, err := url.Parse(testenv.EmptyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(pgURL.Port())
	m := mariadbtest.Start(t)
	m.CreateDatabase(t, "dash")
	return map[string]sqlout.ConnConfig{
		sqlout.Postgres: {Type: sqlout.Postgres, Host: pgURL.Hostname(), Port: port, Database: strings.TrimPrefix(pgURL.Path, "/"), Username: pgURL.User.Username(), TLSMode: sqlout.TLSDisable},
		sqlout.MySQL:    {Type: sqlout.MySQL, Host: m.Host, Port: m.Port, Database: "dash", Username: "root", TLSMode: sqlout.TLSDisable},
	}
}

// read returns the rows of table in the target as strings, ordered.
func read(t *testing.T, tg sqlout.ConnConfig, q string) []string {
	t.Helper()
	var db *sql.DB
	var err error
	if tg.Type == sqlout.Postgres {
		db, err = sql.Open("pgx", fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", tg.Username, tg.Host, tg.Port, tg.Database))
	} else {
		db, err = sql.Open("mysql", fmt.Sprintf("%s@tcp(%s:%d)/%s?parseTime=true", tg.Username, tg.Host, tg.Port, tg.Database))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

func TestExportToPostgresAndMariaDB(t *testing.T) {
	ctx := context.Background()
	for kind, cfg := range targets(t) {
		t.Run(kind, func(t *testing.T) {
			st, r := reporting(t)
			tg, err := sqlout.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			if v, err := tg.Version(ctx); err != nil || v == "" {
				t.Fatalf("version: %q %v", v, err)
			}
			q := `SELECT name, relevance, criticality::numeric / 3 AS third, updated_at, id AS asset_id, relevance > 3 AS important,
				jsonb_build_object('n', name) AS doc FROM assets WHERE name <> 'host-7'`
			res, err := export(t, r, tg, kind, q, "asset_summary", sqlout.Export{Mode: sqlout.ModeFull})
			if err != nil || res.Written != 249 || !res.Created {
				t.Fatalf("full: %+v %v", res, err)
			}
			// A view on the table keeps working across refreshes (readers never see it empty).
			exec(t, cfg, "CREATE VIEW important_assets AS SELECT name FROM asset_summary WHERE important")
			res, err = export(t, r, tg, kind, q, "asset_summary", sqlout.Export{Mode: sqlout.ModeFull})
			if err != nil || res.Written != 249 || res.Deleted != 249 || res.Created {
				t.Fatalf("refresh: %+v %v", res, err)
			}
			if got := read(t, cfg, "SELECT count(*) FROM important_assets"); got[0] != "100" {
				t.Errorf("view after refresh: %v", got)
			}
			if got := read(t, cfg, "SELECT third, doc FROM asset_summary WHERE name = 'host-10'"); len(got) != 1 || !strings.HasPrefix(got[0], "3.333") || !strings.Contains(got[0], `"n"`) {
				t.Errorf("values: %v", got)
			}
			if got := read(t, cfg, "SELECT table_name, row_count FROM "+sqlout.RefreshTable); len(got) != 1 || got[0] != "asset_summary|249" {
				t.Errorf("refreshes: %v", got)
			}
			// The query's columns change: fail, then add columns.
			q2 := strings.Replace(q, "AS doc", "AS doc, source", 1)
			if _, err := export(t, r, tg, kind, q2, "asset_summary", sqlout.Export{Mode: sqlout.ModeFull, SchemaChange: sqlout.SchemaFail}); err == nil || !strings.Contains(err.Error(), "added [source]") {
				t.Errorf("schema change refused: %v", err)
			}
			if res, err = export(t, r, tg, kind, q2, "asset_summary", sqlout.Export{Mode: sqlout.ModeFull, SchemaChange: sqlout.SchemaAddColumns}); err != nil || !res.Altered {
				t.Errorf("add columns: %+v %v", res, err)
			}
			// Row cap: nothing written.
			if _, err := export(t, r, tg, kind, q2, "asset_summary", sqlout.Export{Mode: sqlout.ModeFull, MaxRows: 10}); !errors.Is(err, sqlout.ErrTooManyRows) {
				t.Errorf("row cap: %v", err)
			}
			if got := read(t, cfg, "SELECT count(*) FROM asset_summary"); got[0] != "249" {
				t.Errorf("after a refused export: %v", got)
			}
			// Incremental by key, deleting rows that disappeared.
			inc := "SELECT name, relevance FROM assets WHERE name <> 'host-7'"
			e := sqlout.Export{Mode: sqlout.ModeIncremental, Keys: []string{"name"}, DeleteMissing: true}
			if res, err = export(t, r, tg, kind, inc, "asset_relevance", e); err != nil || res.Written != 249 {
				t.Fatalf("incremental: %+v %v", res, err)
			}
			if _, err := st.DB.ExecContext(ctx, "UPDATE assets SET relevance = 5 WHERE name = 'host-1'; DELETE FROM assets WHERE name = 'host-2'; UPDATE assets SET name = 'host-7x' WHERE name = 'host-7'"); err != nil {
				t.Fatal(err)
			}
			if res, err = export(t, r, tg, kind, inc, "asset_relevance", e); err != nil || res.Deleted != 1 {
				t.Fatalf("incremental again: %+v %v", res, err)
			}
			if got := read(t, cfg, "SELECT name, relevance FROM asset_relevance WHERE name IN ('host-1', 'host-2', 'host-7x') ORDER BY name"); strings.Join(got, " ") != "host-1|5 host-7x|3" {
				t.Errorf("incremental rows: %v", got)
			}
			if _, err := st.DB.ExecContext(ctx, "UPDATE assets SET relevance = 3 WHERE name = 'host-1'; INSERT INTO assets (identity_key, name, first_seen_at, last_seen_at) VALUES ('xml:t:2', 'host-2', now(), now())"); err != nil {
				t.Fatal(err)
			}
			if _, err := export(t, r, tg, kind, "SELECT 'dup' AS name, 1 AS relevance FROM assets LIMIT 2", "asset_relevance", e); err == nil {
				t.Error("repeated keys accepted")
			}
			// Rebuild replaces the table with the new columns.
			if res, err = export(t, r, tg, kind, "SELECT name, relevance::text AS relevance FROM assets", "asset_relevance2", sqlout.Export{Mode: sqlout.ModeFull}); err != nil {
				t.Fatal(err)
			}
			if res, err = export(t, r, tg, kind, "SELECT name, relevance FROM assets", "asset_relevance2", sqlout.Export{Mode: sqlout.ModeFull, SchemaChange: sqlout.SchemaRebuild}); err != nil || !res.Rebuilt {
				t.Fatalf("rebuild: %+v %v", res, err)
			}
		})
	}
}

func exec(t *testing.T, cfg sqlout.ConnConfig, stmt string) {
	t.Helper()
	var db *sql.DB
	var err error
	if cfg.Type == sqlout.Postgres {
		db, err = sql.Open("pgx", fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.Username, cfg.Host, cfg.Port, cfg.Database))
	} else {
		db, err = sql.Open("mysql", fmt.Sprintf("%s@tcp(%s:%d)/%s", cfg.Username, cfg.Host, cfg.Port, cfg.Database))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// genSource yields n rows (name, n); after `at` rows it calls hook once.
type genSource struct {
	i, n, at int
	hook     func()
}

func (g *genSource) Next() bool {
	if g.i == g.at && g.hook != nil {
		g.hook()
		g.hook = nil
	}
	g.i++
	return g.i <= g.n
}
func (g *genSource) Values() ([]any, error) {
	return []any{fmt.Sprintf("row-%d", g.i), int64(g.i)}, nil
}
func (g *genSource) Err() error { return nil }

// A target whose connection is killed in the middle of an export: the export fails with a
// retryable error, the table keeps the rows of the previous export, and the next export
// (on a new connection, as a retried activity opens) writes everything.
func TestTargetGoesAwayMidExport(t *testing.T) {
	ctx := context.Background()
	cols := []sqlout.Column{{Name: "name", Type: sqlout.TypeText}, {Name: "n", Type: sqlout.TypeBigint}}
	for kind, cfg := range targets(t) {
		t.Run(kind, func(t *testing.T) {
			write := func(n, at int, hook func()) error {
				tg, err := sqlout.Open(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer tg.Close()
				_, err = tg.Write(ctx, sqlout.Export{Table: "killed", Columns: cols, Mode: sqlout.ModeFull, RunID: uuid.New()}, &genSource{n: n, at: at, hook: hook})
				return err
			}
			if err := write(1000, -1, nil); err != nil {
				t.Fatal(err)
			}
			kill := func() {
				if kind == sqlout.Postgres {
					exec(t, cfg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
				} else {
					for _, id := range read(t, cfg, "SELECT ID, 0 FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()") {
						exec(t, cfg, "KILL CONNECTION "+strings.Split(id, "|")[0])
					}
				}
			}
			err := write(50_000, 20_000, kill)
			var rf *sqlout.Refused
			if err == nil || errors.As(err, &rf) {
				t.Fatalf("a killed connection: %v (want a retryable error)", err)
			}
			if got := read(t, cfg, "SELECT count(*), max(n) FROM killed"); got[0] != "1000|1000" {
				t.Fatalf("the table after the failed export: %v", got)
			}
			if err := write(50_000, -1, nil); err != nil {
				t.Fatal(err)
			}
			if got := read(t, cfg, "SELECT count(*) FROM killed"); got[0] != "50000" {
				t.Fatalf("after the retry: %v", got)
			}
		})
	}
}

// A retried run writes again the tables an earlier attempt of it committed: it counts the
// rows one clean run would have deleted (the table's rows before the run), not the rows the
// earlier attempt wrote; and a refresh table an earlier version created gets run_deleted.
func TestRetriedRunCountsDeletedOnce(t *testing.T) {
	ctx := context.Background()
	cols := []sqlout.Column{{Name: "name", Type: sqlout.TypeText}, {Name: "n", Type: sqlout.TypeBigint}}
	for kind, cfg := range targets(t) {
		t.Run(kind, func(t *testing.T) {
			// The refresh table as the versions before run_deleted created it.
			idType := "uuid"
			if kind == sqlout.MySQL {
				idType = "CHAR(36)"
			}
			exec(t, cfg, "CREATE TABLE "+sqlout.RefreshTable+" (table_name VARCHAR(64) PRIMARY KEY, refreshed_at "+
				map[string]string{sqlout.Postgres: "timestamptz", sqlout.MySQL: "DATETIME(6)"}[kind]+" NOT NULL, row_count BIGINT NOT NULL, run_id "+idType+")")
			tg, err := sqlout.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			write := func(table string, run uuid.UUID, mode string, n int) sqlout.Result {
				t.Helper()
				e := sqlout.Export{Table: table, Columns: cols, Mode: mode, RunID: run}
				if mode == sqlout.ModeIncremental {
					e.Keys, e.DeleteMissing = []string{"name"}, true
				}
				res, err := tg.Write(ctx, e, &genSource{n: n, at: -1})
				if err != nil {
					t.Fatalf("%s %s of %d rows: %v", mode, table, n, err)
				}
				return res
			}
			before, run := uuid.New(), uuid.New()
			for _, c := range []struct {
				mode        string
				first, then []int // rows before the run; rows of each attempt of the run
				deleted     []int64
			}{
				// A full refresh: every attempt of the run deleted the 30 rows there were before it.
				{sqlout.ModeFull, []int{30}, []int{100, 100, 80}, []int64{30, 30, 30}},
				// Incremental, deleting missing keys: 10 of 50 gone, then 5 more in a third attempt.
				{sqlout.ModeIncremental, []int{50}, []int{40, 40, 35}, []int64{10, 10, 15}},
			} {
				table := "retried_" + c.mode
				write(table, before, c.mode, c.first[0])
				for i, n := range c.then {
					if got := write(table, run, c.mode, n); got.Deleted != c.deleted[i] || got.Written != int64(n) {
						t.Errorf("%s, attempt %d of the run: %+v, want %d deleted", c.mode, i+1, got, c.deleted[i])
					}
				}
				// The next run counts from the table as the last one left it.
				if got := write(table, uuid.New(), c.mode, 20); got.Deleted != int64(c.then[len(c.then)-1])-map[string]int64{sqlout.ModeFull: 0, sqlout.ModeIncremental: 20}[c.mode] {
					t.Errorf("%s, the next run: %+v", c.mode, got)
				}
			}
			if got := read(t, cfg, "SELECT table_name, row_count, run_deleted FROM "+sqlout.RefreshTable+" ORDER BY table_name"); strings.Join(got, " ") !=
				"retried_full|20|80 retried_incremental|20|15" {
				t.Errorf("refreshes: %v", got)
			}
		})
	}
}

// TLS modes against a MariaDB that requires TLS of the account: disable is refused by the
// server, require encrypts, verify-ca and verify-full check the CA, and another CA fails.
func TestTLSModes(t *testing.T) {
	m := mariadbtest.StartWith(t, mariadbtest.Options{TLS: true})
	m.CreateDatabase(t, "tls")
	m.CreateUser(t, "secure", "tls-Secret-5", "tls")
	root, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Exec("ALTER USER 'secure'@'%' REQUIRE SSL"); err != nil {
		t.Fatal(err)
	}
	otherCA, _, _, err := testcert.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		mode, ca string
		ok       bool
	}{
		{sqlout.TLSDisable, "", false},
		{sqlout.TLSRequire, "", true},
		{sqlout.TLSVerifyCA, m.CAPEM, true},
		{sqlout.TLSVerifyFull, m.CAPEM, true},
		{sqlout.TLSVerifyFull, string(otherCA), false},
		{sqlout.TLSVerifyCA, string(otherCA), false},
	} {
		tg, err := sqlout.Open(ctx, sqlout.ConnConfig{Type: sqlout.MySQL, Host: m.Host, Port: m.Port, Database: "tls", Username: "secure",
			Password: "tls-Secret-5", TLSMode: c.mode, CAPEM: c.ca})
		if err == nil {
			_, err = tg.Version(ctx)
			tg.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("%s (other CA %v): %v", c.mode, c.ca == string(otherCA), err)
		}
		if err != nil && strings.Contains(err.Error(), "tls-Secret-5") {
			t.Errorf("%s: the error shows the password: %v", c.mode, err)
		}
	}
	if _, err := sqlout.Open(ctx, sqlout.ConnConfig{Type: sqlout.MySQL, Host: m.Host, Port: m.Port, TLSMode: sqlout.TLSVerifyFull, CAPEM: "junk"}); err == nil {
		t.Error("a CA that is not PEM is accepted")
	}
}

// FuzzSplitStatements: any script splits without panicking into non-empty statements, each a
// piece of the script in order.
func FuzzSplitStatements(f *testing.F) {
	for _, seed := range []string{"SELECT 1; SELECT 2", "SELECT 'a;b''c'; SELECT E'x\\';y'", "SELECT $$a;b$$; SELECT $t$ $$ ; $t$",
		"-- c;\nSELECT 1 /* x; /* y; */ z */; SELECT \"q;\"", "$", "'", "/*", "E'\\", "$a", ";;;"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		rest := script
		for _, st := range sqlout.SplitStatements(script) {
			if strings.TrimSpace(st) == "" {
				t.Fatalf("an empty statement from %q", script)
			}
			i := strings.Index(rest, st)
			if i < 0 {
				t.Fatalf("statement %q is not in order in %q", st, script)
			}
			rest = rest[i+len(st):]
		}
	})
}
