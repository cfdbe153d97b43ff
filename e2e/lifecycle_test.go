package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/workflows"
)

func trigger(s *stack, taskID string) triggered {
	s.t.Helper()
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+taskID+"/runs", nil, &tr)
	return tr
}

func waitCalls(t *testing.T, tg *target, n int64) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := tg.calls.Load(); got < n {
			return fmt.Errorf("target called %d times, want %d", got, n)
		}
		return nil
	})
}

// A task that keeps failing ends failed after its attempts, with a readable error; the
// Temporal execution fails too.
func TestFailingTaskRecordsFailure(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		http.Error(w, "upstream exploded", http.StatusInternalServerError)
	})
	task := s.createHTTPTask("flaky", tg.srv.URL+"/x", map[string]any{"max_attempts": 2})
	tr := trigger(s, task.ID)
	run := s.waitRun(tr.RunID, 60*time.Second)
	if run.Status != store.StatusFailed || run.Attempt != 2 || tg.calls.Load() != 2 {
		t.Fatalf("run %+v after %d calls", run, tg.calls.Load())
	}
	if !strings.Contains(run.Error, "answered 500 Internal Server Error; expected a 2xx status") {
		t.Fatalf("error: %q", run.Error)
	}
	if run.Details["excerpt"] != "upstream exploded\n" {
		t.Fatalf("details: %v", run.Details)
	}
	err := s.client.GetWorkflow(context.Background(), tr.WorkflowID, tr.WorkflowRunID).Get(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "answered 500") {
		t.Fatalf("workflow error: %v", err)
	}

	// A 404 is not retried.
	tg404 := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) { http.NotFound(w, r) })
	task404 := s.createHTTPTask("missing", tg404.srv.URL, map[string]any{"max_attempts": 5})
	run = s.waitRun(trigger(s, task404.ID).RunID, 30*time.Second)
	if run.Status != store.StatusFailed || run.Attempt != 1 || tg404.calls.Load() != 1 {
		t.Fatalf("404 run %+v after %d calls", run, tg404.calls.Load())
	}
}

// A worker that stops mid-run: another worker retries the activity and the run history is
// right at the end (one run, succeeded, on its second attempt).
func TestRunSurvivesWorkerRestart(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, call int64) {
		if call == 1 {
			<-r.Context().Done() // hangs until the first worker goes away
			return
		}
		fmt.Fprint(w, "second attempt")
	})
	task := s.createHTTPTask("restart", tg.srv.URL, map[string]any{"max_attempts": 3})
	w1 := s.startWorker()
	tr := trigger(s, task.ID)
	waitCalls(t, tg, 1)
	w1.Stop()
	r, err := s.store.Runs.Get(context.Background(), mustParse(tr.RunID))
	if err != nil || r.Status != store.StatusRunning {
		t.Fatalf("after the worker stopped the run should still be running: %+v %v", r, err)
	}
	s.startWorker()
	run := s.waitRun(tr.RunID, 60*time.Second)
	if run.Status != store.StatusSucceeded || run.Attempt < 2 || run.Details["excerpt"] != "second attempt" {
		t.Fatalf("run after restart: %+v", run)
	}
	page := runPage{}
	s.must(http.StatusOK, "GET", "/api/v1/runs?task_id="+task.ID, nil, &page)
	if len(page.Items) != 1 {
		t.Fatalf("want exactly one run in history, got %d", len(page.Items))
	}
}

// A run past its maximum duration ends timed_out.
func TestRunTimesOut(t *testing.T) {
	s := newStack(t, stackOptions{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tg := newTarget(t, blockingHandler(release))
	task := s.createHTTPTask("slow", tg.srv.URL, map[string]any{"max_duration_seconds": 2})
	run := s.waitRun(trigger(s, task.ID).RunID, 30*time.Second)
	if run.Status != store.StatusTimedOut || !strings.Contains(run.Error, "maximum duration of 2s") {
		t.Fatalf("run: %+v", run)
	}
	if d := *run.DurationMS; d < 2000 || d > 15000 {
		t.Fatalf("duration %dms", d)
	}
}

// Cancelling the workflow in Temporal ends the run cancelled; terminating it leaves no chance
// to record the end, and reconciliation closes the row.
func TestCancelAndTerminate(t *testing.T) {
	s := newStack(t, stackOptions{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tg := newTarget(t, blockingHandler(release))
	task := s.createHTTPTask("long", tg.srv.URL, nil)
	ctx := ctxTimeout(t, time.Minute)

	tr := trigger(s, task.ID)
	waitCalls(t, tg, 1)
	if err := s.client.CancelWorkflow(ctx, tr.WorkflowID, tr.WorkflowRunID); err != nil {
		t.Fatal(err)
	}
	run := s.waitRun(tr.RunID, 30*time.Second)
	if run.Status != store.StatusCancelled {
		t.Fatalf("cancelled run: %+v", run)
	}

	tr = trigger(s, task.ID)
	waitCalls(t, tg, 2)
	testenv.Eventually(t, 10*time.Second, func() error {
		_, err := s.store.Runs.Get(ctx, mustParse(tr.RunID))
		return err
	})
	if err := s.client.TerminateWorkflow(ctx, tr.WorkflowID, tr.WorkflowRunID, "operator stopped it"); err != nil {
		t.Fatal(err)
	}
	closed, err := s.dispatcher.ReconcileRuns(ctx, 0)
	if err != nil || closed != 1 {
		t.Fatalf("reconcile closed %d: %v", closed, err)
	}
	run = s.waitRun(tr.RunID, 5*time.Second)
	if run.Status != store.StatusCancelled || !strings.Contains(run.Error, "terminated") {
		t.Fatalf("terminated run: %+v", run)
	}
}

// Task CRUD keeps the Temporal Schedule in step: created, paused when disabled, deleted with
// the schedule or the task; reconciliation repairs drift.
func TestScheduleFollowsTaskConfiguration(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := ctxTimeout(t, time.Minute)
	task := s.createHTTPTask("nightly", "http://127.0.0.1:9/", map[string]any{"schedule": "0 3 * * *", "timezone": "Europe/Berlin"})
	if task.ScheduleID != "task/"+task.ID {
		t.Fatalf("schedule_id %q", task.ScheduleID)
	}
	h := s.client.ScheduleClient().GetHandle(ctx, task.ScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Schedule.State.Paused || desc.Schedule.Spec.TimeZoneName != "Europe/Berlin" {
		t.Fatalf("schedule: paused=%v tz=%q", desc.Schedule.State.Paused, desc.Schedule.Spec.TimeZoneName)
	}
	act := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if act.ID != workflows.TaskScheduleWorkflowID(task.ID) || act.TaskQueue != taskQueue {
		t.Fatalf("schedule action: %+v", act)
	}

	body := map[string]any{"type": "http_call", "name": "nightly", "config": map[string]any{"url": "http://127.0.0.1:9/"},
		"schedule": "*/5 * * * *", "enabled": false}
	s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+task.ID, body, nil)
	desc, err = h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !desc.Schedule.State.Paused || desc.Schedule.State.Note != "task disabled" {
		t.Fatalf("disabled task's schedule should be paused: %+v", desc.Schedule.State)
	}

	body["schedule"] = ""
	s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+task.ID, body, nil)
	if _, err := h.Describe(ctx); !isNotFound(err) {
		t.Fatalf("schedule should be gone: %v", err)
	}

	// Drift: a task whose schedule is missing, and a schedule whose task is gone.
	body["schedule"] = "@hourly"
	body["enabled"] = true
	s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+task.ID, body, nil)
	if err := h.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	orphan := workflows.TaskScheduleID("00000000-0000-4000-8000-000000000001")
	if _, err := s.client.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: orphan,
		Spec: client.ScheduleSpec{CronExpressions: []string{"@daily"}}, Paused: true,
		Action: &client.ScheduleWorkflowAction{Workflow: workflows.ScheduledIntegrationTaskName, TaskQueue: taskQueue}}); err != nil {
		t.Fatal(err)
	}
	// A young orphan may be the schedule of a task whose row has not committed yet: with the
	// default age, reconciliation leaves it to the next one.
	young, err := dispatch.New(dispatch.Options{Client: s.client, Store: s.store, TaskQueue: taskQueue})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := young.ReconcileSchedules(ctx); err != nil || rep.Deleted != 0 {
		t.Fatalf("reconcile with a young orphan: %+v %v", rep, err)
	}
	if _, err := s.client.ScheduleClient().GetHandle(ctx, orphan).Describe(ctx); err != nil {
		t.Fatalf("a two-second-old orphan was deleted: %v", err)
	}
	if err := h.Delete(ctx); err != nil { // recreated by that reconciliation; drift again
		t.Fatal(err)
	}
	rep, err := s.dispatcher.ReconcileSchedules(ctx)
	if err != nil || rep.Synced != 1 || rep.Deleted != 1 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	if _, err := h.Describe(ctx); err != nil {
		t.Fatalf("reconcile should have recreated the schedule: %v", err)
	}
	if _, err := s.client.ScheduleClient().GetHandle(ctx, orphan).Describe(ctx); !isNotFound(err) {
		t.Fatalf("orphan schedule should be gone: %v", err)
	}

	s.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/"+task.ID, nil, nil)
	if _, err := h.Describe(ctx); !isNotFound(err) {
		t.Fatalf("deleting the task should delete its schedule: %v", err)
	}
	s.must(http.StatusNotFound, "GET", "/api/v1/tasks/"+task.ID, nil, nil)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// Under buffer_one a scheduled run that finds its key busy waits and then runs, instead of
// being skipped.
func TestBufferOneWaitsForTheBusyRun(t *testing.T) {
	s := newStack(t, stackOptions{})
	release := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, call int64) {
		if call == 1 {
			blockingHandler(release)(w, r, call)
		}
	})
	manual := s.createHTTPTask("manual", tg.srv.URL, nil)
	first := trigger(s, manual.ID)
	waitCalls(t, tg, 1)
	sched := s.createHTTPTask("buffered", tg.srv.URL, map[string]any{"schedule": "@every 1s", "overlap_policy": "buffer_one"})
	ctx := ctxTimeout(t, time.Minute)
	// Give the schedule time to fire while the key is busy, then free it.
	testenv.Eventually(t, 20*time.Second, func() error {
		d, err := s.client.ScheduleClient().GetHandle(ctx, sched.ScheduleID).Describe(ctx)
		if err != nil {
			return err
		}
		if len(d.Info.RunningWorkflows) == 0 {
			return errors.New("no scheduled run waiting yet")
		}
		return nil
	})
	close(release)
	firstRun := s.waitRun(first.RunID, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() error {
		tid := mustParse(sched.ID)
		runs, _, err := s.store.Runs.List(ctx, store.RunFilter{TaskID: &tid, Status: store.StatusSucceeded})
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return errors.New("no buffered run has succeeded yet")
		}
		if runs[len(runs)-1].StartedAt.Before(*firstRun.EndedAt) {
			return fmt.Errorf("buffered run started %s, before the busy run ended %s", runs[len(runs)-1].StartedAt, firstRun.EndedAt)
		}
		return nil
	})
	s.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/"+sched.ID, nil, nil)
	tid := mustParse(sched.ID)
	skipped, _, err := s.store.Runs.List(ctx, store.RunFilter{TaskID: &tid, Status: store.StatusSkipped})
	if err != nil || len(skipped) != 0 {
		t.Fatalf("buffer_one should not record skipped runs: %d %v", len(skipped), err)
	}
	if tg.max() != 1 {
		t.Fatalf("target saw %d requests at once", tg.max())
	}
}

// A call slower than the heartbeat timeout still succeeds on its first attempt: the activity
// heartbeats while it waits for the response.
func TestSlowCallKeepsHeartbeating(t *testing.T) {
	// Two seconds, not one: the SDK sends heartbeats at 80% of the timeout, so a one-second
	// timeout left 200 ms of slack, which a loaded CI machine (packages tested in parallel)
	// overran once. The call still takes well over the timeout.
	s := newStack(t, stackOptions{heartbeatTimeout: 2 * time.Second})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		time.Sleep(5 * time.Second)
		fmt.Fprint(w, "finally")
	})
	task := s.createHTTPTask("slow-but-fine", tg.srv.URL, map[string]any{"max_attempts": 3})
	run := s.waitRun(trigger(s, task.ID).RunID, 30*time.Second)
	if run.Status != store.StatusSucceeded || run.Attempt != 1 || tg.calls.Load() != 1 {
		t.Fatalf("run %+v after %d calls", run, tg.calls.Load())
	}
}
