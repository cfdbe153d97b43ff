package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-io/tributary/internal/mariadbtest"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/sqlout"
)

// benchSQLOut measures Export Queries to SQL Tables' engine: a saved query's rows (assets,
// 7 columns) read as the reporting role and written to a PostgreSQL and a MariaDB target,
// for each size (default 100,000 and 1,000,000 rows), each export in a child process (wall,
// peak RSS, peak heap), next to the floor in the same run: the same rows, dumped to a CSV
// file first, loaded with COPY (PostgreSQL) and LOAD DATA LOCAL INFILE (MariaDB) into an
// empty table.
func benchSQLOut(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sqlout", flag.ContinueOnError)
	sizes := fs.String("rows", "100000,1000000", "row counts, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dbURL, db, closeDB, err := database(ctx, 4)
	if err != nil {
		return err
	}
	defer closeDB()
	_, keySpec, err := secrets.NewRandomKeyring("bench")
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "ALTER ROLE tributary_reporting LOGIN PASSWORD 'bench-reporting'"); err != nil {
		return fmt.Errorf("give the reporting role a login (needs a superuser or CREATEROLE): %w", err)
	}
	ru, _ := url.Parse(dbURL)
	ru.User = url.UserPassword("tributary_reporting", "bench-reporting")
	target := "tributary_bench_target"
	_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+target)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+target); err != nil {
		return err
	}
	tu, _ := url.Parse(dbURL)
	tu.Path = "/" + target
	dir, err := os.MkdirTemp("", "tributary-bench-sqlout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	maria, err := mariadbtest.StartDir(dir)
	if err != nil {
		return err
	}
	defer maria.Stop()
	root, err := sql.Open("mysql", maria.DSN(""))
	if err != nil {
		return err
	}
	if _, err := root.ExecContext(ctx, "CREATE DATABASE bench CHARACTER SET utf8mb4"); err != nil {
		return err
	}
	root.Close()
	port, _ := strconv.Atoi(tu.Port())
	targets := []sqlout.ConnConfig{
		{Type: sqlout.Postgres, Host: tu.Hostname(), Port: port, Database: target, Username: tu.User.Username(), TLSMode: sqlout.TLSDisable},
		{Type: sqlout.MySQL, Host: maria.Host, Port: maria.Port, Database: "bench", Username: "root", TLSMode: sqlout.TLSDisable},
	}
	if pw, ok := tu.User.Password(); ok {
		targets[0].Password = pw
	}
	fmt.Printf("Export Queries to SQL Tables: a 7-column query over reporting.assets to PostgreSQL (COPY) and MariaDB (multi-row INSERT)\n\n")
	fmt.Printf("%-52s %10s %10s %10s %8s\n", "", "wall", "peak RSS", "peak heap", "ratio")
	have := 0
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-rows: %q is not a count", s)
		}
		if n > have {
			if _, err := db.ExecContext(ctx, `INSERT INTO assets (identity_key, name, host_address, relevance, criticality, source, first_seen_at, last_seen_at)
				SELECT 'sqlbench:' || g, 'sqlbench-' || g, '10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.' || g % 256, 1 + g % 5, g % 101,
					'xml', now(), now() FROM generate_series(?, ?) g ON CONFLICT (identity_key) DO NOTHING`, have+1, n); err != nil {
				return err
			}
			have = n
		}
		query := fmt.Sprintf("SELECT id, name, host_address, relevance, criticality, source, updated_at FROM assets "+
			"WHERE name LIKE 'sqlbench-%%' AND substr(name, 10)::int <= %d", n)
		csv := filepath.Join(dir, fmt.Sprintf("rows-%d.csv", n))
		if err := dumpCSV(ctx, dbURL, query, csv); err != nil {
			return err
		}
		for _, tg := range targets {
			floor, err := loadFloor(ctx, tg, csv, n)
			if err != nil {
				return fmt.Errorf("%s floor: %w", tg.Type, err)
			}
			spec, _ := json.Marshal(map[string]any{"reporting": ru.String(), "target": tg, "query": query, "table": fmt.Sprintf("assets_%d", n)})
			specFile := filepath.Join(dir, "spec.json")
			if err := os.WriteFile(specFile, spec, 0o600); err != nil {
				return err
			}
			res, wall, rss, err := runChild(ctx, "sqlout-run", dbURL, keySpec, specFile)
			if err != nil {
				return err
			}
			loader := map[string]string{sqlout.Postgres: "COPY FROM STDIN", sqlout.MySQL: "LOAD DATA LOCAL INFILE"}[tg.Type]
			fmt.Printf("%-52s %10s\n", fmt.Sprintf("%s %d rows: floor, %s of the CSV", tg.Type, n, loader), ms(floor))
			fmt.Printf("%-52s %10s %10s %10s %7.2fx\n", fmt.Sprintf("%s %d rows: export (read + write, one transaction)", tg.Type, n), ms(wall), mib(rss),
				mib(res.PeakHeap), float64(wall)/float64(floor))
			if res.Counts["written"] != int64(n) {
				return fmt.Errorf("%s: %d rows written, want %d", tg.Type, res.Counts["written"], n)
			}
		}
	}
	return nil
}

// dumpCSV writes the query's rows to a CSV file (what the floors load).
func dumpCSV(ctx context.Context, dbURL, query, path string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := conn.PgConn().CopyTo(ctx, w, "COPY ("+query+") TO STDOUT WITH (FORMAT csv)"); err != nil {
		return err
	}
	return w.Flush()
}

// loadFloor times loading the CSV into a new empty table with the database's bulk loader.
func loadFloor(ctx context.Context, tg sqlout.ConnConfig, csv string, n int) (time.Duration, error) {
	table := fmt.Sprintf("floor_%d_%s", n, uuid.NewString()[:8])
	if tg.Type == sqlout.Postgres {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", url.QueryEscape(tg.Username), url.QueryEscape(tg.Password),
			tg.Host, tg.Port, tg.Database))
		if err != nil {
			return 0, err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id uuid, name text, host_address text, relevance bigint, criticality bigint, source text, updated_at timestamptz)"); err != nil {
			return 0, err
		}
		f, err := os.Open(csv)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		start := time.Now()
		tag, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<20), "COPY "+table+" FROM STDIN WITH (FORMAT csv)")
		if err == nil && tag.RowsAffected() != int64(n) {
			err = fmt.Errorf("COPY loaded %d rows", tag.RowsAffected())
		}
		return time.Since(start), err
	}
	mysql.RegisterLocalFile(csv)
	db, err := sql.Open("mysql", fmt.Sprintf("%s@tcp(%s:%d)/%s?parseTime=true", tg.Username, tg.Host, tg.Port, tg.Database))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id CHAR(36), name LONGTEXT, host_address LONGTEXT, relevance BIGINT, criticality BIGINT, "+
		"source LONGTEXT, updated_at DATETIME(6)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"); err != nil {
		return 0, err
	}
	start := time.Now()
	r, err := db.ExecContext(ctx, "LOAD DATA LOCAL INFILE '"+csv+"' INTO TABLE "+table+
		" FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' (id, name, host_address, relevance, criticality, source, @u) SET updated_at = LEFT(@u, 26)")
	if err != nil {
		return 0, err
	}
	if got, _ := r.RowsAffected(); got != int64(n) {
		return 0, fmt.Errorf("LOAD DATA loaded %d rows", got)
	}
	return time.Since(start), nil
}

type sqloutSpec struct {
	Reporting string            `json:"reporting"`
	Target    sqlout.ConnConfig `json:"target"`
	Query     string            `json:"query"`
	Table     string            `json:"table"`
}

type pgxSource struct{ rows pgx.Rows }

func (s pgxSource) Next() bool             { return s.rows.Next() }
func (s pgxSource) Values() ([]any, error) { return s.rows.Values() }
func (s pgxSource) Err() error             { return s.rows.Err() }

// sqloutRunChild runs one export in this process: the child of benchSQLOut.
func sqloutRunChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: tributary-bench sqlout-run SPEC.json OUT.json")
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var spec sqloutSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	tg, err := sqlout.Open(ctx, spec.Target)
	if err != nil {
		return err
	}
	defer tg.Close()
	stop := sampleHeap()
	start := time.Now()
	var res sqlout.Result
	err = sqlout.NewReporting(spec.Reporting).Query(ctx, spec.Query, sqlout.Options{Timeout: time.Hour}, func(cols []sqlout.Column, rows pgx.Rows) error {
		short, err := sqlout.ShortColumns(cols, spec.Target.Type)
		if err != nil {
			return err
		}
		res, err = tg.Write(ctx, sqlout.Export{Table: spec.Table, Columns: short, Mode: sqlout.ModeFull, RunID: uuid.New()}, pgxSource{rows})
		return err
	})
	elapsed := time.Since(start)
	peak, _ := stop()
	if err != nil {
		return err
	}
	b, _ := json.Marshal(childResult{Counts: map[string]int64{"written": res.Written}, ActivityNS: elapsed.Nanoseconds(), PeakHeap: int64(peak)})
	return os.WriteFile(args[1], b, 0o600)
}
