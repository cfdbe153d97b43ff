// Package dispatch starts runs and keeps Temporal Schedules in line with the configuration in
// Postgres. The API server uses it to trigger runs and to apply configuration changes; the
// worker uses it to reconcile schedules and run history at start.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/workflows"
)

// BusyError is returned when a run cannot start because its exclusivity key is held by a
// running execution.
type BusyError struct {
	// Key is the exclusivity key: the busy workflow ID.
	Key string
	// WorkflowRunID is the Temporal run ID of the running execution.
	WorkflowRunID string
	// RunID is the run-history ID of the running execution, if it has been recorded yet.
	RunID string
}

func (e *BusyError) Error() string {
	if e.RunID != "" {
		return fmt.Sprintf("%s is busy with run %s", e.Key, e.RunID)
	}
	return fmt.Sprintf("%s is busy with Temporal run %s", e.Key, e.WorkflowRunID)
}

// Options configures a Dispatcher.
type Options struct {
	// Client is the Temporal client. Required.
	Client client.Client
	// Store is the database. Required.
	Store *store.Store
	// TaskQueue is the worker task queue that runs are started on. Required.
	TaskQueue string
	// HeartbeatTimeout is given to task activities: how soon a dead worker's activity is retried.
	// Optional; defaults to 30s.
	HeartbeatTimeout time.Duration
	// RetryMaxInterval caps the wait between attempts of a run's activities (the first wait is
	// 2s, doubling after each failure). Optional; the workflows' defaults when 0: 5 minutes for
	// tasks, 2 minutes for connectors.
	RetryMaxInterval time.Duration
	// OrphanScheduleAge is how old a schedule of Tributary's whose task or connector is not in
	// Postgres must be before reconciliation deletes it: an API server creates a new task's
	// schedule before the task's row commits, so a younger one may belong to a task being
	// created. Optional; defaults to 2 minutes.
	OrphanScheduleAge time.Duration
}

// Dispatcher starts runs and manages schedules.
type Dispatcher struct {
	opts Options
}

// New returns a Dispatcher.
func New(opts Options) (*Dispatcher, error) {
	if opts.Client == nil || opts.Store == nil || opts.TaskQueue == "" {
		return nil, errors.New("dispatch: Client, Store and TaskQueue are required")
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 30 * time.Second
	}
	if opts.OrphanScheduleAge <= 0 {
		opts.OrphanScheduleAge = 2 * time.Minute
	}
	return &Dispatcher{opts: opts}, nil
}

// Started identifies a run that was started.
type Started struct {
	RunID         string
	WorkflowID    string
	WorkflowRunID string
}

// TaskRunInput returns the workflow input of a run of t.
func (d *Dispatcher) TaskRunInput(t *store.Task, trigger, triggeredBy string) workflows.TaskRunInput {
	return workflows.TaskRunInput{
		TaskID: t.ID.String(), TaskType: t.Type, TaskName: t.Name, Trigger: trigger, TriggeredBy: triggeredBy,
		MaxDuration:      time.Duration(t.MaxDurationSeconds) * time.Second,
		MaxAttempts:      int32(t.MaxAttempts),
		HeartbeatTimeout: d.opts.HeartbeatTimeout,
		RetryMaxInterval: d.opts.RetryMaxInterval,
	}
}

// TriggerTask starts a run of t now. When a run of the same task type is in progress it
// returns a *BusyError naming that run.
func (d *Dispatcher) TriggerTask(ctx context.Context, t *store.Task, trigger, triggeredBy string) (Started, error) {
	in := d.TaskRunInput(t, trigger, triggeredBy)
	in.RunID = uuid.NewString()
	return d.start(ctx, workflows.TaskWorkflowID(t.Type), in.RunID, client.StartWorkflowOptions{
		TypedSearchAttributes: workflows.TaskSearchAttributes(t.Type, in.TaskID, trigger, in.RunID),
		Memo:                  workflows.TaskMemo(in),
		StaticSummary:         workflows.TaskSummary(in),
	}, workflows.IntegrationTaskName, in)
}

// start starts workflow under its exclusivity key with the options' search attributes, memo
// and summary, and returns a *BusyError naming the running run when the key is busy.
func (d *Dispatcher) start(ctx context.Context, key, runID string, opts client.StartWorkflowOptions, workflow string, in any) (Started, error) {
	opts.ID = key
	opts.TaskQueue = d.opts.TaskQueue
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	run, err := d.opts.Client.ExecuteWorkflow(ctx, opts, workflow, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return Started{}, d.busy(ctx, key, already.RunId)
	}
	if err != nil {
		return Started{}, fmt.Errorf("start %s: %w", key, err)
	}
	return Started{RunID: runID, WorkflowID: run.GetID(), WorkflowRunID: run.GetRunID()}, nil
}

func (d *Dispatcher) busy(ctx context.Context, key, workflowRunID string) *BusyError {
	be := &BusyError{Key: key, WorkflowRunID: workflowRunID}
	if r, err := d.opts.Store.Runs.GetByWorkflowRun(ctx, workflowRunID); err == nil {
		be.RunID = r.ID.String()
	}
	return be
}

// RegisterSearchAttributes adds Tributary's custom search attributes to namespace, leaving
// those that exist alone.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorListRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes {
		if _, ok := existing.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorAddRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes on namespace %s: %w", namespace, err)
	}
	return nil
}

// ConnectorRunInput returns the workflow input of a run of operation op of c.
func (d *Dispatcher) ConnectorRunInput(c *store.Connector, op, trigger, triggeredBy string, maxAttempts int) workflows.ConnectorRunInput {
	return workflows.ConnectorRunInput{
		ConnectorID: c.ID.String(), ConnectorName: c.Name, ToolType: c.ToolType, Operation: op,
		Trigger: trigger, TriggeredBy: triggeredBy, MaxAttempts: int32(maxAttempts), HeartbeatTimeout: d.opts.HeartbeatTimeout,
		RetryMaxInterval: d.opts.RetryMaxInterval,
	}
}

// TriggerConnector starts operation op (workflows.OpDiscover or workflows.OpSync) of c now.
// When the same operation of c is running it returns a *BusyError naming that run.
func (d *Dispatcher) TriggerConnector(ctx context.Context, c *store.Connector, op, trigger, triggeredBy string, maxAttempts int) (Started, error) {
	in := d.ConnectorRunInput(c, op, trigger, triggeredBy, maxAttempts)
	in.RunID = uuid.NewString()
	return d.start(ctx, workflows.ConnectorWorkflowID(in.ConnectorID, op), in.RunID, client.StartWorkflowOptions{
		TypedSearchAttributes: workflows.ConnectorSearchAttributes(c.ToolType, op, in.ConnectorID, trigger, in.RunID),
		Memo:                  workflows.ConnectorMemo(in),
		StaticSummary:         workflows.ConnectorSummary(in),
	}, workflows.ConnectorOperationName, in)
}
