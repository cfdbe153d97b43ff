package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// TaskRunInput starts one run of an integration task. It carries references and limits only:
// the activity reads the task's configuration, secrets included, from Postgres.
type TaskRunInput struct {
	RunID       string
	TaskID      string
	TaskType    string
	TaskName    string
	Trigger     string
	TriggeredBy string
	// MaxDuration bounds the whole run, retries included; past it the run ends timed_out.
	MaxDuration time.Duration
	// MaxAttempts bounds the attempts of the task's activity.
	MaxAttempts int32
	// HeartbeatTimeout is how long the activity may go without a heartbeat before Temporal
	// retries it elsewhere (a crashed worker). Optional; defaults to 30s.
	HeartbeatTimeout time.Duration
	// RetryMaxInterval caps the wait between attempts of the activity (it starts at 2s and
	// doubles). Optional; defaults to 5 minutes.
	RetryMaxInterval time.Duration `json:",omitempty"`
}

// TaskRunResult is the outcome of a run.
type TaskRunResult struct {
	RunID  string
	Status string
	Counts map[string]int64
}

// recordRunStartName is the registered name of activities.Runs.RecordRunStart; local
// activities are called by name so that the worker's instance (with its store) runs them.
const (
	recordRunStartName = "RecordRunStart"
	recordRunEndName   = "RecordRunEnd"
)

var bookkeepingLocalOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    bookkeepingOptions.StartToCloseTimeout,
	ScheduleToCloseTimeout: bookkeepingOptions.ScheduleToCloseTimeout,
	RetryPolicy:            bookkeepingOptions.RetryPolicy,
}

// Error types of failed task workflows, as shown in the Temporal UI.
const (
	ErrTypeTaskFailed   = "TaskFailed"
	ErrTypeTaskTimedOut = "TaskTimedOut"
)

// bookkeepingOptions are the activity options of run-history writes: short, retried until
// the database answers, for up to a day.
var bookkeepingOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
	},
}

// IntegrationTaskWorkflow runs one integration task: it records the run's start, executes the
// task type's activity within the task's limits, and records the end whatever happened
// (success, failure, time-out or cancellation).
func IntegrationTaskWorkflow(ctx workflow.Context, in TaskRunInput) (TaskRunResult, error) {
	info := workflow.GetInfo(ctx)
	result := TaskRunResult{RunID: in.RunID, Counts: map[string]int64{}}

	start := activities.RunStart{
		RunID: in.RunID, Kind: store.KindTask, TaskID: in.TaskID, TaskType: in.TaskType, SubjectName: in.TaskName,
		Trigger: in.Trigger, TriggeredBy: in.TriggeredBy, WorkflowID: info.WorkflowExecution.ID,
		WorkflowRunID: info.WorkflowExecution.RunID, StartedAt: workflow.Now(ctx),
	}
	// Run-history writes are local activities: they run on this worker without a round trip
	// through the task queue, so the task's own activity starts (and the run ends) sooner.
	lctx := workflow.WithLocalActivityOptions(ctx, bookkeepingLocalOptions)
	if err := workflow.ExecuteLocalActivity(lctx, recordRunStartName, start).Get(ctx, nil); err != nil {
		return result, err
	}

	status, out, runErr := executeTask(ctx, in)
	result.Status = status
	for k, v := range out.Counts {
		result.Counts[k] = v
	}

	// A cancelled workflow's context is done: record the end on a disconnected one.
	endCtx := lctx
	if ctx.Err() != nil {
		endCtx, _ = workflow.NewDisconnectedContext(lctx)
	}
	end := activities.RunEnd{RunID: in.RunID, Status: status, EndedAt: workflow.Now(endCtx), Counts: result.Counts}
	if runErr != nil {
		end.Error = failureMessage(runErr)
	}
	if err := workflow.ExecuteLocalActivity(endCtx, recordRunEndName, end).Get(endCtx, nil); err != nil {
		return result, err
	}
	switch status {
	case store.StatusSucceeded:
		return result, nil
	case store.StatusCancelled:
		return result, temporal.NewCanceledError(end.Error)
	case store.StatusTimedOut:
		return result, temporal.NewNonRetryableApplicationError(end.Error, ErrTypeTaskTimedOut, nil)
	default:
		return result, temporal.NewNonRetryableApplicationError(end.Error, ErrTypeTaskFailed, nil)
	}
}

// retryMax is a run's cap on the wait between attempts: max when given, else def.
func retryMax(max, def time.Duration) time.Duration {
	if max > 0 {
		return max
	}
	return def
}

// retryInitial is the first wait between attempts: 2s, or the cap when it is shorter.
func retryInitial(max time.Duration) time.Duration {
	if max > 0 && max < 2*time.Second {
		return max
	}
	return 2 * time.Second
}

// executeTask runs the type's activity, bounded by the run's MaxDuration.
func executeTask(ctx workflow.Context, in TaskRunInput) (string, activities.TaskOutput, error) {
	var out activities.TaskOutput
	hb := in.HeartbeatTimeout
	if hb <= 0 {
		hb = 30 * time.Second
	}
	maxDur := in.MaxDuration
	if maxDur <= 0 {
		maxDur = time.Hour
	}
	attempts := in.MaxAttempts
	if attempts <= 0 {
		attempts = 1
	}
	actCtx, cancelAct := workflow.WithCancel(ctx)
	actCtx = workflow.WithActivityOptions(actCtx, workflow.ActivityOptions{
		StartToCloseTimeout: maxDur,
		HeartbeatTimeout:    hb,
		WaitForCancellation: true,
		Summary:             fmt.Sprintf("%s %q", in.TaskType, in.TaskName),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    retryInitial(in.RetryMaxInterval),
			BackoffCoefficient: 2,
			MaximumInterval:    retryMax(in.RetryMaxInterval, 5*time.Minute),
			MaximumAttempts:    attempts,
			NonRetryableErrorTypes: []string{
				activities.ErrTypeInvalidInput, activities.ErrTypeTaskNotFound, activities.ErrTypeInvalidConfig,
			},
		},
	})

	typ, ok := tasktype.Lookup(in.TaskType)
	if !ok {
		cancelAct()
		return store.StatusFailed, out, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("this worker does not know task type %q", in.TaskType), activities.ErrTypeInvalidConfig, nil)
	}
	fut := workflow.ExecuteActivity(actCtx, typ.Activity, activities.TaskInput{RunID: in.RunID, TaskID: in.TaskID})

	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	deadline := workflow.NewTimer(timerCtx, maxDur)
	timedOut := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(fut, func(workflow.Future) { cancelTimer() })
	sel.AddFuture(deadline, func(f workflow.Future) {
		if f.Get(ctx, nil) == nil {
			timedOut = true
			cancelAct()
		}
	})
	sel.Select(ctx)
	err := fut.Get(ctx, &out)
	switch {
	case timedOut:
		return store.StatusTimedOut, out, fmt.Errorf("the run exceeded its maximum duration of %s", maxDur)
	case err == nil:
		return store.StatusSucceeded, out, nil
	case ctx.Err() != nil:
		return store.StatusCancelled, out, errors.New("the run was cancelled")
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_START_TO_CLOSE {
		return store.StatusTimedOut, out, fmt.Errorf("the run exceeded its maximum duration of %s", maxDur)
	}
	return store.StatusFailed, out, err
}

// failureMessage returns the innermost readable message of an activity failure, without the
// SDK's wrapping ("activity error (type: ..., scheduledEventID: ...)").
func failureMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return fmt.Sprintf("activity timed out (%s)", timeoutName(te.TimeoutType()))
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		return "cancelled"
	}
	return err.Error()
}

func timeoutName(t enumspb.TimeoutType) string {
	switch t {
	case enumspb.TIMEOUT_TYPE_HEARTBEAT:
		return "no heartbeat in time: the worker may have died"
	case enumspb.TIMEOUT_TYPE_START_TO_CLOSE:
		return "start-to-close"
	case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		return "no worker picked it up"
	case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE:
		return "schedule-to-close"
	}
	return t.String()
}
