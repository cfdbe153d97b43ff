// Package tasks is the domain service for integration tasks: it validates configuration,
// stores it, keeps the task's Temporal Schedule in step, and triggers runs.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones for schedules, also where the host has no zoneinfo
	"unicode"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/valid"
	"github.com/tributary-io/tributary/workflows"
)

// Spec is the configuration of a task as clients send it.
type Spec struct {
	Type               string          `json:"type" validate:"required,max=64"`
	Name               string          `json:"name" validate:"required,max=200"`
	Description        string          `json:"description" validate:"max=2000"`
	Config             json.RawMessage `json:"config"`
	Schedule           string          `json:"schedule" validate:"max=200"`
	Timezone           string          `json:"timezone" validate:"max=64"`
	Enabled            *bool           `json:"enabled"`
	OverlapPolicy      string          `json:"overlap_policy" validate:"omitempty,oneof=skip buffer_one"`
	MaxDurationSeconds *int            `json:"max_duration_seconds" validate:"omitempty,min=1,max=604800"`
	MaxAttempts        *int            `json:"max_attempts" validate:"omitempty,min=1,max=100"`
}

// MinScheduleInterval is the shortest interval an @every schedule may have.
const MinScheduleInterval = time.Second

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Service manages tasks.
type Service struct {
	store      *store.Store
	dispatcher *dispatch.Dispatcher
	keys       *secrets.Keyring
	now        func() time.Time
}

// New returns a Service; keys seals secret values before they are stored.
func New(s *store.Store, d *dispatch.Dispatcher, keys *secrets.Keyring) *Service {
	return &Service{store: s, dispatcher: d, keys: keys, now: time.Now}
}

// Get returns the task with id.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	return s.store.Tasks.Get(ctx, id)
}

// List returns every task.
func (s *Service) List(ctx context.Context, f store.TaskFilter) ([]store.Task, error) {
	return s.store.Tasks.List(ctx, f)
}

// Create validates spec, stores the task and creates its schedule; if Temporal refuses the
// schedule nothing is stored.
func (s *Service) Create(ctx context.Context, spec Spec) (*store.Task, error) {
	cfg, err := s.validateAndSeal(spec)
	if err != nil {
		return nil, err
	}
	if err := tasktype.CheckRequiredSecrets(cfg); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	t := &store.Task{ID: uuid.New(), Type: spec.Type, CreatedAt: now}
	if err := apply(t, spec, cfg, now); err != nil {
		return nil, err
	}
	err = s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		if err := tx.Tasks.Insert(ctx, t); err != nil {
			return err
		}
		return s.dispatcher.SyncTaskSchedule(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Update replaces the configuration of the task with id. Secret values that spec leaves
// empty keep their stored values. The type cannot change.
func (s *Service) Update(ctx context.Context, id uuid.UUID, spec Spec) (*store.Task, error) {
	// Values the client left empty are taken, still sealed, from the stored config.
	cfg, err := s.validateAndSeal(spec)
	if err != nil {
		return nil, err
	}
	var t *store.Task
	err = s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		t, err = tx.Tasks.GetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if t.Type != spec.Type {
			return valid.Field("type", "cannot change from %q to %q; create a new task instead", t.Type, spec.Type)
		}
		prev, err := tasktype.DecodeStored(t.Type, t.Config)
		if err != nil {
			return fmt.Errorf("stored config of task %s: %w", t.ID, err)
		}
		cfg.KeepSecrets(prev)
		if err := tasktype.CheckRequiredSecrets(cfg); err != nil {
			return err
		}
		if err := apply(t, spec, cfg, s.now().UTC()); err != nil {
			return err
		}
		if err := tx.Tasks.Update(ctx, t); err != nil {
			return err
		}
		return s.dispatcher.SyncTaskSchedule(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Delete removes the task with id and its schedule. Its run history stays.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		if err := tx.Tasks.Delete(ctx, id); err != nil {
			return err
		}
		return s.dispatcher.DeleteTaskSchedule(ctx, id)
	})
}

// TriggerOptions describes who asked for a run.
type TriggerOptions struct {
	// Trigger is store.TriggerManual or store.TriggerAPI. Optional; defaults to api.
	Trigger string `json:"trigger" validate:"omitempty,oneof=manual api"`
	// TriggeredBy names the person a run was asked for, when the caller acts for someone
	// (a UI acting for its user). Optional; the run records "<caller> for <triggered_by>".
	TriggeredBy string `json:"triggered_by" validate:"max=200"`
}

// Trigger starts a run of the task with id now on behalf of caller (the authenticated token's
// name); a *dispatch.BusyError says a run of the same task type is in progress.
func (s *Service) Trigger(ctx context.Context, id uuid.UUID, caller string, opts TriggerOptions) (dispatch.Started, error) {
	if err := valid.Struct("", opts); err != nil {
		return dispatch.Started{}, err
	}
	if opts.Trigger == "" {
		opts.Trigger = store.TriggerAPI
	}
	if err := CheckText("triggered_by", opts.TriggeredBy); err != nil {
		return dispatch.Started{}, err
	}
	t, err := s.store.Tasks.Get(ctx, id)
	if err != nil {
		return dispatch.Started{}, err
	}
	by := caller
	if forWhom := strings.TrimSpace(opts.TriggeredBy); forWhom != "" {
		by = strings.TrimSpace(caller + " for " + forWhom)
	}
	return s.dispatcher.TriggerTask(ctx, t, opts.Trigger, by)
}

// validateAndSeal validates spec and seals the secret values the client sent. A client value
// is always sealed, even one that looks sealed, so that no client can make the worker open a
// ciphertext copied from elsewhere.
func (s *Service) validateAndSeal(spec Spec) (tasktype.Config, error) {
	cfg, err := validate(spec)
	if err != nil {
		return nil, err
	}
	if err := tasktype.SealSecrets(cfg, s.keys.Seal); err != nil {
		return nil, fmt.Errorf("seal secrets: %w", err)
	}
	return cfg, nil
}

// validate checks everything about spec that does not need the database.
func validate(spec Spec) (tasktype.Config, error) {
	var fs []valid.FieldError
	collect := func(err error) error {
		var ve *valid.Error
		if errors.As(err, &ve) {
			fs = append(fs, ve.Fields...)
			return nil
		}
		return err
	}
	if err := collect(valid.Struct("", spec)); err != nil {
		return nil, err
	}
	if err := collect(CheckText("name", spec.Name)); err != nil {
		return nil, err
	}
	if spec.Name != "" && strings.TrimSpace(spec.Name) == "" {
		fs = append(fs, valid.FieldError{Field: "name", Message: "must not be blank"})
	}
	if spec.Schedule != "" {
		if err := collect(CheckSchedule(spec.Schedule)); err != nil {
			return nil, err
		}
	}
	if spec.Timezone != "" {
		if _, err := time.LoadLocation(spec.Timezone); err != nil || spec.Timezone == "Local" {
			fs = append(fs, valid.FieldError{Field: "timezone", Message: fmt.Sprintf("%q is not an IANA time zone such as Europe/Berlin", spec.Timezone)})
		}
	}
	var cfg tasktype.Config
	if spec.Type != "" {
		c, err := tasktype.Decode(spec.Type, spec.Config)
		if err := collect(err); err != nil {
			return nil, err
		}
		cfg = c
	}
	if len(fs) > 0 {
		return nil, valid.Fields(fs...)
	}
	return cfg, nil
}

func apply(t *store.Task, spec Spec, cfg tasktype.Config, now time.Time) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	t.Name = strings.TrimSpace(spec.Name)
	t.Description = spec.Description
	t.Config = raw
	t.Schedule = strings.TrimSpace(spec.Schedule)
	t.Timezone = orDefault(spec.Timezone, "UTC")
	t.Enabled = spec.Enabled == nil || *spec.Enabled
	t.OverlapPolicy = orDefault(spec.OverlapPolicy, workflows.OverlapSkip)
	t.MaxDurationSeconds = 3600
	if spec.MaxDurationSeconds != nil {
		t.MaxDurationSeconds = *spec.MaxDurationSeconds
	}
	t.MaxAttempts = 3
	if spec.MaxAttempts != nil {
		t.MaxAttempts = *spec.MaxAttempts
	}
	t.UpdatedAt = now
	return nil
}

// CheckSchedule accepts a five-field cron expression or a descriptor (@hourly, @every 15m).
func CheckSchedule(expr string) error {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(strings.ToUpper(expr), "CRON_TZ=") || strings.HasPrefix(strings.ToUpper(expr), "TZ=") {
		return valid.Field("schedule", "put the time zone in the timezone field, not in the expression")
	}
	if strings.HasPrefix(expr, "@every") {
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(expr, "@every")))
		if err != nil {
			return valid.Field("schedule", "%q: @every needs a duration such as 15m or 1h", expr)
		}
		if d < MinScheduleInterval {
			return valid.Field("schedule", "%q: the interval must be at least %s", expr, MinScheduleInterval)
		}
		return nil
	}
	if _, err := cronParser.Parse(expr); err != nil {
		return valid.Field("schedule", "%q is not a valid cron expression (minute hour day-of-month month day-of-week, or @hourly, @daily, @every 15m): %v", expr, err)
	}
	return nil
}

// CheckText refuses control characters in a free-text field.
func CheckText(field, s string) error {
	for _, r := range s {
		if unicode.IsControl(r) {
			return valid.Field(field, "must not contain control characters")
		}
	}
	return nil
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return def
}

// RotateSecrets re-seals every stored secret (tasks' and database connections') under the
// active key, in one transaction, and then forgets the check values of the other keys, so that
// they can be removed from the configuration. It returns how many tasks and connections
// changed.
func RotateSecrets(ctx context.Context, st *store.Store, keys *secrets.Keyring) (int, error) {
	changed := 0
	err := st.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		changed = 0
		list, err := tx.Tasks.ListForUpdate(ctx)
		if err != nil {
			return err
		}
		for i := range list {
			t := &list[i]
			cfg, err := tasktype.DecodeStored(t.Type, t.Config)
			if err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
			dirty := false
			err = tasktype.MapSecrets(cfg, func(v string) (string, error) {
				if id, err := secrets.KeyID(v); v == "" || (err == nil && id == keys.ActiveID()) {
					return v, nil
				}
				plain, err := keys.Open(v)
				if err != nil {
					return "", err
				}
				dirty = true
				return keys.Seal(plain)
			})
			if err != nil {
				return fmt.Errorf("task %s (%s): %w", t.ID, t.Name, err)
			}
			if !dirty {
				continue
			}
			if t.Config, err = json.Marshal(cfg); err != nil {
				return err
			}
			if err := tx.Tasks.Update(ctx, t); err != nil {
				return err
			}
			changed++
		}
		// Database connections' passwords (data out).
		conns, err := tx.DBConnections.List(ctx)
		if err != nil {
			return err
		}
		for i := range conns {
			c := &conns[i]
			if id, err := secrets.KeyID(c.Password); c.Password == "" || (err == nil && id == keys.ActiveID()) {
				continue
			}
			plain, err := keys.Open(c.Password)
			if err != nil {
				return fmt.Errorf("database connection %s: %w", c.Name, err)
			}
			if c.Password, err = keys.Seal(plain); err != nil {
				return err
			}
			if err := tx.DBConnections.Update(ctx, c); err != nil {
				return err
			}
			changed++
		}
		if err := secrets.Verify(ctx, keys, tx.SecretChecks); err != nil {
			return err
		}
		return tx.SecretChecks.DeleteOtherChecks(ctx, keys.ActiveID())
	})
	return changed, err
}

// TestConnection runs the connection test of the task with id (tasktype.Prober: the LDAP
// import binds and checks its base DNs, the scanner imports make one small vendor request)
// with its stored settings, within timeout. The report says what failed; only a missing task
// or a type without a connection test is an error.
func (s *Service) TestConnection(ctx context.Context, id uuid.UUID, timeout time.Duration) (any, error) {
	t, err := s.store.Tasks.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	cfg, err := tasktype.DecodeStored(t.Type, t.Config)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	p, ok := cfg.(tasktype.Prober)
	if !ok {
		return nil, valid.Field("id", "task %s is a %s task, which has no connection test", id, t.Type)
	}
	if err := tasktype.OpenSecrets(cfg, s.keys.Open); err != nil {
		return nil, fmt.Errorf("task %s: the stored secrets cannot be opened: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return p.Probe(ctx)
}

// NextRun is when a schedule (a cron expression or descriptor, in time zone tz) next starts a
// run after now, as Temporal computes it: cron fields in the zone, and an @every interval
// counted from the Unix epoch. It is nil for no schedule or one that cannot be read.
func NextRun(schedule, tz string, now time.Time) *time.Time {
	if schedule == "" {
		return nil
	}
	sched, err := cronParser.Parse(schedule)
	if err != nil {
		return nil
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		d := every.Delay
		if d <= 0 {
			return nil
		}
		next := time.Unix(0, 0).Add((now.Sub(time.Unix(0, 0))/d + 1) * d).UTC()
		return &next
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	next := sched.Next(now.In(loc))
	if next.IsZero() {
		return nil
	}
	next = next.UTC()
	return &next
}
