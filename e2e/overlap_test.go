package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/valid"
)

// blockingHandler holds every request until release is closed (or the caller gives up).
func blockingHandler(release <-chan struct{}) func(http.ResponseWriter, *http.Request, int64) {
	return func(w http.ResponseWriter, r *http.Request, _ int64) {
		select {
		case <-release:
			fmt.Fprint(w, "ok")
		case <-r.Context().Done():
		}
	}
}

// Concurrent manual triggers of two tasks of one type: exactly one starts, the others get
// 409 naming the running run, and the target never sees two requests at once.
func TestConcurrentManualTriggersNeverOverlap(t *testing.T) {
	s := newStack(t, stackOptions{})
	release := make(chan struct{})
	tg := newTarget(t, blockingHandler(release))
	a := s.createHTTPTask("a", tg.srv.URL, nil)
	b := s.createHTTPTask("b", tg.srv.URL, nil)

	type outcome struct {
		status int
		body   []byte
	}
	results := make(chan outcome, 12)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		id := a.ID
		if i%2 == 1 {
			id = b.ID
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do("POST", "/api/v1/tasks/"+id+"/runs", nil)
			results <- outcome{r.status, r.body}
		}()
	}
	wg.Wait()
	close(results)
	var started triggered
	accepted, busy := 0, 0
	for r := range results {
		switch r.status {
		case http.StatusAccepted:
			accepted++
			if err := json.Unmarshal(r.body, &started); err != nil {
				t.Fatal(err)
			}
		case http.StatusConflict:
			busy++
			var e apiErr
			if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != "busy" {
				t.Fatalf("409 body: %s", r.body)
			}
		default:
			t.Fatalf("unexpected answer %d: %s", r.status, r.body)
		}
	}
	if accepted != 1 || busy != 11 {
		t.Fatalf("accepted %d, busy %d; want 1 and 11", accepted, busy)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if tg.calls.Load() < 1 {
			return errors.New("target not called yet")
		}
		return nil
	})
	// Once the run is recorded, a 409 names it.
	var e apiErr
	s.must(http.StatusConflict, "POST", "/api/v1/tasks/"+b.ID+"/runs", nil, &e)
	if e.Error.RunningRunID != started.RunID {
		t.Fatalf("409 names run %q, want %q", e.Error.RunningRunID, started.RunID)
	}
	close(release)
	if run := s.waitRun(started.RunID, 30*time.Second); run.Status != store.StatusSucceeded {
		t.Fatalf("run: %+v", run)
	}
	// The key is free again.
	var again triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+b.ID+"/runs", nil, &again)
	s.waitRun(again.RunID, 30*time.Second)
	if tg.max() != 1 {
		t.Fatalf("target saw %d requests at once", tg.max())
	}
}

// Two schedules of the same task type firing every second, with runs longer than a second:
// executions never overlap, and the scheduled runs that found the key busy are recorded as skipped.
func TestTwoSchedulesOfOneTypeNeverOverlap(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
		}
	})
	a := s.createHTTPTask("every-second-a", tg.srv.URL, map[string]any{"schedule": "@every 1s"})
	b := s.createHTTPTask("every-second-b", tg.srv.URL, map[string]any{"schedule": "@every 1s"})
	ctx := ctxTimeout(t, 2*time.Minute)
	var runs []store.Run
	testenv.Eventually(t, 60*time.Second, func() error {
		var err error
		runs, _, err = s.store.Runs.List(ctx, store.RunFilter{Limit: 200})
		if err != nil {
			return err
		}
		n := map[string]int{}
		for _, r := range runs {
			n[r.Status]++
		}
		if n[store.StatusSucceeded] < 3 || n[store.StatusSkipped] < 3 {
			return fmt.Errorf("runs so far: %v", n)
		}
		return nil
	})
	s.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/"+a.ID, nil, nil)
	s.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/"+b.ID, nil, nil)
	if tg.max() != 1 {
		t.Fatalf("target saw %d requests at once", tg.max())
	}
	var done [][2]time.Time
	tasksSeen := map[string]bool{}
	for _, r := range runs {
		if r.Trigger != store.TriggerScheduled {
			t.Fatalf("run %s has trigger %s", r.ID, r.Trigger)
		}
		tasksSeen[r.TaskID.String()] = true
		switch r.Status {
		case store.StatusSucceeded:
			done = append(done, [2]time.Time{r.StartedAt, *r.EndedAt})
		case store.StatusSkipped:
			if r.Error == "" {
				t.Fatalf("skipped run %s does not say why", r.ID)
			}
		}
	}
	if !tasksSeen[a.ID] || !tasksSeen[b.ID] {
		t.Fatalf("both schedules should have fired: %v", tasksSeen)
	}
	sort.Slice(done, func(i, j int) bool { return done[i][0].Before(done[j][0]) })
	for i := 1; i < len(done); i++ {
		if done[i][0].Before(done[i-1][1]) {
			t.Fatalf("run history shows overlapping runs: %v then %v", done[i-1], done[i])
		}
	}
}

// e2eProbe is a second task type, used to show that different types run at the same time.
const e2eProbe = "e2e_probe"

type probeConfig struct {
	URL string `json:"url" validate:"required"`
}

func (c *probeConfig) Validate() []valid.FieldError { return nil }
func (c *probeConfig) Redacted() any                { return c }
func (c *probeConfig) KeepSecrets(tasktype.Config)  {}
func (c *probeConfig) SecretFields() []*string      { return nil }

func init() {
	// Its config is a URL, the core of an HTTP call's: that is the schema it points at.
	tasktype.Register(tasktype.Type{Name: e2eProbe, Title: "E2E probe", Description: "Test type: calls a URL.",
		Activity: "E2EProbe", New: func() tasktype.Config { return &probeConfig{} }, ConfigSchema: "HTTPCallConfig"})
}

type probe struct{ store *store.Store }

func (p *probe) E2EProbe(ctx context.Context, in activities.TaskInput) (activities.TaskOutput, error) {
	task, err := p.store.Tasks.Get(ctx, mustParse(in.TaskID))
	if err != nil {
		return activities.TaskOutput{}, err
	}
	var cfg probeConfig
	if err := json.Unmarshal(task.Config, &cfg); err != nil {
		return activities.TaskOutput{}, err
	}
	activity.RecordHeartbeat(ctx, "calling")
	req, err := http.NewRequestWithContext(ctx, "GET", cfg.URL, nil)
	if err != nil {
		return activities.TaskOutput{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return activities.TaskOutput{}, err
	}
	resp.Body.Close()
	return activities.TaskOutput{Counts: map[string]int64{"probes": 1}}, nil
}

// Runs of different task types hold different keys and run at the same time.
func TestDifferentTypesRunConcurrently(t *testing.T) {
	s := newStack(t, stackOptions{register: func(s *stack, r sdkworker.Registry) {
		r.RegisterActivityWithOptions((&probe{store: s.store}).E2EProbe, activity.RegisterOptions{Name: "E2EProbe"})
	}})
	release := make(chan struct{})
	tg := newTarget(t, blockingHandler(release))
	h := s.createHTTPTask("http", tg.srv.URL, nil)
	var p taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": e2eProbe, "name": "probe",
		"config": map[string]any{"url": tg.srv.URL}}, &p)
	var r1, r2 triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+h.ID+"/runs", nil, &r1)
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+p.ID+"/runs", nil, &r2)
	testenv.Eventually(t, 30*time.Second, func() error {
		if tg.max() < 2 {
			return fmt.Errorf("%d requests in flight at most", tg.max())
		}
		return nil
	})
	close(release)
	for _, id := range []string{r1.RunID, r2.RunID} {
		if run := s.waitRun(id, 30*time.Second); run.Status != store.StatusSucceeded {
			t.Fatalf("run %s: %+v", id, run)
		}
	}
	if r1.WorkflowID == r2.WorkflowID {
		t.Fatalf("both runs used key %s", r1.WorkflowID)
	}
}
