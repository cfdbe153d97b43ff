package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Run-history retention removes ended runs older than the cut-off, in batches, with their
// record issues; running and newer runs stay.
func TestRunRetention(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.store.DB.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	task := uuid.New()
	exec(`INSERT INTO runs (id, kind, task_id, task_type, trigger, status, started_at, ended_at, workflow_id)
		SELECT gen_random_uuid(), 'task', ?, 'http_call', 'scheduled', 'succeeded', now() - interval '100 days' + g * interval '1 second',
			now() - interval '100 days' + g * interval '2 second', 'task-type/http_call' FROM generate_series(1, 2500) g`, task)
	exec(`INSERT INTO runs (id, kind, task_id, task_type, trigger, status, started_at, ended_at, workflow_id)
		SELECT gen_random_uuid(), 'task', ?, 'http_call', 'manual', 'failed', now() - g * interval '1 day', now() - g * interval '1 day', 'task-type/http_call'
		FROM generate_series(1, 3) g`, task)
	exec(`INSERT INTO runs (id, kind, task_id, task_type, trigger, status, started_at, workflow_id)
		VALUES (gen_random_uuid(), 'task', ?, 'http_call', 'manual', 'running', now() - interval '200 days', 'task-type/http_call')`, task)
	exec(`INSERT INTO import_record_issues (run_id, number, line, outcome, message)
		SELECT id, 1, 1, 'failed', 'old' FROM runs WHERE started_at < now() - interval '99 days' AND status = 'succeeded' LIMIT 1`)
	exec(`INSERT INTO import_record_issues (run_id, number, line, outcome, message)
		SELECT id, 1, 1, 'failed', 'recent' FROM runs WHERE status = 'failed' LIMIT 1`)

	pauses := 0
	n, err := s.store.Runs.PruneRuns(ctx, time.Now().Add(-90*24*time.Hour), 1000, func(context.Context) error { pauses++; return nil })
	if err != nil || n != 2500 || pauses != 2 {
		t.Fatalf("pruned %d in %d pauses: %v", n, pauses, err)
	}
	var left []string
	if err := s.store.DB.NewRaw("SELECT status FROM runs ORDER BY status").Scan(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if len(left) != 4 || left[3] != "running" {
		t.Fatalf("left: %v", left)
	}
	var issues []string
	if err := s.store.DB.NewRaw("SELECT message FROM import_record_issues").Scan(ctx, &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) != 1 || issues[0] != "recent" {
		t.Fatalf("record issues left: %v", issues)
	}
	if n, err := s.store.Runs.PruneRuns(ctx, time.Now().Add(-90*24*time.Hour), 1000, nil); err != nil || n != 0 {
		t.Fatalf("a second pass: %d %v", n, err)
	}
}
