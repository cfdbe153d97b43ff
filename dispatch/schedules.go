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

	"github.com/tributary-io/tributary/connectortype"
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
	return d.upsertSchedule(ctx, id, spec, action, overlap, !t.Enabled, note)
}

// upsertSchedule creates the schedule id, or updates it when it exists.
func (d *Dispatcher) upsertSchedule(ctx context.Context, id string, spec client.ScheduleSpec, action *client.ScheduleWorkflowAction,
	overlap enumspb.ScheduleOverlapPolicy, paused bool, note string) error {
	sc := d.opts.Client.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: overlap, Paused: paused, Note: note,
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
			s.State.Paused = paused
			s.State.Note = note
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", id, err)
	}
	return nil
}

// deleteSchedule deletes schedule id if it exists.
func (d *Dispatcher) deleteSchedule(ctx context.Context, id string) error {
	err := d.opts.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// SyncConnectorSchedules makes the Discover and Sync schedules of c match its configuration:
// each operation with a schedule has one (paused while c is disabled), the others none.
// maxAttempts is given to every scheduled run.
func (d *Dispatcher) SyncConnectorSchedules(ctx context.Context, c *store.Connector, maxAttempts int) error {
	for _, op := range []struct{ name, expr string }{{workflows.OpDiscover, c.DiscoverSchedule}, {workflows.OpSync, c.SyncSchedule}} {
		id := workflows.ConnectorScheduleID(c.ID.String(), op.name)
		if op.expr == "" {
			if err := d.deleteSchedule(ctx, id); err != nil {
				return err
			}
			continue
		}
		in := d.ConnectorRunInput(c, op.name, store.TriggerScheduled, "", maxAttempts)
		action := &client.ScheduleWorkflowAction{
			ID:                    id + "/scheduled",
			Workflow:              workflows.ScheduledConnectorOperationName,
			Args:                  []any{in},
			TaskQueue:             d.opts.TaskQueue,
			TypedSearchAttributes: workflows.ConnectorSearchAttributes(c.ToolType, op.name, c.ID.String(), store.TriggerScheduled, ""),
			Memo:                  map[string]any{"connector": c.Name, "tool_type": c.ToolType, "operation": op.name, "trigger": store.TriggerScheduled},
			StaticSummary:         fmt.Sprintf("schedule of %s of %s connector %q", op.name, c.ToolType, c.Name),
		}
		note := "enabled"
		if !c.Enabled {
			note = "connector disabled"
		}
		spec := client.ScheduleSpec{CronExpressions: []string{op.expr}, TimeZoneName: c.Timezone}
		if err := d.upsertSchedule(ctx, id, spec, action, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, !c.Enabled, note); err != nil {
			return err
		}
	}
	return nil
}

// DeleteConnectorSchedules deletes both schedules of the connector with id.
func (d *Dispatcher) DeleteConnectorSchedules(ctx context.Context, id uuid.UUID) error {
	for _, op := range []string{workflows.OpDiscover, workflows.OpSync} {
		if err := d.deleteSchedule(ctx, workflows.ConnectorScheduleID(id.String(), op)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTaskSchedule deletes the schedule of the task with id, if it has one.
func (d *Dispatcher) DeleteTaskSchedule(ctx context.Context, id uuid.UUID) error {
	return d.deleteSchedule(ctx, workflows.TaskScheduleID(id.String()))
}

// ours says whether a schedule ID is one Tributary makes: "task/<uuid>" or
// "connector/<uuid>/<operation>".
func ours(id string) bool {
	if rest, ok := strings.CutPrefix(id, workflows.TaskSchedulePrefix); ok {
		_, err := uuid.Parse(rest)
		return err == nil
	}
	if rest, ok := strings.CutPrefix(id, workflows.ConnectorSchedulePrefix); ok {
		cid, op, _ := strings.Cut(rest, "/")
		_, err := uuid.Parse(cid)
		return err == nil && (op == workflows.OpDiscover || op == workflows.OpSync)
	}
	return false
}

// ReconcileReport says what ReconcileSchedules changed.
type ReconcileReport struct {
	Synced  int
	Deleted int
}

// ReconcileSchedules makes Temporal's task schedules match the tasks in Postgres: every task's
// schedule is created or updated, and schedules of tasks that no longer exist are deleted.
//
// It is safe beside API servers and other workers doing the same: each task and connector is
// read again and locked (as the API's updates lock it) while its schedules are written, so a
// change made meanwhile is never overwritten with what was read before; an orphan is deleted
// only if its task is still absent and the schedule is older than OrphanScheduleAge.
func (d *Dispatcher) ReconcileSchedules(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	tasks, err := d.opts.Store.Tasks.List(ctx, store.TaskFilter{})
	if err != nil {
		return rep, fmt.Errorf("list tasks: %w", err)
	}
	want := map[string]bool{}
	var errs []error
	// syncLocked writes one owner's schedules in a transaction holding its row; an owner
	// deleted meanwhile took its schedules with it.
	syncLocked := func(fn func(ctx context.Context, tx *store.Store) error) {
		switch err := d.opts.Store.RunInTx(ctx, fn); {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			errs = append(errs, err)
		default:
			rep.Synced++
		}
	}
	for i := range tasks {
		id := tasks[i].ID
		want[workflows.TaskScheduleID(id.String())] = true // whatever its schedule is now
		syncLocked(func(ctx context.Context, tx *store.Store) error {
			t, err := tx.Tasks.GetForUpdate(ctx, id)
			if err != nil {
				return err
			}
			return d.SyncTaskSchedule(ctx, t)
		})
	}
	conns, err := d.opts.Store.Connectors.List(ctx)
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("list connectors: %w", err))...)
	}
	for i := range conns {
		id := conns[i].ID
		for _, op := range []string{workflows.OpDiscover, workflows.OpSync} {
			want[workflows.ConnectorScheduleID(id.String(), op)] = true
		}
		syncLocked(func(ctx context.Context, tx *store.Store) error {
			c, err := tx.Connectors.GetForUpdate(ctx, id)
			if err != nil {
				return err
			}
			attempts := 0
			if cfg, err := connectortype.DecodeStored(c.Config); err == nil {
				attempts = cfg.MaxAttempts
			}
			return d.SyncConnectorSchedules(ctx, c, attempts)
		})
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
		if want[e.ID] || !ours(e.ID) {
			continue
		}
		deleted, err := d.deleteOrphan(ctx, e.ID)
		if err != nil {
			errs = append(errs, err)
		} else if deleted {
			rep.Deleted++
		}
	}
	return rep, errors.Join(errs...)
}

// deleteOrphan deletes schedule id when its task or connector is (still) not in Postgres and
// the schedule is older than OrphanScheduleAge. The owner's row stays locked meanwhile, if it
// has appeared, so that it cannot be deleted under a sync.
func (d *Dispatcher) deleteOrphan(ctx context.Context, id string) (bool, error) {
	deleted := false
	err := d.opts.Store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		var err error
		if rest, ok := strings.CutPrefix(id, workflows.TaskSchedulePrefix); ok {
			_, err = tx.Tasks.GetForUpdate(ctx, uuid.MustParse(rest))
		} else {
			cid, _, _ := strings.Cut(strings.TrimPrefix(id, workflows.ConnectorSchedulePrefix), "/")
			_, err = tx.Connectors.GetForUpdate(ctx, uuid.MustParse(cid))
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err // nil: its owner exists now and synced its schedules itself
		}
		h := d.opts.Client.ScheduleClient().GetHandle(ctx, id)
		desc, err := h.Describe(ctx)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			return nil
		case err != nil:
			return fmt.Errorf("describe schedule %s: %w", id, err)
		case time.Since(desc.Info.CreatedAt) < d.opts.OrphanScheduleAge:
			return nil // perhaps a task being created: the next reconciliation decides
		}
		if err := d.deleteSchedule(ctx, id); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	return deleted, err
}
