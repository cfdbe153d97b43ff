package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
)

// Overlap policies of a task: what a scheduled run does when its exclusivity key is busy.
const (
	// OverlapSkip records the scheduled run as skipped.
	OverlapSkip = "skip"
	// OverlapBufferOne waits for the busy run to end, then runs (the schedule buffers at most one more).
	OverlapBufferOne = "buffer_one"
)

// Options shared by the scheduled workflows' children: a child outlives its scheduled parent,
// and its key may be reused once the previous run closed.
const (
	parentAbandon       = enumspb.PARENT_CLOSE_POLICY_ABANDON
	reuseAllowDuplicate = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
)

// newRunID returns a run-history ID; call it inside workflow.SideEffect only.
func newRunID() string { return uuid.NewString() }

// maxBufferedWaits bounds how often a buffered run waits behind other runs before it gives up
// and records itself as skipped.
const maxBufferedWaits = 5

// ScheduledTaskInput is the fixed input a task's schedule gives each of its runs.
type ScheduledTaskInput struct {
	Task          TaskRunInput
	OverlapPolicy string
}

// ScheduledTaskResult says what a scheduled run did.
type ScheduledTaskResult struct {
	RunID         string
	Skipped       bool
	WorkflowID    string
	WorkflowRunID string
}

// ScheduledTaskWorkflow is the action of a task's Temporal Schedule. A schedule's own overlap
// policy only sees that schedule's runs, so this workflow takes the task type's exclusivity key
// itself: it starts IntegrationTask as a child under TaskWorkflowID and, when that ID is
// already running, records a skipped run (or waits for it, under OverlapBufferOne).
func ScheduledTaskWorkflow(ctx workflow.Context, in ScheduledTaskInput) (ScheduledTaskResult, error) {
	var runs *activities.Runs
	var runID string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return newRunID() }).Get(&runID); err != nil {
		return ScheduledTaskResult{}, err
	}
	task := in.Task
	task.RunID = runID
	task.Trigger = store.TriggerScheduled
	if task.TriggeredBy == "" {
		task.TriggeredBy = "schedule " + TaskScheduleID(task.TaskID)
	}
	key := TaskWorkflowID(task.TaskType)
	res := ScheduledTaskResult{RunID: runID, WorkflowID: key}

	for waits := 0; ; waits++ {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            key,
			ParentClosePolicy:     parentAbandon,
			WorkflowIDReusePolicy: reuseAllowDuplicate,
			TypedSearchAttributes: TaskSearchAttributes(task.TaskType, task.TaskID, task.Trigger, runID),
			Memo:                  TaskMemo(task),
			StaticSummary:         TaskSummary(task),
		})
		child := workflow.ExecuteChildWorkflow(cctx, IntegrationTaskName, task)
		var exec workflow.Execution
		err := child.GetChildWorkflowExecution().Get(ctx, &exec)
		if err == nil {
			res.WorkflowRunID = exec.RunID
			return res, nil
		}
		var busy *temporal.ChildWorkflowExecutionAlreadyStartedError
		if !errors.As(err, &busy) {
			return res, err
		}
		if in.OverlapPolicy != OverlapBufferOne || waits >= maxBufferedWaits {
			break
		}
		wctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: task.MaxDuration + 10*time.Minute,
			HeartbeatTimeout:    30 * time.Second,
			Summary:             "wait for " + key,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
		})
		if err := workflow.ExecuteActivity(wctx, runs.WaitForWorkflowClose, key).Get(ctx, nil); err != nil {
			return res, err
		}
	}

	run := activities.RunStart{
		RunID: runID, Kind: store.KindTask, TaskID: task.TaskID, TaskType: task.TaskType, SubjectName: task.TaskName,
		Trigger: task.Trigger, TriggeredBy: task.TriggeredBy,
	}
	if err := recordSkipped(ctx, key, run); err != nil {
		return res, err
	}
	res.Skipped = true
	return res, nil
}

// recordSkipped records run, started by this (scheduled) workflow execution now, as skipped
// because key was busy.
func recordSkipped(ctx workflow.Context, key string, run activities.RunStart) error {
	var runs *activities.Runs
	info := workflow.GetInfo(ctx)
	run.WorkflowID, run.WorkflowRunID, run.StartedAt = info.WorkflowExecution.ID, info.WorkflowExecution.RunID, workflow.Now(ctx)
	bctx := workflow.WithActivityOptions(ctx, bookkeepingOptions)
	return workflow.ExecuteActivity(bctx, runs.RecordRunSkipped, activities.RunSkipped{BusyWorkflowID: key, Run: run}).Get(ctx, nil)
}

// TaskMemo is the memo of a task run: the human names an operator looks for.
func TaskMemo(t TaskRunInput) map[string]any {
	return map[string]any{
		"task":         t.TaskName,
		"task_type":    t.TaskType,
		"trigger":      t.Trigger,
		"triggered_by": t.TriggeredBy,
		"run_id":       t.RunID,
	}
}

// TaskSummary is the one-line summary of a task run in the Temporal UI.
func TaskSummary(t TaskRunInput) string {
	by := ""
	if t.TriggeredBy != "" {
		by = " by " + t.TriggeredBy
	}
	return fmt.Sprintf("%s %q (%s%s)", t.TaskType, t.TaskName, t.Trigger, by)
}
