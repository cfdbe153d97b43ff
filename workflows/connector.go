package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
)

// Connector operations.
const (
	OpDiscover = "discover"
	OpSync     = "sync"
)

// ConnectorOperationName is the workflow type of a connector's Discover or Sync run.
const ConnectorOperationName = "ConnectorOperation"

// ScheduledConnectorOperationName is started by a connector's schedules.
const ScheduledConnectorOperationName = "ScheduledConnectorOperation"

// ConnectorRunInput starts one Discover or Sync run. It carries references only: activities
// read the connector's configuration and credentials from Postgres.
type ConnectorRunInput struct {
	RunID         string
	ConnectorID   string
	ConnectorName string
	ToolType      string
	Operation     string
	Trigger       string
	TriggeredBy   string
	// MaxAttempts bounds the attempts of each activity (each record's reimport). Optional; defaults to 3.
	MaxAttempts int32
	// HeartbeatTimeout is how long an activity may go silent before it is retried elsewhere.
	// Optional; defaults to 30s.
	HeartbeatTimeout time.Duration
	// MaxDuration bounds one activity (one record's reimport). Optional; defaults to 6h.
	MaxDuration time.Duration
	// RetryMaxInterval caps the wait between attempts of an activity (it starts at 2s and
	// doubles). Optional; defaults to 2 minutes.
	RetryMaxInterval time.Duration `json:",omitempty"`
}

// runStart is the run-history row of the run, without the workflow execution and start time.
func (in ConnectorRunInput) runStart() activities.RunStart {
	kind := store.KindConnectorDiscover
	if in.Operation == OpSync {
		kind = store.KindConnectorSync
	}
	return activities.RunStart{RunID: in.RunID, Kind: kind, ConnectorID: in.ConnectorID, SubjectName: in.ConnectorName,
		Trigger: in.Trigger, TriggeredBy: in.TriggeredBy}
}

// RecordResult is the outcome of one record in a sync run.
type RecordResult struct {
	RecordID string           `json:"record_id"`
	Name     string           `json:"name"`
	Status   string           `json:"status"`
	Error    string           `json:"error,omitempty"`
	Counts   map[string]int64 `json:"counts,omitempty"`
	// Notes are what the vendor client skipped or stored incompletely (a vanished asset, a
	// knowledge-base entry without a title); NotesTotal counts them all.
	Notes      []string `json:"notes,omitempty"`
	NotesTotal int      `json:"notes_total,omitempty"`
}

// ConnectorRunResult is the outcome of a run.
type ConnectorRunResult struct {
	RunID   string
	Status  string
	Counts  map[string]int64
	Records []RecordResult `json:",omitempty"`
}

// ErrTypeConnectorRunFailed is the error type of a failed connector run.
const ErrTypeConnectorRunFailed = "ConnectorRunFailed"

// ConnectorOperationWorkflow runs a connector's Discover or Sync under the key
// ConnectorWorkflowID(connector, operation), so that two runs of one operation of a connector
// never overlap while Discover and Sync of one connector may. Sync reimports each mapped
// record in its own activity: one record failing does not lose the others' results, and the
// run ends failed listing the records that failed.
func ConnectorOperationWorkflow(ctx workflow.Context, in ConnectorRunInput) (ConnectorRunResult, error) {
	info := workflow.GetInfo(ctx)
	res := ConnectorRunResult{RunID: in.RunID, Counts: map[string]int64{}}
	startedAt := workflow.Now(ctx)
	start := in.runStart()
	start.WorkflowID, start.WorkflowRunID, start.StartedAt = info.WorkflowExecution.ID, info.WorkflowExecution.RunID, startedAt
	lctx := workflow.WithLocalActivityOptions(ctx, bookkeepingLocalOptions)
	if err := workflow.ExecuteLocalActivity(lctx, recordRunStartName, start).Get(ctx, nil); err != nil {
		return res, err
	}

	hb := in.HeartbeatTimeout
	if hb <= 0 {
		hb = 30 * time.Second
	}
	attempts := in.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	maxDur := in.MaxDuration
	if maxDur <= 0 {
		maxDur = 6 * time.Hour
	}
	actCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: maxDur,
		HeartbeatTimeout:    hb,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: retryInitial(in.RetryMaxInterval), BackoffCoefficient: 2, MaximumInterval: retryMax(in.RetryMaxInterval, 2*time.Minute),
			MaximumAttempts:        attempts,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeInvalidConfig, activities.ErrTypeConnectorNotFound},
		},
	})
	var a *activities.Connectors
	var runErr error
	cin := activities.ConnectorInput{RunID: in.RunID, ConnectorID: in.ConnectorID}
	if in.Operation == OpSync {
		runErr = syncRecords(ctx, actCtx, a, in, cin, startedAt, &res)
	} else {
		var out activities.DiscoverOutput
		runErr = workflow.ExecuteActivity(withSummary(actCtx, "discover "+in.ConnectorName), a.DiscoverConnector, cin).Get(ctx, &out)
		for k, v := range out.Counts {
			res.Counts[k] = v
		}
	}

	res.Status = store.StatusSucceeded
	msg := ""
	switch {
	case ctx.Err() != nil:
		res.Status, msg = store.StatusCancelled, "the run was cancelled"
	case runErr != nil:
		res.Status, msg = store.StatusFailed, failureMessage(runErr)
	}
	endCtx := lctx
	if ctx.Err() != nil {
		endCtx, _ = workflow.NewDisconnectedContext(lctx)
	}
	end := activities.RunEnd{RunID: in.RunID, Status: res.Status, EndedAt: workflow.Now(endCtx), Counts: res.Counts, Error: msg}
	if in.Operation == OpSync {
		end.Details = map[string]any{"records": res.Records}
	}
	if err := workflow.ExecuteLocalActivity(endCtx, recordRunEndName, end).Get(endCtx, nil); err != nil {
		return res, err
	}
	switch res.Status {
	case store.StatusSucceeded:
		return res, nil
	case store.StatusCancelled:
		return res, temporal.NewCanceledError(msg)
	}
	return res, temporal.NewNonRetryableApplicationError(msg, ErrTypeConnectorRunFailed, nil)
}

// withSummary returns ctx's activity options with the summary the Temporal UI shows.
func withSummary(ctx workflow.Context, summary string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}

// syncRecords reimports every mapped record, one at a time, and aggregates their counts.
func syncRecords(ctx, actCtx workflow.Context, a *activities.Connectors, in ConnectorRunInput, cin activities.ConnectorInput,
	startedAt time.Time, res *ConnectorRunResult) error {
	var ids []activities.RecordRef
	if err := workflow.ExecuteActivity(actCtx, a.MappedRecords, cin).Get(ctx, &ids); err != nil {
		return err
	}
	res.Counts["records"] = int64(len(ids))
	res.Records = []RecordResult{}
	for _, k := range []string{"records_synced", "records_failed", "total", "created", "updated", "reactivated", "inactivated", "unchanged"} {
		res.Counts[k] = 0
	}
	var failed []string
	for i, rec := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rctx := withSummary(actCtx, fmt.Sprintf("record %d of %d: %s", i+1, len(ids), rec.Name))
		var out activities.RecordOutput
		err := workflow.ExecuteActivity(rctx, a.SyncRecord, activities.RecordInput{
			RunID: in.RunID, ConnectorID: in.ConnectorID, RecordID: rec.ID, StartedAt: startedAt,
		}).Get(ctx, &out)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			msg := failureMessage(err)
			res.Records = append(res.Records, RecordResult{RecordID: rec.ID, Name: rec.Name, Status: store.StatusFailed, Error: msg})
			res.Counts["records_failed"]++
			failed = append(failed, fmt.Sprintf("record %q: %s", rec.Name, msg))
			// Bad credentials fail every record alike: stop instead of calling the vendor again.
			var app *temporal.ApplicationError
			if errors.As(err, &app) && app.Type() == activities.ErrTypeVendor+".bad_credentials" {
				res.Counts["records_not_attempted"] = int64(len(ids) - i - 1)
				break
			}
			continue
		}
		res.Records = append(res.Records, RecordResult{RecordID: rec.ID, Name: rec.Name, Status: store.StatusSucceeded, Counts: out.Counts,
			Notes: out.Notes, NotesTotal: out.NotesTotal})
		res.Counts["records_synced"]++
		for k, v := range out.Counts {
			res.Counts[k] += v
		}
	}
	if len(failed) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d of %d records failed: %s", len(failed), len(ids), strings.Join(failed, "; "))
	if len(msg) > 4000 {
		msg = msg[:4000] + "…"
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeConnectorRunFailed, nil)
}

// ConnectorSearchAttributes returns the search attributes of a connector run.
func ConnectorSearchAttributes(toolType, operation, connectorID, trigger, runID string) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		ConnectorOpKey.ValueSet(toolType + "/" + operation), ConnectorIDKey.ValueSet(connectorID), TriggerKey.ValueSet(trigger),
	}
	if runID != "" {
		updates = append(updates, RunIDKey.ValueSet(runID))
	}
	return temporal.NewSearchAttributes(updates...)
}

// ConnectorMemo is the memo of a connector run.
func ConnectorMemo(in ConnectorRunInput) map[string]any {
	return map[string]any{
		"connector": in.ConnectorName, "tool_type": in.ToolType, "operation": in.Operation,
		"trigger": in.Trigger, "triggered_by": in.TriggeredBy, "run_id": in.RunID,
	}
}

// ConnectorSummary is the one-line summary of a connector run in the Temporal UI.
func ConnectorSummary(in ConnectorRunInput) string {
	by := ""
	if in.TriggeredBy != "" {
		by = " by " + in.TriggeredBy
	}
	return fmt.Sprintf("%s of %s connector %q (%s%s)", in.Operation, in.ToolType, in.ConnectorName, in.Trigger, by)
}

// ConnectorScheduleID is the ID of the Temporal Schedule of one operation of a connector.
func ConnectorScheduleID(connectorID, operation string) string {
	return ConnectorSchedulePrefix + connectorID + "/" + operation
}

// ConnectorSchedulePrefix starts the ID of every connector schedule.
const ConnectorSchedulePrefix = "connector/"

// ScheduledConnectorOperationWorkflow is the action of a connector operation's Temporal
// Schedule: it starts ConnectorOperation as a child under the operation's exclusivity key and,
// when that key is busy (a manual run, or the previous scheduled run still going), records
// the run as skipped.
func ScheduledConnectorOperationWorkflow(ctx workflow.Context, in ConnectorRunInput) (ScheduledTaskResult, error) {
	var runID string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return newRunID() }).Get(&runID); err != nil {
		return ScheduledTaskResult{}, err
	}
	in.RunID = runID
	in.Trigger = store.TriggerScheduled
	if in.TriggeredBy == "" {
		in.TriggeredBy = "schedule " + ConnectorScheduleID(in.ConnectorID, in.Operation)
	}
	key := ConnectorWorkflowID(in.ConnectorID, in.Operation)
	res := ScheduledTaskResult{RunID: runID, WorkflowID: key}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            key,
		ParentClosePolicy:     parentAbandon,
		WorkflowIDReusePolicy: reuseAllowDuplicate,
		TypedSearchAttributes: ConnectorSearchAttributes(in.ToolType, in.Operation, in.ConnectorID, in.Trigger, runID),
		Memo:                  ConnectorMemo(in),
		StaticSummary:         ConnectorSummary(in),
	})
	var exec workflow.Execution
	err := workflow.ExecuteChildWorkflow(cctx, ConnectorOperationName, in).GetChildWorkflowExecution().Get(ctx, &exec)
	if err == nil {
		res.WorkflowRunID = exec.RunID
		return res, nil
	}
	var busy *temporal.ChildWorkflowExecutionAlreadyStartedError
	if !errors.As(err, &busy) {
		return res, err
	}
	if err := recordSkipped(ctx, key, in.runStart()); err != nil {
		return res, err
	}
	res.Skipped = true
	return res, nil
}
