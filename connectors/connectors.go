// Package connectors is the domain service for connectors: it validates their configuration,
// seals their credentials, keeps their Discover and Sync schedules in step, triggers runs, and
// maps the records Discover finds to products.
package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/valid"
)

// Spec is a connector's configuration as clients send it.
type Spec struct {
	ToolType         string          `json:"tool_type" validate:"required,max=32"`
	Name             string          `json:"name" validate:"required,max=200"`
	Description      string          `json:"description" validate:"max=2000"`
	BaseURL          string          `json:"base_url" validate:"required,max=2000"`
	Config           json.RawMessage `json:"config"`
	DiscoverSchedule string          `json:"discover_schedule" validate:"max=200"`
	SyncSchedule     string          `json:"sync_schedule" validate:"max=200"`
	Timezone         string          `json:"timezone" validate:"max=64"`
	Enabled          *bool           `json:"enabled"`
}

// MapSpec names the product a record is mapped to: an existing one by ID, or one by name,
// created when it does not exist.
type MapSpec struct {
	ProductID   string `json:"product_id" validate:"omitempty,uuid"`
	ProductName string `json:"product_name" validate:"max=200"`
}

// Service manages connectors.
type Service struct {
	store      *store.Store
	dispatcher *dispatch.Dispatcher
	keys       *secrets.Keyring
	now        func() time.Time
}

// New returns a Service; keys seals the vendor passwords before they are stored.
func New(s *store.Store, d *dispatch.Dispatcher, keys *secrets.Keyring) *Service {
	return &Service{store: s, dispatcher: d, keys: keys, now: time.Now}
}

// Get returns the connector with id.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*store.Connector, error) {
	return s.store.Connectors.Get(ctx, id)
}

// List returns every connector.
func (s *Service) List(ctx context.Context) ([]store.Connector, error) {
	return s.store.Connectors.List(ctx)
}

// Create validates spec, seals the password, stores the connector and creates its schedules;
// if Temporal refuses a schedule nothing is stored.
func (s *Service) Create(ctx context.Context, spec Spec) (*store.Connector, error) {
	cfg, err := validate(spec, true)
	if err != nil {
		return nil, err
	}
	if cfg.Password, err = s.keys.Seal(cfg.Password); err != nil {
		return nil, fmt.Errorf("seal password: %w", err)
	}
	now := s.now().UTC()
	c := &store.Connector{ID: uuid.New(), ToolType: spec.ToolType, CreatedAt: now}
	if err := apply(c, spec, cfg, now); err != nil {
		return nil, err
	}
	err = s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		if err := tx.Connectors.Insert(ctx, c); err != nil {
			return err
		}
		return s.dispatcher.SyncConnectorSchedules(ctx, c, cfg.MaxAttempts)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Update replaces the configuration of the connector with id. An omitted password keeps the
// stored one, unless the username or the server changes: credentials are never sent to a
// server they were not given for. The tool type cannot change.
func (s *Service) Update(ctx context.Context, id uuid.UUID, spec Spec) (*store.Connector, error) {
	cfg, err := validate(spec, false)
	if err != nil {
		return nil, err
	}
	if cfg.Password != "" {
		if cfg.Password, err = s.keys.Seal(cfg.Password); err != nil {
			return nil, fmt.Errorf("seal password: %w", err)
		}
	}
	var c *store.Connector
	err = s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		c, err = tx.Connectors.GetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if c.ToolType != spec.ToolType {
			return valid.Field("tool_type", "cannot change from %q to %q; create a new connector instead", c.ToolType, spec.ToolType)
		}
		prev, err := connectortype.DecodeStored(c.Config)
		if err != nil {
			return err
		}
		if cfg.Password == "" {
			if !sameServer(c.BaseURL, spec.BaseURL) {
				return valid.Field("config.password", "is required when the base URL's server changes")
			}
			cfg.KeepSecrets(prev)
			if cfg.Password == "" {
				return valid.Field("config.password", "is required when the username changes")
			}
		}
		if err := apply(c, spec, cfg, s.now().UTC()); err != nil {
			return err
		}
		if err := tx.Connectors.Update(ctx, c); err != nil {
			return err
		}
		return s.dispatcher.SyncConnectorSchedules(ctx, c, cfg.MaxAttempts)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func sameServer(a, b string) bool {
	ua, err1 := url.Parse(strings.TrimSpace(a))
	ub, err2 := url.Parse(strings.TrimSpace(b))
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// Delete removes the connector with id, its schedules, records, tests and findings. Its run
// history and the products stay.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		if err := tx.Connectors.Delete(ctx, id); err != nil {
			return err
		}
		return s.dispatcher.DeleteConnectorSchedules(ctx, id)
	})
}

// Trigger starts operation op (discover or sync) of the connector with id on behalf of
// caller; a *dispatch.BusyError says the same operation of the connector is running.
func (s *Service) Trigger(ctx context.Context, id uuid.UUID, op, caller string, opts tasks.TriggerOptions) (dispatch.Started, error) {
	if err := valid.Struct("", opts); err != nil {
		return dispatch.Started{}, err
	}
	if opts.Trigger == "" {
		opts.Trigger = store.TriggerAPI
	}
	if err := tasks.CheckText("triggered_by", opts.TriggeredBy); err != nil {
		return dispatch.Started{}, err
	}
	c, err := s.store.Connectors.Get(ctx, id)
	if err != nil {
		return dispatch.Started{}, err
	}
	cfg, err := connectortype.DecodeStored(c.Config)
	if err != nil {
		return dispatch.Started{}, err
	}
	by := caller
	if forWhom := strings.TrimSpace(opts.TriggeredBy); forWhom != "" {
		by = strings.TrimSpace(caller + " for " + forWhom)
	}
	return s.dispatcher.TriggerConnector(ctx, c, op, opts.Trigger, by, cfg.MaxAttempts)
}

// MapRecord maps a record of connector to a product, creating the product by name if needed.
func (s *Service) MapRecord(ctx context.Context, connectorID, recordID uuid.UUID, spec MapSpec) (*store.Record, error) {
	if err := valid.Struct("", spec); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(spec.ProductName)
	if (spec.ProductID == "") == (name == "") {
		return nil, valid.Field("product_id", "give exactly one of product_id and product_name")
	}
	if err := tasks.CheckText("product_name", name); err != nil {
		return nil, err
	}
	err := s.store.RunInTx(ctx, func(ctx context.Context, tx *store.Store) error {
		if _, err := tx.Connectors.GetRecord(ctx, connectorID, recordID); err != nil {
			return err
		}
		var pid uuid.UUID
		if spec.ProductID != "" {
			pid = uuid.MustParse(spec.ProductID)
			if _, err := tx.Connectors.GetProduct(ctx, pid); err != nil {
				if err == store.ErrNotFound {
					return valid.Field("product_id", "no product has ID %s", pid)
				}
				return err
			}
		} else {
			p, err := tx.Connectors.EnsureProduct(ctx, name, s.now().UTC())
			if err != nil {
				return err
			}
			pid = p.ID
		}
		return tx.Connectors.SetRecordState(ctx, connectorID, recordID, store.RecordMapped, &pid, s.now().UTC())
	})
	if err != nil {
		return nil, err
	}
	return s.store.Connectors.GetRecord(ctx, connectorID, recordID)
}

// SetRecordState ignores or unmaps a record. Findings already imported stay.
func (s *Service) SetRecordState(ctx context.Context, connectorID, recordID uuid.UUID, state string) (*store.Record, error) {
	if state != store.RecordIgnored && state != store.RecordUnmapped {
		return nil, valid.Field("state", "must be ignored or unmapped")
	}
	if err := s.store.Connectors.SetRecordState(ctx, connectorID, recordID, state, nil, s.now().UTC()); err != nil {
		return nil, err
	}
	return s.store.Connectors.GetRecord(ctx, connectorID, recordID)
}

// ConnectionReport is the outcome of a connection test.
type ConnectionReport = connectortype.ConnectionReport

// TestConnection makes one small request to the connector's vendor with its stored
// credentials, within timeout. The report says what failed; only a missing connector or an
// unreadable configuration is an error.
func (s *Service) TestConnection(ctx context.Context, id uuid.UUID, timeout time.Duration, opts connectortype.ClientOptions) (ConnectionReport, error) {
	c, err := s.store.Connectors.Get(ctx, id)
	if err != nil {
		return ConnectionReport{}, err
	}
	sc, _, err := connectortype.OpenStored(c.ToolType, c.BaseURL, c.Config, s.keys.Open, opts)
	if err != nil {
		return ConnectionReport{}, fmt.Errorf("connector %s: %w", id, err)
	}
	return connectortype.Probe(ctx, sc, c.BaseURL, timeout), nil
}

func validate(spec Spec, creating bool) (*connectortype.Config, error) {
	var fs []valid.FieldError
	collect := func(err error) error {
		if ve, ok := err.(*valid.Error); ok {
			fs = append(fs, ve.Fields...)
			return nil
		}
		return err
	}
	if err := collect(valid.Struct("", spec)); err != nil {
		return nil, err
	}
	if err := collect(tasks.CheckText("name", spec.Name)); err != nil {
		return nil, err
	}
	if spec.Name != "" && strings.TrimSpace(spec.Name) == "" {
		fs = append(fs, valid.FieldError{Field: "name", Message: "must not be blank"})
	}
	for field, expr := range map[string]string{"discover_schedule": spec.DiscoverSchedule, "sync_schedule": spec.SyncSchedule} {
		if expr == "" {
			continue
		}
		if err := collect(renameField(tasks.CheckSchedule(expr), field)); err != nil {
			return nil, err
		}
	}
	if spec.Timezone != "" {
		if _, err := time.LoadLocation(spec.Timezone); err != nil || spec.Timezone == "Local" {
			fs = append(fs, valid.FieldError{Field: "timezone", Message: fmt.Sprintf("%q is not an IANA time zone such as Europe/Berlin", spec.Timezone)})
		}
	}
	var cfg *connectortype.Config
	if spec.ToolType != "" && spec.BaseURL != "" {
		c, err := connectortype.Decode(spec.ToolType, spec.BaseURL, spec.Config, creating)
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

// renameField gives CheckSchedule's "schedule" field error the connector's field name.
func renameField(err error, field string) error {
	ve, ok := err.(*valid.Error)
	if !ok {
		return err
	}
	out := make([]valid.FieldError, len(ve.Fields))
	for i, f := range ve.Fields {
		out[i] = valid.FieldError{Field: field, Message: f.Message}
	}
	return valid.Fields(out...)
}

func apply(c *store.Connector, spec Spec, cfg *connectortype.Config, now time.Time) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	c.Name = strings.TrimSpace(spec.Name)
	c.Description = spec.Description
	c.BaseURL = strings.TrimRight(strings.TrimSpace(spec.BaseURL), "/")
	c.Config = raw
	c.DiscoverSchedule = strings.TrimSpace(spec.DiscoverSchedule)
	c.SyncSchedule = strings.TrimSpace(spec.SyncSchedule)
	c.Timezone = "UTC"
	if tz := strings.TrimSpace(spec.Timezone); tz != "" {
		c.Timezone = tz
	}
	c.Enabled = spec.Enabled == nil || *spec.Enabled
	c.UpdatedAt = now
	return nil
}
