package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/workflows"
)

// taskResponse is a task as the API shows it: secrets are never included.
type taskResponse struct {
	ID                 string    `json:"id"`
	Type               string    `json:"type"`
	Name               string    `json:"name"`
	Description        string    `json:"description"`
	Config             any       `json:"config"`
	Schedule           string    `json:"schedule"`
	Timezone           string    `json:"timezone"`
	Enabled            bool      `json:"enabled"`
	OverlapPolicy      string    `json:"overlap_policy"`
	MaxDurationSeconds int       `json:"max_duration_seconds"`
	MaxAttempts        int       `json:"max_attempts"`
	ScheduleID         string    `json:"schedule_id,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	// LastRun is the task's newest run; NextRunAt when its schedule next starts one (none
	// while disabled).
	LastRun   *runBrief  `json:"last_run"`
	NextRunAt *time.Time `json:"next_run_at"`
}

// runBrief is a run as a list of tasks or connectors shows it.
type runBrief struct {
	ID         uuid.UUID  `json:"id"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	DurationMS *int64     `json:"duration_ms"`
	Error      string     `json:"error"`
}

func briefOf(runs map[uuid.UUID]store.Run, id uuid.UUID) *runBrief {
	r, ok := runs[id]
	if !ok {
		return nil
	}
	return &runBrief{ID: r.ID, Status: r.Status, StartedAt: r.StartedAt, EndedAt: r.EndedAt, DurationMS: r.DurationMS, Error: r.Error}
}

// withTaskHealth adds each task's last run (one query for all) and next scheduled run.
func (a *api) withTaskHealth(ctx context.Context, views []taskResponse) error {
	ids := make([]uuid.UUID, 0, len(views))
	for _, v := range views {
		ids = append(ids, uuid.MustParse(v.ID))
	}
	last, err := a.Store.Runs.LatestTaskRuns(ctx, ids)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range views {
		views[i].LastRun = briefOf(last, ids[i])
		if views[i].Enabled {
			views[i].NextRunAt = tasks.NextRun(views[i].Schedule, views[i].Timezone, now)
		}
	}
	return nil
}

type runResponse struct {
	ID            string           `json:"id"`
	Kind          string           `json:"kind"`
	TaskID        *string          `json:"task_id"`
	TaskType      *string          `json:"task_type"`
	ConnectorID   *string          `json:"connector_id"`
	SubjectName   string           `json:"subject_name"`
	Trigger       string           `json:"trigger"`
	TriggeredBy   string           `json:"triggered_by"`
	Status        string           `json:"status"`
	StartedAt     time.Time        `json:"started_at"`
	EndedAt       *time.Time       `json:"ended_at"`
	DurationMS    *int64           `json:"duration_ms"`
	WorkflowID    string           `json:"workflow_id"`
	WorkflowRunID string           `json:"workflow_run_id"`
	Attempt       int              `json:"attempt"`
	Counts        map[string]int64 `json:"counts"`
	Details       json.RawMessage  `json:"details,omitempty"`
	Error         string           `json:"error"`
	TemporalURL   string           `json:"temporal_ui_url,omitempty"`
	Progress      *runProgress     `json:"progress,omitempty"`
}

type runProgress struct {
	Activity        string          `json:"activity"`
	Attempt         int32           `json:"attempt"`
	State           string          `json:"state"`
	LastHeartbeatAt *time.Time      `json:"last_heartbeat_at"`
	Heartbeat       json.RawMessage `json:"heartbeat,omitempty"`
	LastFailure     string          `json:"last_failure,omitempty"`
}

type runList struct {
	Items      []runResponse `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

type triggerResponse struct {
	RunID         string `json:"run_id"`
	WorkflowID    string `json:"workflow_id"`
	WorkflowRunID string `json:"workflow_run_id"`
	RunURL        string `json:"run_url"`
	TemporalURL   string `json:"temporal_ui_url,omitempty"`
}

func (a *api) taskView(t *store.Task) (taskResponse, error) {
	cfg, err := tasktype.DecodeStored(t.Type, t.Config)
	if err != nil {
		return taskResponse{}, fmt.Errorf("stored config of task %s: %w", t.ID, err)
	}
	v := taskResponse{
		ID: t.ID.String(), Type: t.Type, Name: t.Name, Description: t.Description, Config: cfg.Redacted(),
		Schedule: t.Schedule, Timezone: t.Timezone, Enabled: t.Enabled, OverlapPolicy: t.OverlapPolicy,
		MaxDurationSeconds: t.MaxDurationSeconds, MaxAttempts: t.MaxAttempts, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	if t.Schedule != "" {
		v.ScheduleID = workflows.TaskScheduleID(t.ID.String())
	}
	return v, nil
}

func (a *api) runView(r *store.Run, withDetails bool) runResponse {
	v := runResponse{
		ID: r.ID.String(), Kind: r.Kind, TaskType: r.TaskType, SubjectName: r.SubjectName, Trigger: r.Trigger,
		TriggeredBy: r.TriggeredBy, Status: r.Status, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		DurationMS: r.DurationMS, WorkflowID: r.WorkflowID, WorkflowRunID: r.WorkflowRunID, Attempt: r.Attempt,
		Counts: r.Counts, Error: r.Error,
	}
	if r.TaskID != nil {
		s := r.TaskID.String()
		v.TaskID = &s
	}
	if r.ConnectorID != nil {
		s := r.ConnectorID.String()
		v.ConnectorID = &s
	}
	if v.Counts == nil {
		v.Counts = map[string]int64{}
	}
	if withDetails {
		v.Details = r.Details
		v.TemporalURL = a.temporalURL(r.WorkflowID, r.WorkflowRunID)
	}
	return v
}

// temporalURL links to a workflow execution in the Temporal Web UI.
func (a *api) temporalURL(workflowID, runID string) string {
	if a.TemporalUIURL == "" || workflowID == "" || runID == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", a.TemporalUIURL,
		url.PathEscape(a.Namespace), url.PathEscape(workflowID), url.PathEscape(runID))
}
