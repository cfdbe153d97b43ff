package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/store"
)

type eventView struct {
	ID             int64  `json:"id"`
	Type           string `json:"type"`
	Title          string `json:"title"`
	Urgency        int    `json:"urgency"`
	Severity       int    `json:"severity"`
	Relevance      int    `json:"relevance"`
	Priority       int    `json:"priority"`
	Status         string `json:"status"`
	Progress       int    `json:"progress"`
	ParentID       *int64 `json:"parent_id"`
	CreatedBy      string `json:"created_by"`
	Occurrences    int64  `json:"occurrences"`
	Resolved       int64  `json:"resolved_occurrences"`
	ChildIDs       []int64
	OccurrenceList []struct {
		OccurrenceID int64   `json:"occurrence_id"`
		Tickets      []int64 `json:"tickets"`
		ResolvedBy   string  `json:"resolved_by"`
	} `json:"occurrence_list"`
}

type eventPage struct {
	Items      []eventView `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

type progressEntry struct {
	Author     string `json:"author"`
	AuthorKind string `json:"author_kind"`
	Text       string `json:"text"`
	Progress   *int   `json:"progress"`
}

// remediationSetup imports the vulnerabilities of a Qualys simulator through the API and
// returns every occurrence ID.
func remediationSetup(t *testing.T, s *stack, qs *qualyssim.Server, password string) []int64 {
	t.Helper()
	var task taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "qualys_vulnerabilities", "name": "Qualys vulnerabilities",
		"config": map[string]any{"base_url": qs.URL, "username": "api-user", "password": password, "allow_plaintext_http": true}}, &task)
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
	if r := s.waitRun(tr.RunID, 60*time.Second); r.Status != "succeeded" {
		t.Fatalf("vulnerability import: %+v", r)
	}
	var cat struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?source=qualys", nil, &cat)
	var occs []int64
	for _, v := range cat.Items {
		var page struct {
			Items []occurrenceView `json:"items"`
		}
		s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/vulnerabilities/%d/occurrences?limit=200", v.ID), nil, &page)
		for _, o := range page.Items {
			occs = append(occs, o.ID)
		}
	}
	sort.Slice(occs, func(i, j int) bool { return occs[i] < occs[j] })
	return occs
}

// Events through the API as a new user works with them (every answer contract-checked):
// create single and consolidated events from occurrences, list them by priority, edit,
// add progress, close, cancel and reopen, read the history; bad input is named and changes
// nothing; viewers read and operators change. Then Synchronize Qualys Scanner Remediation
// runs through Temporal against the simulator moving its tickets: events are closed and
// progress entries added, in the API and in run history, with the password kept out of
// responses, Temporal history and logs.
func TestEventsAndRemediationThroughAPI(t *testing.T) {
	const password = "tickets-Secret-9090"
	qs := qualyssim.New(qualyssim.Options{Seed: 8, AssetGroups: 1, HostsPerGroup: 8, DetectionsPerHost: 3, Username: "api-user", Password: password, TicketPageSize: 5})
	defer qs.Close()
	s := newStack(t, stackOptions{})
	occs := remediationSetup(t, s, qs, password)
	if len(occs) < 12 {
		t.Fatalf("%d occurrences", len(occs))
	}
	operator := s.newToken("oscar", auth.Operator)
	viewer := s.newToken("vera", auth.Viewer)
	var created eventPage
	if r := s.doAs(viewer, "POST", "/api/v1/events", map[string]any{"occurrence_ids": occs[:1]}); r.status != http.StatusForbidden {
		t.Fatalf("a viewer created events: %d", r.status)
	}
	if r := s.doAs(operator, "POST", "/api/v1/events", map[string]any{"occurrence_ids": occs[:6]}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	} else {
		r.decode(t, &created)
	}
	if len(created.Items) != 6 || created.Items[0].Occurrences != 1 || created.Items[0].CreatedBy != "oscar" || !strings.HasPrefix(created.Items[0].Title, "Remediate ") {
		t.Fatalf("single events: %+v", created.Items)
	}
	singles := created.Items
	var cons eventPage
	s.must(http.StatusCreated, "POST", "/api/v1/events", map[string]any{"occurrence_ids": occs[6:12], "consolidated": true,
		"title": "Patch the web tier", "urgency": 5, "responsible": "web team"}, &cons)
	consolidated := cons.Items[0]
	if len(cons.Items) != 1 || consolidated.Occurrences != 6 || consolidated.Urgency != 5 || consolidated.Priority != 5*consolidated.Severity*consolidated.Relevance {
		t.Fatalf("consolidated: %+v", cons.Items)
	}
	// Bad input is named, and nothing is stored.
	var before eventPage
	s.must(http.StatusOK, "GET", "/api/v1/events?limit=200", nil, &before)
	for _, bad := range []struct {
		body  any
		field string
	}{
		{map[string]any{"occurrence_ids": []int64{occs[0], 99999999}}, "occurrence_ids[1]"},
		{map[string]any{"occurrence_ids": []int64{occs[0], occs[0]}, "consolidated": true}, "occurrence_ids[1]"},
		{map[string]any{"title": strings.Repeat("t", 2501)}, "title"},
		{map[string]any{"title": "x", "description": strings.Repeat("d", 5501)}, "description"},
		{map[string]any{"title": "x", "urgency": 6}, "urgency"},
		{map[string]any{"occurrence_ids": occs[:1], "consolidated": true}, "consolidated"},
		{map[string]any{"occurrence_ids": occs[:2], "title": "two"}, "title"},
		{map[string]any{}, "title"},
		{map[string]any{"title": "x", "colour": "red"}, "colour"},
		{map[string]any{"title": "x", "parent_id": 99999999}, "parent_id"},
	} {
		r := s.do("POST", "/api/v1/events", bad.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"`+bad.field+`"`) {
			t.Fatalf("%v: %d %s", bad.body, r.status, r.body)
		}
	}
	var after eventPage
	s.must(http.StatusOK, "GET", "/api/v1/events?limit=200", nil, &after)
	if len(after.Items) != len(before.Items) || len(after.Items) != 7 {
		t.Fatalf("bad requests stored events: %d -> %d", len(before.Items), len(after.Items))
	}
	for i := 1; i < len(after.Items); i++ {
		if after.Items[i].Priority > after.Items[i-1].Priority {
			t.Fatalf("events not by priority: %+v", after.Items)
		}
	}
	// Paging and filters.
	var page eventPage
	s.must(http.StatusOK, "GET", "/api/v1/events?limit=3", nil, &page)
	var rest eventPage
	s.must(http.StatusOK, "GET", "/api/v1/events?limit=10&cursor="+page.NextCursor, nil, &rest)
	if len(page.Items) != 3 || len(rest.Items) != 4 || rest.Items[0].ID == page.Items[2].ID {
		t.Fatalf("pages %+v / %+v", page.Items, rest.Items)
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/events?occurrence_id=%d", occs[7]), nil, &page)
	if len(page.Items) != 1 || page.Items[0].ID != consolidated.ID {
		t.Fatalf("by occurrence: %+v", page.Items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/events?responsible=web+team&status=open&type=remediation", nil, &page)
	if len(page.Items) != 1 {
		t.Fatalf("by responsible: %+v", page.Items)
	}
	for _, bad := range []string{"/api/v1/events?status=done", "/api/v1/events?occurrence_id=x", "/api/v1/events?asset_id=1", "/api/v1/events?sort=id",
		"/api/v1/events/abc", "/api/v1/events?cursor=nope"} {
		if r := s.do("GET", bad, nil); r.status != http.StatusBadRequest {
			t.Fatalf("%s: %d", bad, r.status)
		}
	}
	if r := s.do("GET", "/api/v1/events/99999999", nil); r.status != http.StatusNotFound {
		t.Fatalf("missing event: %d", r.status)
	}
	// Edit, parent and child, progress, close / cancel / reopen, history.
	child := singles[5]
	var ev eventView
	s.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/v1/events/%d", child.ID), map[string]any{"parent_id": consolidated.ID, "urgency": 4}, &ev)
	if ev.ParentID == nil || *ev.ParentID != consolidated.ID || ev.Urgency != 4 {
		t.Fatalf("edited: %+v", ev)
	}
	if r := s.do("PATCH", fmt.Sprintf("/api/v1/events/%d", consolidated.ID), map[string]any{"parent_id": child.ID}); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "cycle") {
		t.Fatalf("cycle: %d %s", r.status, r.body)
	}
	var parent struct {
		ChildIDs []int64 `json:"child_ids"`
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/events/%d", consolidated.ID), nil, &parent)
	if len(parent.ChildIDs) != 1 || parent.ChildIDs[0] != child.ID {
		t.Fatalf("children: %+v", parent)
	}
	var entry progressEntry
	r := s.doAs(operator, "POST", fmt.Sprintf("/api/v1/events/%d/progress", child.ID), map[string]any{"text": "vendor patch staged", "progress": 40})
	if r.status != http.StatusCreated {
		t.Fatalf("progress: %d %s", r.status, r.body)
	}
	r.decode(t, &entry)
	if entry.Author != "oscar" || entry.AuthorKind != "person" || entry.Progress == nil || *entry.Progress != 40 {
		t.Fatalf("entry %+v", entry)
	}
	s.must(http.StatusOK, "POST", fmt.Sprintf("/api/v1/events/%d/close", child.ID), map[string]any{"comment": "done by hand"}, &ev)
	if ev.Status != "closed" || ev.Progress != 100 {
		t.Fatalf("closed: %+v", ev)
	}
	if r := s.do("POST", fmt.Sprintf("/api/v1/events/%d/close", child.ID), nil); r.status != http.StatusConflict {
		t.Fatalf("closing twice: %d", r.status)
	}
	if r := s.do("POST", fmt.Sprintf("/api/v1/events/%d/progress", child.ID), map[string]any{"text": "more", "progress": 50}); r.status != http.StatusConflict {
		t.Fatalf("progress of a closed event: %d", r.status)
	}
	s.must(http.StatusOK, "POST", fmt.Sprintf("/api/v1/events/%d/reopen", child.ID), nil, &ev)
	s.must(http.StatusOK, "POST", fmt.Sprintf("/api/v1/events/%d/cancel", child.ID), nil, &ev)
	s.must(http.StatusOK, "POST", fmt.Sprintf("/api/v1/events/%d/reopen", child.ID), nil, &ev)
	if ev.Status != "open" {
		t.Fatalf("reopened: %+v", ev)
	}
	var hist struct {
		Items []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/events/%d/history", child.ID), nil, &hist)
	var actions []string
	for _, h := range hist.Items {
		actions = append(actions, h.Action)
	}
	if strings.Join(actions, ",") != "created,updated,progress,closed,reopened,cancelled,reopened" || hist.Items[2].Actor != "oscar" {
		t.Fatalf("history %v", hist.Items)
	}
	if r := s.doAs(viewer, "POST", fmt.Sprintf("/api/v1/events/%d/close", child.ID), nil); r.status != http.StatusForbidden {
		t.Fatalf("a viewer closed an event: %d", r.status)
	}
	s.mustAs(viewer, http.StatusOK, "GET", fmt.Sprintf("/api/v1/events/%d/progress", child.ID))

	// Synchronize Qualys Scanner Remediation.
	var rt taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "qualys_remediation", "name": "Qualys remediation", "schedule": "@hourly",
		"config": map[string]any{"base_url": qs.URL, "username": "api-user", "password": password, "allow_plaintext_http": true}}, &rt)
	if rt.Config["password_set"] != true || rt.Config["close_on"] != "closed" || strings.Contains(string(s.do("GET", "/api/v1/tasks/"+rt.ID, nil).body), password) {
		t.Fatalf("task: %+v", rt)
	}
	var probe struct {
		OK bool `json:"ok"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/tasks/"+rt.ID+"/test-connection", nil, &probe)
	if !probe.OK {
		t.Fatal("test-connection failed")
	}
	syncRun := func() runView {
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+rt.ID+"/runs", map[string]any{"trigger": "manual"}, &tr)
		if tr.WorkflowID != "task-type/qualys_remediation" {
			t.Fatalf("workflow %s", tr.WorkflowID)
		}
		run := s.waitRun(tr.RunID, 60*time.Second)
		if run.Status != "succeeded" {
			t.Fatalf("remediation run: %+v", run)
		}
		return run
	}
	first := syncRun()
	if first.Counts["tickets_read"] != int64(qs.TicketCount()) || first.Counts["events_closed"] != 0 || first.Details["pages"] != float64(5) {
		t.Fatalf("first sync: %+v", first)
	}
	qs.SetGenerationAt(1, time.Now().Add(time.Hour))
	second := syncRun()
	closed := 0
	for _, e := range singles[:5] {
		var got eventView
		s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/events/%d", e.ID), nil, &got)
		tickets := got.OccurrenceList[0].Tickets
		if len(tickets) != 1 {
			t.Fatalf("event %d tickets %v", e.ID, tickets)
		}
		state, _ := qs.TicketState(tickets[0], 1)
		if (got.Status == "closed") != (state == qualys.TicketClosed) {
			t.Fatalf("event %d is %s, its ticket %d %s", e.ID, got.Status, tickets[0], state)
		}
		if got.Status == "closed" {
			closed++
			var entries struct {
				Items []progressEntry `json:"items"`
			}
			s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/events/%d/progress", e.ID), nil, &entries)
			last := entries.Items[len(entries.Items)-1]
			if last.Author != "Qualys remediation" || last.AuthorKind != "task" || !strings.Contains(last.Text, fmt.Sprintf("Qualys ticket %d is CLOSED", tickets[0])) {
				t.Fatalf("entries %+v", entries.Items)
			}
		}
	}
	if second.Counts["events_closed"] != int64(closed) || second.Counts["tickets_read"] == 0 {
		t.Fatalf("second sync closed %d events, counts %v", closed, second.Counts)
	}
	var runs runPage
	s.must(http.StatusOK, "GET", "/api/v1/runs?task_id="+rt.ID, nil, &runs)
	if len(runs.Items) != 2 || runs.Items[0].Counts["events_closed"] != int64(closed) {
		t.Fatalf("run history %+v", runs.Items)
	}
	assertHistoryFree(t, s, "task-type/qualys_remediation", "", password)
	if strings.Contains(s.workerLog.String(), password) || strings.Contains(s.apiLog.String(), password) {
		t.Fatal("the password is in the logs")
	}
}

// mustAs performs a request with token and fails unless the status is want.
func (s *stack) mustAs(token string, want int, method, path string) response {
	s.t.Helper()
	r := s.doAs(token, method, path, nil)
	if r.status != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// The worker process is killed with SIGKILL in the middle of a remediation sync: once
// between two pages of tickets, once after the apply committed and before the run was
// recorded. A fresh worker finishes each run; events, entries and counts are what one clean
// run leaves (checked against a second stack that ran without a crash).
func TestRemediationSurvivesWorkerKills(t *testing.T) {
	bin := buildWorker(t)
	opts := qualyssim.Options{Seed: 21, AssetGroups: 1, HostsPerGroup: 10, DetectionsPerHost: 3, Username: "api-user", Password: "pw", TicketPageSize: 4}
	type outcome struct {
		counts  map[string]int64
		events  []string
		entries int
	}
	scenario := func(kill string) outcome {
		qs := qualyssim.New(opts)
		defer qs.Close()
		s := newStack(t, stackOptions{noWorker: kill != ""})
		var w *exec.Cmd
		if kill != "" {
			w = s.startProcess(bin, "worker-setup")
		}
		occs := remediationSetup(t, s, qs, "pw")
		var evs eventPage
		s.must(http.StatusCreated, "POST", "/api/v1/events", map[string]any{"occurrence_ids": occs[:10]}, &evs)
		s.must(http.StatusCreated, "POST", "/api/v1/events", map[string]any{"occurrence_ids": occs[10:20], "consolidated": true}, nil)
		var rt taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "qualys_remediation", "name": "remediation", "max_attempts": 3,
			"config": map[string]any{"base_url": qs.URL, "username": "api-user", "password": "pw", "allow_plaintext_http": true}}, &rt)
		qs.SetGenerationAt(1, time.Now().Add(time.Hour))
		if kill != "" {
			killProcess(t, w)
			w = s.startProcess(bin, "worker-1")
		}
		ticketCalls := func() int {
			n := 0
			for _, r := range qs.Faults.Requests() {
				if strings.HasPrefix(r, qualys.PathTickets) {
					n++
				}
			}
			return n
		}
		switch kill {
		case "between pages":
			qs.Faults.Add(simfault.Fault{Path: qualys.PathTickets, After: 2, Delay: time.Minute})
		case "after apply":
			// Slow pages leave time to hold the run's row (below).
			qs.Faults.Add(simfault.Fault{Path: qualys.PathTickets, After: 1, Delay: 300 * time.Millisecond, Times: 4})
		}
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+rt.ID+"/runs", nil, &tr)
		switch kill {
		case "between pages":
			testenv.Eventually(t, 60*time.Second, func() error {
				if n := ticketCalls(); n < 3 {
					return fmt.Errorf("%d ticket pages requested", n)
				}
				return nil
			})
			killProcess(t, w)
		case "after apply":
			// Once the tickets are being read (the attempt is recorded), hold the run's row.
			testenv.Eventually(t, 60*time.Second, func() error {
				if n := ticketCalls(); n < 1 {
					return fmt.Errorf("no ticket page requested yet")
				}
				return nil
			})
			killAfterApply(t, s, tr.RunID, "scanner_imports", w)
		}
		if kill != "" {
			s.startProcess(bin, "worker-2")
		}
		run := s.waitRun(tr.RunID, 120*time.Second)
		if run.Status != store.StatusSucceeded || (kill != "" && run.Attempt < 2) || (run.Details["replayed"] == true) != (kill == "after apply") {
			t.Fatalf("%s: run %+v", kill, run)
		}
		var out outcome
		out.counts = run.Counts
		var all eventPage
		s.must(http.StatusOK, "GET", "/api/v1/events?limit=200", nil, &all)
		for _, e := range all.Items {
			var entries struct {
				Items []progressEntry `json:"items"`
			}
			s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/events/%d/progress?limit=200", e.ID), nil, &entries)
			out.entries += len(entries.Items)
			out.events = append(out.events, fmt.Sprintf("%s/%d/%d", e.Status, e.Progress, e.Resolved))
		}
		sort.Strings(out.events)
		return out
	}
	clean := scenario("")
	if clean.counts["events_closed"] == 0 || clean.counts["progress_added"] == 0 {
		t.Fatalf("the clean run changed nothing: %v", clean.counts)
	}
	for _, kill := range []string{"between pages", "after apply"} {
		got := scenario(kill)
		if fmt.Sprint(got.counts) != fmt.Sprint(clean.counts) || strings.Join(got.events, " ") != strings.Join(clean.events, " ") || got.entries != clean.entries {
			t.Fatalf("killed %s: %+v, a clean run: %+v", kill, got, clean)
		}
	}
}

// killAfterApply holds the run's row (so that the attempt applies, commits, then waits to
// record its details), waits until table has the run's apply, and kills the worker process.
func killAfterApply(t *testing.T, s *stack, runID, table string, w *exec.Cmd) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.store.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT 1 FROM runs WHERE id = ? FOR UPDATE", mustParse(runID)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		var n int
		if err := s.store.DB.NewRaw("SELECT count(*) FROM ? WHERE run_id = ?", bun.Ident(table), mustParse(runID)).Scan(ctx, &n); err != nil || n == 0 {
			return fmt.Errorf("not applied yet")
		}
		return nil
	})
	killProcess(t, w)
}

// killProcess kills a worker process with SIGKILL and waits for it.
func killProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}
