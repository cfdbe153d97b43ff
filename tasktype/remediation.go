package tasktype

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/valid"
)

// QualysRemediation is the Synchronize Qualys Scanner Remediation task type.
const QualysRemediation = "qualys_remediation"

// ActivitySyncQualysRemediation executes a run of the type.
const ActivitySyncQualysRemediation = "SyncQualysRemediation"

func init() {
	Register(Type{ConfigSchema: "RemediationConfig", Name: QualysRemediation, Activity: ActivitySyncQualysRemediation, Title: "Synchronize Qualys Scanner Remediation",
		Description: "Reads the Qualys remediation tickets modified since the last successful run and keeps the events treating their " +
			"occurrences in step: a closed (or, by policy, resolved) ticket closes a single-vulnerability event or advances a consolidated " +
			"one, an ignored or reopened ticket adds a progress entry (and reopens a closed single-vulnerability event), ticket comments " +
			"become progress entries.",
		New: func() Config { return &RemediationConfig{CloseOn: CloseOnClosed, OverlapSeconds: 3600} }})
}

// What closes an event's occurrence (RemediationConfig.CloseOn).
const (
	// CloseOnClosed: only a CLOSED ticket (fixed, verified by a rescan).
	CloseOnClosed = "closed"
	// CloseOnResolved: a RESOLVED ticket (a person says it is fixed) as well.
	CloseOnResolved = "resolved"
)

// RemediationConfig configures the Synchronize Qualys Scanner Remediation task.
type RemediationConfig struct {
	// BaseURL is the Qualys API server (https://qualysapi.qg2.apps.qualys.eu). Required.
	BaseURL string `json:"base_url" validate:"required,max=2048"`
	// Username is the API account (Basic authentication: API v1). Required.
	Username string `json:"username" validate:"required,max=256"`
	// Password is the account's password: write-only, sealed at rest. Required on create;
	// kept on update when omitted, unless the username or the server changes.
	Password string `json:"password,omitempty" validate:"max=1024"`
	// AllowPlaintextHTTP permits an http:// base URL. Optional.
	AllowPlaintextHTTP bool `json:"allow_plaintext_http,omitempty"`
	// RequestTimeoutSeconds bounds one HTTP request. Optional; defaults to 600.
	RequestTimeoutSeconds int `json:"request_timeout_seconds,omitempty" validate:"omitempty,min=1,max=3600"`
	// MaxWaitSeconds caps one rate-limit wait. Optional; defaults to 300.
	MaxWaitSeconds int `json:"max_wait_seconds,omitempty" validate:"omitempty,min=1,max=3600"`
	// CloseOn says which tickets resolve an occurrence: "closed" (fixed, verified by a
	// rescan) or "resolved" (RESOLVED as well). Optional; defaults to "closed".
	CloseOn string `json:"close_on" validate:"oneof=closed resolved"`
	// OverlapSeconds reads tickets modified this long before the last successful run's
	// watermark again, for clock skew and Qualys's one-second granularity. Optional;
	// defaults to 3600.
	OverlapSeconds int `json:"overlap_seconds" validate:"min=0,max=604800"`
	// InitialDays limits the first run to tickets modified in the last N days. Optional; 0
	// (the default) reads every ticket.
	InitialDays int `json:"initial_days,omitempty" validate:"min=0,max=3650"`
}

// Validate checks the base URL.
func (c *RemediationConfig) Validate() []valid.FieldError {
	if msg := connectortype.CheckBaseURL(c.BaseURL, c.AllowPlaintextHTTP); msg != "" {
		return []valid.FieldError{{Field: "base_url", Message: msg}}
	}
	return nil
}

// Redacted shows the configuration without its password.
func (c *RemediationConfig) Redacted() any {
	type shown RemediationConfig
	return struct {
		*shown
		Password    string `json:"password,omitempty"`
		PasswordSet bool   `json:"password_set"`
	}{shown: (*shown)(c), PasswordSet: c.Password != ""}
}

// KeepSecrets keeps the stored password when none is given, unless the username or the
// server changes.
func (c *RemediationConfig) KeepSecrets(prev Config) {
	if p, ok := prev.(*RemediationConfig); ok {
		c.Password = keptPassword(c.Password, c.Username, c.BaseURL, p.Password, p.Username, p.BaseURL)
	}
}

// RequiredSecrets: Qualys needs a password.
func (c *RemediationConfig) RequiredSecrets() []valid.FieldError {
	if c.Password == "" {
		return []valid.FieldError{{Field: "password", Message: "is required (it is kept on update unless the username or the server changes)"}}
	}
	return nil
}

// SecretFields is the password.
func (c *RemediationConfig) SecretFields() []*string { return []*string{&c.Password} }

// ResolvingStates are the ticket states that resolve an occurrence under CloseOn.
func (c *RemediationConfig) ResolvingStates() []string {
	if c.CloseOn == CloseOnResolved {
		return []string{qualys.TicketClosed, qualys.TicketResolved}
	}
	return []string{qualys.TicketClosed}
}

// Client returns the Qualys client (the password must be open).
func (c *RemediationConfig) Client(transport http.RoundTripper, sleep func(context.Context, time.Duration) error, maxRetries int) (*qualys.Client, error) {
	timeout := 600 * time.Second
	if c.RequestTimeoutSeconds > 0 {
		timeout = time.Duration(c.RequestTimeoutSeconds) * time.Second
	}
	hc := &http.Client{Timeout: timeout, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return qualys.New(qualys.Options{BaseURL: c.BaseURL, Username: c.Username, Password: c.Password, HTTPClient: hc,
		MaxWait: time.Duration(c.MaxWaitSeconds) * time.Second, Sleep: sleep, MaxRetries: maxRetries})
}

// Probe asks Qualys for one ticket with the task's credentials, without retries.
func (c *RemediationConfig) Probe(ctx context.Context) (any, error) {
	cl, err := c.Client(nil, nil, -1)
	if err != nil {
		return nil, valid.Field("config", "%v", err)
	}
	timeout := 20 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return connectortype.Probe(ctx, ticketProbe{cl}, c.BaseURL, timeout), nil
}

// ticketProbe is the ticket client as a connection test.
type ticketProbe struct{ c *qualys.Client }

func (p ticketProbe) Probe(ctx context.Context) error { return p.c.ProbeTickets(ctx) }

// StoredRemediation decodes a stored Synchronize Qualys Scanner Remediation configuration
// and opens its password with open.
func StoredRemediation(raw json.RawMessage, open func(string) (string, error)) (*RemediationConfig, error) {
	c, err := DecodeStored(QualysRemediation, raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid %s configuration: %w", QualysRemediation, err)
	}
	cfg := c.(*RemediationConfig)
	if cfg.Password, err = open(cfg.Password); err != nil {
		return nil, fmt.Errorf("the stored password cannot be opened: %w", err)
	}
	return cfg, nil
}
