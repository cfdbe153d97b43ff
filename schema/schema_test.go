package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/schema"
	"github.com/tributary-io/tributary/store"
)

// The migrations apply, roll back completely, and apply again, on a real Postgres.
func TestMigrationsUpDownUp(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, testenv.EmptyDB(t), store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := func() int {
		var n int
		if err := db.NewRaw(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
			AND table_name IN ('integration_tasks', 'connectors', 'runs')`).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n, err := schema.Pending(ctx, db); err != nil || n != len(schema.Migrations.Sorted()) {
		t.Fatalf("pending on an empty database: %d %v", n, err)
	}
	for i := 0; i < 2; i++ {
		g, err := schema.Up(ctx, db)
		if err != nil || g.IsZero() {
			t.Fatalf("up: %v %v", g, err)
		}
		if tables() != 3 {
			t.Fatal("tables missing after up")
		}
		if g, err := schema.Up(ctx, db); err != nil || !g.IsZero() {
			t.Fatalf("second up should do nothing: %v %v", g, err)
		}
		if n, err := schema.Pending(ctx, db); err != nil || n != 0 {
			t.Fatalf("pending after up: %d %v", n, err)
		}
		if i == 1 {
			break
		}
		if _, err := schema.Down(ctx, db); err != nil {
			t.Fatalf("down: %v", err)
		}
		if tables() != 0 {
			t.Fatal("tables left after down")
		}
	}
	ms, err := schema.Status(ctx, db)
	if err != nil || len(ms.Applied()) != len(ms) {
		t.Fatalf("status: %v %v", ms, err)
	}
}

// The run-history listing uses an index, not a sequential scan, for each filter.
func TestRunListingUsesIndexes(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	if _, err := db.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{"", "WHERE task_id = gen_random_uuid()", "WHERE status = 'failed'",
		"WHERE connector_id = gen_random_uuid()", "WHERE kind = 'task'", "WHERE trigger = 'api'"} {
		var plan string
		rows, err := db.QueryContext(ctx, `EXPLAIN SELECT * FROM runs `+where+` ORDER BY started_at DESC, id DESC LIMIT 51`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan += line + "\n"
		}
		rows.Close()
		if !containsIndexScan(plan) {
			t.Fatalf("%q does not use an index:\n%s", where, plan)
		}
	}
}

func containsIndexScan(plan string) bool {
	return strings.Contains(plan, "Index Scan") || strings.Contains(plan, "Index Only Scan")
}
