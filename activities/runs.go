// Package activities holds the Temporal activities of Tributary. Each group is a struct that
// holds its dependencies; the worker registers the structs whole.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/store"
)

// Error types of non-retryable activity failures, as shown in the Temporal UI.
const (
	ErrTypeInvalidInput   = "InvalidInput"
	ErrTypeTaskNotFound   = "TaskNotFound"
	ErrTypeInvalidConfig  = "InvalidConfig"
	ErrTypeUnexpectedCode = "UnexpectedStatus"
)

// Runs records run history. It is the only writer of runs rows during a run.
type Runs struct {
	// Store is the database.
	Store *store.Store
	// Temporal is used to describe busy workflows and wait for them.
	Temporal client.Client
	// Metrics counts runs as they start and end. Optional.
	Metrics *metrics.Registry
}

// RunStart describes a run as it starts.
type RunStart struct {
	RunID         string
	Kind          string
	TaskID        string
	TaskType      string
	ConnectorID   string
	SubjectName   string
	Trigger       string
	TriggeredBy   string
	WorkflowID    string
	WorkflowRunID string
	StartedAt     time.Time
}

func (in RunStart) row() (*store.Run, error) {
	id, err := uuid.Parse(in.RunID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("run ID %q is not a UUID", in.RunID), ErrTypeInvalidInput, nil)
	}
	r := &store.Run{
		ID: id, Kind: in.Kind, SubjectName: in.SubjectName, Trigger: in.Trigger, TriggeredBy: in.TriggeredBy,
		StartedAt: in.StartedAt, WorkflowID: in.WorkflowID, WorkflowRunID: in.WorkflowRunID, Attempt: 1,
	}
	if in.TaskID != "" {
		tid, err := uuid.Parse(in.TaskID)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task ID %q is not a UUID", in.TaskID), ErrTypeInvalidInput, nil)
		}
		tt := in.TaskType
		r.TaskID, r.TaskType = &tid, &tt
	}
	if in.ConnectorID != "" {
		cid, err := uuid.Parse(in.ConnectorID)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("connector ID %q is not a UUID", in.ConnectorID), ErrTypeInvalidInput, nil)
		}
		r.ConnectorID = &cid
	}
	return r, nil
}

// RecordRunStart inserts the run as running. Idempotent.
func (a *Runs) RecordRunStart(ctx context.Context, in RunStart) error {
	r, err := in.row()
	if err != nil {
		return err
	}
	inserted, err := a.Store.Runs.RecordStartOnce(ctx, r)
	if inserted && a.Metrics != nil {
		a.Metrics.RunStarted(in.Kind, in.TaskType)
	}
	return err
}

// RunEnd is the outcome of a run.
type RunEnd struct {
	RunID   string
	Status  string
	EndedAt time.Time
	Counts  map[string]int64
	Error   string
	// Details replaces the run's details when set (a sync's per-record outcomes).
	Details any `json:",omitempty"`
}

// RecordRunEnd closes the run. Idempotent: a run already closed is left as it is.
func (a *Runs) RecordRunEnd(ctx context.Context, in RunEnd) error {
	id, err := uuid.Parse(in.RunID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("run ID %q is not a UUID", in.RunID), ErrTypeInvalidInput, nil)
	}
	if in.Details != nil {
		if err := a.Store.Runs.SetDetails(ctx, id, in.Details); err != nil {
			return err
		}
	}
	var run *store.Run
	if a.Metrics != nil { // read before the run ends: its workflow closes right after
		run, err = a.Store.Runs.Get(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			run = nil
		case err != nil:
			return err
		}
	}
	finished, err := a.Store.Runs.Finish(ctx, id, store.RunEnd{Status: in.Status, EndedAt: in.EndedAt, Counts: in.Counts, Error: in.Error})
	if finished && run != nil {
		typ := ""
		if run.TaskType != nil {
			typ = *run.TaskType
		}
		a.Metrics.RunFinished(run.Kind, typ, in.Status, max(in.EndedAt.Sub(run.StartedAt), 0), in.Counts)
	}
	return err
}

// RunSkipped describes a scheduled run that found its exclusivity key busy.
type RunSkipped struct {
	Run RunStart
	// BusyWorkflowID is the workflow ID (the exclusivity key) that was running.
	BusyWorkflowID string
}

// RecordRunSkipped inserts the run as skipped, naming the run that held the key. Idempotent.
func (a *Runs) RecordRunSkipped(ctx context.Context, in RunSkipped) error {
	r, err := in.Run.row()
	if err != nil {
		return err
	}
	r.Error = fmt.Sprintf("skipped: %s was busy", in.BusyWorkflowID)
	if desc, err := a.Temporal.DescribeWorkflowExecution(ctx, in.BusyWorkflowID, ""); err == nil {
		busyRun := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		r.Error = fmt.Sprintf("skipped: %s was busy with Temporal run %s", in.BusyWorkflowID, busyRun)
		if other, err := a.Store.Runs.GetByWorkflowRun(ctx, busyRun); err == nil {
			r.Error = fmt.Sprintf("skipped: %s was busy with run %s (Temporal run %s)", in.BusyWorkflowID, other.ID, busyRun)
		}
	}
	inserted, err := a.Store.Runs.RecordSkipped(ctx, r)
	if inserted && a.Metrics != nil {
		a.Metrics.RunFinished(in.Run.Kind, in.Run.TaskType, store.StatusSkipped, 0, nil)
	}
	return err
}

// WaitForWorkflowClose blocks until no execution of workflowID is running, heartbeating
// while it waits. It is how a buffered scheduled run queues behind a busy key.
func (a *Runs) WaitForWorkflowClose(ctx context.Context, workflowID string) error {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		desc, err := a.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			return nil
		case err != nil:
			return fmt.Errorf("describe %s: %w", workflowID, err)
		case desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			return nil
		}
		activity.RecordHeartbeat(ctx, fmt.Sprintf("waiting for %s (Temporal run %s)", workflowID,
			desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
