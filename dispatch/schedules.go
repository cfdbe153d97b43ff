package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/workflows"
)

type (
	operatorListRequest = operatorservice.ListSearchAttributesRequest
	operatorAddRequest  = operatorservice.AddSearchAttributesRequest
)

// SyncTaskSchedule makes t's Temporal Schedule match t: created or updated when t has a
// schedule (paused while t is disabled), deleted when it has none.
func (d *Dispatcher) SyncTaskSchedule(ctx context.Context, t *store.Task) error {
	if t.Schedule == "" {
		return d.DeleteTaskSchedule(ctx, t.ID)
	}
	id := workflows.TaskScheduleID(t.ID.String())
	in := workflows.ScheduledTaskInput{Task: d.TaskRunInput(t, store.TriggerScheduled, ""), OverlapPolicy: t.OverlapPolicy}
	spec := client.ScheduleSpec{CronExpressions: []string{t.Schedule}, TimeZoneName: t.Timezone}
	action := &client.ScheduleWorkflowAction{
		ID:                    workflows.TaskScheduleWorkflowID(t.ID.String()),
		Workflow:              workflows.ScheduledIntegrationTaskName,
		Args:                  []any{in},
		TaskQueue:             d.opts.TaskQueue,
		TypedSearchAttributes: workflows.TaskSearchAttributes(t.Type, t.ID.String(), store.TriggerScheduled, ""),
		Memo:                  map[string]any{"task": t.Name, "task_type": t.Type, "trigger": store.TriggerScheduled},
		StaticSummary:         fmt.Sprintf("schedule of %s %q", t.Type, t.Name),
	}
	overlap := enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
	if t.OverlapPolicy == workflows.OverlapBufferOne {
		overlap = enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE
	}
	note := "enabled"
	if !t.Enabled {
		note = "task disabled"
	}
	sc := d.opts.Client.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: overlap, Paused: !t.Enabled, Note: note,
		CatchupWindow: time.Minute,
	})
	if err == nil {
		return nil
	}
	var exists *serviceerror.AlreadyExists
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) && !errors.As(err, &exists) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := u.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = overlap
			s.Policy.CatchupWindow = time.Minute
			if s.State == nil {
				s.State = &client.ScheduleState{}
			}
			s.State.Paused = !t.Enabled
			s.State.Note = note
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", id, err)
	}
	return nil
}

// DeleteTaskSchedule deletes the schedule of the task with id, if it has one.
func (d *Dispatcher) DeleteTaskSchedule(ctx context.Context, id uuid.UUID) error {
	sid := workflows.TaskScheduleID(id.String())
	err := d.opts.Client.ScheduleClient().GetHandle(ctx, sid).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete schedule %s: %w", sid, err)
	}
	return nil
}

// ReconcileReport says what ReconcileSchedules changed.
type ReconcileReport struct {
	Synced  int
	Deleted int
}

// ReconcileSchedules makes Temporal's task schedules match the tasks in Postgres: every task's
// schedule is created or updated, and schedules of tasks that no longer exist are deleted.
func (d *Dispatcher) ReconcileSchedules(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	tasks, err := d.opts.Store.Tasks.List(ctx, store.TaskFilter{})
	if err != nil {
		return rep, fmt.Errorf("list tasks: %w", err)
	}
	want := map[string]bool{}
	var errs []error
	for i := range tasks {
		t := &tasks[i]
		if t.Schedule != "" {
			want[workflows.TaskScheduleID(t.ID.String())] = true
		}
		if err := d.SyncTaskSchedule(ctx, t); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Synced++
	}
	it, err := d.opts.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 500})
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("list schedules: %w", err))...)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			errs = append(errs, fmt.Errorf("list schedules: %w", err))
			break
		}
		if !strings.HasPrefix(e.ID, workflows.TaskSchedulePrefix) || want[e.ID] {
			continue
		}
		if _, err := uuid.Parse(strings.TrimPrefix(e.ID, workflows.TaskSchedulePrefix)); err != nil {
			continue // not one of ours
		}
		if err := d.opts.Client.ScheduleClient().GetHandle(ctx, e.ID).Delete(ctx); err != nil {
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				errs = append(errs, fmt.Errorf("delete orphan schedule %s: %w", e.ID, err))
			}
			continue
		}
		rep.Deleted++
	}
	return rep, errors.Join(errs...)
}
