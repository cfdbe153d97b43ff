package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/tributary-io/tributary/store"
)

// ReconcileRuns closes run-history rows that say "running" although their workflow execution
// has closed without recording its end: a run terminated from the Temporal UI, or one whose
// history was lost. Runs younger than minAge are left alone. It returns how many it closed.
func (d *Dispatcher) ReconcileRuns(ctx context.Context, minAge time.Duration) (int, error) {
	running, err := d.opts.Store.Runs.ListRunning(ctx, time.Now().Add(-minAge), 1000)
	if err != nil {
		return 0, fmt.Errorf("list running runs: %w", err)
	}
	closed := 0
	var errs []error
	for _, r := range running {
		status, reason := "", ""
		desc, err := d.opts.Client.DescribeWorkflowExecution(ctx, r.WorkflowID, r.WorkflowRunID)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			status, reason = store.StatusFailed, "the workflow execution no longer exists in Temporal"
		case err != nil:
			errs = append(errs, fmt.Errorf("describe %s/%s: %w", r.WorkflowID, r.WorkflowRunID, err))
			continue
		default:
			status, reason = closedStatus(desc.GetWorkflowExecutionInfo().GetStatus())
		}
		if status == "" {
			continue
		}
		end := time.Now()
		if ct := desc.GetWorkflowExecutionInfo().GetCloseTime(); ct != nil {
			end = ct.AsTime()
		}
		changed, err := d.opts.Store.Runs.Finish(ctx, r.ID, store.RunEnd{Status: status, EndedAt: end, Error: reason})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			closed++
		}
	}
	return closed, errors.Join(errs...)
}

// closedStatus maps a closed workflow's status to a run status; "" for a running workflow.
func closedStatus(s enumspb.WorkflowExecutionStatus) (string, string) {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED:
		return "", ""
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return store.StatusCancelled, "the workflow execution was terminated in Temporal"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return store.StatusCancelled, "the workflow execution was cancelled before it recorded its end"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return store.StatusTimedOut, "the workflow execution timed out in Temporal"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return store.StatusSucceeded, "the workflow completed without recording its end"
	}
	return store.StatusFailed, "the workflow execution closed as " + s.String() + " before it recorded its end"
}
