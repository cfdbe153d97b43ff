// Package workflows holds Tributary's Temporal workflows. Workflow code here is deterministic
// and does no I/O: every effect happens in an activity.
package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Workflow type names as registered with the worker and shown in the Temporal UI.
const (
	// IntegrationTaskName runs one integration task under its type's exclusivity key.
	IntegrationTaskName = "IntegrationTask"
	// ScheduledIntegrationTaskName is started by a task's Temporal Schedule; it starts
	// IntegrationTask under the exclusivity key, or records the run as skipped.
	ScheduledIntegrationTaskName = "ScheduledIntegrationTask"
)

// TaskWorkflowID is the workflow ID of every run of a task type: its exclusivity key. Temporal
// allows one running execution per workflow ID, so two runs of one type never overlap, whether
// started by the API or by any number of schedules.
func TaskWorkflowID(taskType string) string { return "task-type/" + taskType }

// ConnectorWorkflowID is the exclusivity key of one operation ("discover" or "sync") of a connector.
func ConnectorWorkflowID(connectorID, operation string) string {
	return "connector/" + connectorID + "/" + operation
}

// TaskScheduleID is the ID of a task's Temporal Schedule.
func TaskScheduleID(taskID string) string { return "task/" + taskID }

// TaskScheduleWorkflowID is the workflow ID the schedule gives its ScheduledIntegrationTask
// runs; Temporal appends the nominal time ("-2026-11-24T10:00:00Z").
func TaskScheduleWorkflowID(taskID string) string { return "task/" + taskID + "/scheduled" }

// TaskSchedulePrefix starts the ID of every task schedule.
const TaskSchedulePrefix = "task/"

// Search attribute keys set on every run, for filtering in the Temporal UI.
var (
	TaskTypeKey    = temporal.NewSearchAttributeKeyKeyword("TaskType")
	TaskIDKey      = temporal.NewSearchAttributeKeyKeyword("TaskID")
	ConnectorIDKey = temporal.NewSearchAttributeKeyKeyword("ConnectorID")
	TriggerKey     = temporal.NewSearchAttributeKeyKeyword("Trigger")
	RunIDKey       = temporal.NewSearchAttributeKeyKeyword("TributaryRunID")
	// ConnectorOpKey is "<tool type>/<operation>" of a connector run, such as "qualys/sync".
	ConnectorOpKey = temporal.NewSearchAttributeKeyKeyword("ConnectorOperation")
)

// SearchAttributes lists the custom search attributes to register on the namespace.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	TaskTypeKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	TaskIDKey.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	ConnectorIDKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	TriggerKey.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	RunIDKey.GetName():       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	ConnectorOpKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

// TaskSearchAttributes returns the search attributes of a task run.
func TaskSearchAttributes(taskType, taskID, trigger, runID string) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		TaskTypeKey.ValueSet(taskType), TaskIDKey.ValueSet(taskID), TriggerKey.ValueSet(trigger),
	}
	if runID != "" {
		updates = append(updates, RunIDKey.ValueSet(runID))
	}
	return temporal.NewSearchAttributes(updates...)
}
