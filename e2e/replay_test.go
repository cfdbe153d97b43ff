package e2e

import (
	"errors"
	"net/http"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/workflows"
)

// Histories of real runs (succeeded, failed, skipped by a schedule) replay deterministically
// with the current workflow code.
func TestWorkflowHistoriesReplay(t *testing.T) {
	s := newStack(t, stackOptions{})
	release := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, call int64) {
		if call == 1 {
			blockingHandler(release)(w, r, call)
			return
		}
		http.Error(w, "nope", http.StatusBadRequest)
	})
	manual := s.createHTTPTask("replay-manual", tg.srv.URL, nil)
	first := trigger(s, manual.ID)
	waitCalls(t, tg, 1)
	sched := s.createHTTPTask("replay-scheduled", tg.srv.URL, map[string]any{"schedule": "@every 1s"})
	latest := func(status string) runView {
		var id string
		testenv.Eventually(t, 30*time.Second, func() error {
			page := runPage{}
			s.must(http.StatusOK, "GET", "/api/v1/runs?status="+status+"&task_id="+sched.ID, nil, &page)
			if len(page.Items) == 0 {
				return errors.New("no " + status + " run yet")
			}
			id = page.Items[0].ID
			return nil
		})
		return s.waitRun(id, 30*time.Second)
	}
	skipped := latest("skipped")
	close(release)
	succeeded := s.waitRun(first.RunID, 30*time.Second)
	failed := latest("failed")
	s.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/"+sched.ID, nil, nil)

	replayRuns(t, s, succeeded, failed, skipped)
}

// replayRuns replays the Temporal histories of runs with the current workflow code.
func replayRuns(t *testing.T, s *stack, runs ...runView) {
	t.Helper()
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.IntegrationTaskWorkflow, workflow.RegisterOptions{Name: workflows.IntegrationTaskName})
	replayer.RegisterWorkflowWithOptions(workflows.ScheduledTaskWorkflow, workflow.RegisterOptions{Name: workflows.ScheduledIntegrationTaskName})
	replayer.RegisterWorkflowWithOptions(workflows.ConnectorOperationWorkflow, workflow.RegisterOptions{Name: workflows.ConnectorOperationName})
	replayer.RegisterWorkflowWithOptions(workflows.ScheduledConnectorOperationWorkflow, workflow.RegisterOptions{Name: workflows.ScheduledConnectorOperationName})
	ctx := ctxTimeout(t, time.Minute)
	for _, r := range runs {
		it := s.client.GetWorkflowHistory(ctx, r.WorkflowID, r.WorkflowRunID, false, 0)
		h := &historypb.History{}
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
			t.Fatalf("replay of %s run %s/%s: %v", r.Status, r.WorkflowID, r.WorkflowRunID, err)
		}
	}
}
