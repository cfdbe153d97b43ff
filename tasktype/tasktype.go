// Package tasktype is the catalogue of integration task types: each type's name, its
// configuration document, and how that document is validated and shown through the API.
package tasktype

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/tributary-io/tributary/valid"
)

// Config is a decoded, validated task configuration.
type Config interface {
	// Validate checks what validator tags cannot; fields are relative to the config root.
	Validate() []valid.FieldError
	// Redacted returns the configuration as the API shows it: secrets replaced by markers.
	Redacted() any
	// KeepSecrets copies secret values from prev wherever this config leaves them unset,
	// so that clients can update a task without resending its secrets.
	KeepSecrets(prev Config)
	// SecretFields points at every secret value, to seal before storing and open in activities.
	SecretFields() []*string
}

// Defaulter is implemented by configs whose defaults depend on what the client sent, such as a
// preset that fills in every field the client left empty. Decode calls ApplyDefaults after
// decoding and before validating.
type Defaulter interface {
	ApplyDefaults()
}

// Prober is implemented by configs of task types that have a connection test. Probe connects
// with the configuration (secrets opened) within ctx and returns the report the API shows;
// an error means the configuration itself is unusable.
type Prober interface {
	Probe(ctx context.Context) (any, error)
}

// SecretRequirer is implemented by configs with a required secret that an update may leave
// out (the stored one is kept): RequiredSecrets reports the secrets still missing once
// KeepSecrets has run, with field paths relative to the config root.
type SecretRequirer interface {
	RequiredSecrets() []valid.FieldError
}

// CheckRequiredSecrets reports c's missing required secrets under "config", or nil.
func CheckRequiredSecrets(c Config) error {
	r, ok := c.(SecretRequirer)
	if !ok {
		return nil
	}
	if fs := r.RequiredSecrets(); len(fs) > 0 {
		return valid.Prefix("config", valid.Fields(fs...))
	}
	return nil
}

// SealSecrets seals every secret value of c with seal.
func SealSecrets(c Config, seal func(string) (string, error)) error {
	return MapSecrets(c, seal)
}

// OpenSecrets opens every sealed secret value of c with open.
func OpenSecrets(c Config, open func(string) (string, error)) error {
	return MapSecrets(c, open)
}

// MapSecrets replaces every secret value of c with fn's result.
func MapSecrets(c Config, fn func(string) (string, error)) error {
	for _, p := range c.SecretFields() {
		v, err := fn(*p)
		if err != nil {
			return err
		}
		*p = v
	}
	return nil
}

// Type describes one integration task type.
type Type struct {
	// Name is the type's identifier in the API, run history and workflow IDs, e.g. "http_call".
	Name string `json:"name"`
	// Title is the human name shown to operators.
	Title string `json:"title"`
	// Description says what a run of the type does.
	Description string `json:"description"`
	// ConfigSchema names the OpenAPI component (components.schemas in GET
	// /api/v1/openapi.json) that describes the type's configuration, from which a client
	// such as the web console can build its form.
	ConfigSchema string `json:"config_schema"`
	// TestConnection says whether the type's config is a Prober (POST
	// /api/v1/tasks/{id}/test-connection). Register sets it.
	TestConnection bool `json:"test_connection"`
	// Activity is the name of the Temporal activity that executes a run of the type. It takes
	// an activities.TaskInput and returns an activities.TaskOutput.
	Activity string `json:"-"`
	// New returns a config with the type's defaults set.
	New func() Config `json:"-"`
}

var types = map[string]Type{}

// Register adds a task type to the catalogue. Call it from an init function only: workflows
// read the catalogue, so it must not change while a worker runs.
func Register(t Type) {
	if t.Name == "" || t.Activity == "" || t.New == nil || t.ConfigSchema == "" {
		panic("tasktype: Register needs Name, Activity, New and ConfigSchema")
	}
	if _, dup := types[t.Name]; dup {
		panic("tasktype: type " + t.Name + " registered twice")
	}
	_, t.TestConnection = t.New().(Prober)
	types[t.Name] = t
}

// Lookup returns the type named name.
func Lookup(name string) (Type, bool) {
	t, ok := types[name]
	return t, ok
}

// All returns every type, ordered by name.
func All() []Type {
	out := make([]Type, 0, len(types))
	for _, t := range types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the names of every type, ordered.
func Names() []string {
	all := All()
	out := make([]string, len(all))
	for i, t := range all {
		out[i] = t.Name
	}
	return out
}

// Decode parses raw as the configuration of the type named name (defaults applied, unknown
// fields rejected) and validates it. Errors are *valid.Error with paths under "config".
func Decode(name string, raw json.RawMessage) (Config, error) {
	t, ok := Lookup(name)
	if !ok {
		return nil, valid.Field("type", "unknown task type %q; known types: %s", name, strings.Join(Names(), ", "))
	}
	cfg := t.New()
	if len(raw) == 0 || string(raw) == "null" {
		return nil, valid.Field("config", "is required")
	}
	if err := valid.DecodeJSON("config", raw, cfg); err != nil {
		return nil, err
	}
	if d, ok := cfg.(Defaulter); ok {
		d.ApplyDefaults()
	}
	if err := valid.Struct("config", cfg); err != nil {
		return nil, err
	}
	if fs := cfg.Validate(); len(fs) > 0 {
		return nil, valid.Prefix("config", valid.Fields(fs...))
	}
	return cfg, nil
}

// DecodeStored decodes a configuration that was validated when it was stored. Stored
// configurations are only written through Decode, so an error here means the row was
// changed behind the API's back; it is returned, not hidden.
func DecodeStored(name string, raw json.RawMessage) (Config, error) {
	t, ok := Lookup(name)
	if !ok {
		return nil, valid.Field("type", "unknown task type %q", name)
	}
	cfg := t.New()
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}
