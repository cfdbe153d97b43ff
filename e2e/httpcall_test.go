package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An HTTP call task triggered through the API runs on the worker and its outcome lands in
// run history, readable through the API.
func TestHTTPCallRunThroughAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		if r.Header.Get("Authorization") != "Bearer s3cr3t-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat("x", 5000))
	})
	task := s.createHTTPTask("ping", tg.srv.URL+"/ping?token=abc", map[string]any{
		"config": map[string]any{"url": tg.srv.URL + "/ping?token=abc", "excerpt_bytes": 100,
			"headers": []map[string]any{{"name": "Authorization", "value": "Bearer s3cr3t-token", "secret": true}}},
	})
	if strings.Contains(fmt.Sprint(task.Config), "s3cr3t") {
		t.Fatalf("task response shows the secret header: %v", task.Config)
	}
	var tr triggered
	r := s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", map[string]any{"trigger": "manual", "triggered_by": "alice"}, &tr)
	if r.header.Get("Location") != "/api/v1/runs/"+tr.RunID || tr.WorkflowID != "task-type/http_call" {
		t.Fatalf("trigger answer: %s (Location %q)", r.body, r.header.Get("Location"))
	}
	run := s.waitRun(tr.RunID, 30*time.Second)
	if run.Status != "succeeded" || run.Trigger != "manual" || run.TriggeredBy != "e2e admin for alice" || run.WorkflowRunID != tr.WorkflowRunID {
		t.Fatalf("run: %+v", run)
	}
	if run.Details["status_code"] != float64(200) || run.Details["response_bytes"] != float64(5000) ||
		len(run.Details["excerpt"].(string)) != 100 || run.Details["excerpt_truncated"] != true {
		t.Fatalf("details: %v", run.Details)
	}
	if run.Counts["response_bytes"] != 5000 || run.EndedAt == nil || run.DurationMS == nil {
		t.Fatalf("counts or times: %+v", run)
	}
	if strings.Contains(fmt.Sprint(run.Details), "token=abc") {
		t.Fatalf("run details show the URL's query: %v", run.Details)
	}
	if !strings.HasPrefix(run.TemporalURL, "http://temporal-ui.test/namespaces/") || !strings.Contains(run.TemporalURL, "task-type%2Fhttp_call/"+tr.WorkflowRunID) {
		t.Fatalf("temporal UI link: %q", run.TemporalURL)
	}
	// The secret never reaches Temporal (inputs, results, memos, heartbeats), the API's logs
	// or the database in plain text.
	assertHistoryFree(t, s, tr.WorkflowID, tr.WorkflowRunID, "s3cr3t-token")
	if logs := s.apiLog.String(); !strings.Contains(logs, "/api/v1/tasks/:id/runs") || strings.Contains(logs, "s3cr3t-token") {
		t.Fatalf("API logs lack the request or show the secret:\n%s", logs)
	}
	if logs := s.workerLog.String(); !strings.Contains(logs, "ExecuteHTTPCall") || strings.Contains(logs, "s3cr3t-token") {
		t.Fatalf("worker logs (debug level) lack the activity or show the secret:\n%s", logs)
	}
	var n int
	if err := s.store.DB.NewRaw("SELECT count(*) FROM integration_tasks WHERE config::text LIKE '%s3cr3t-token%'").Scan(context.Background(), &n); err != nil || n != 0 {
		t.Fatalf("the secret is stored in plain text (%d rows, %v)", n, err)
	}
}
