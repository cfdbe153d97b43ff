// Package connectortype is the catalogue of connector tool types (Qualys VM, Rapid7
// Nexpose): each type's configuration, how it is validated and shown, and the scanner client
// it opens for Discover and Sync.
package connectortype

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/nexpose"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/valid"
)

// Tool types.
const (
	Qualys  = "qualys"
	Nexpose = "nexpose"
)

// Info describes a tool type.
type Info struct {
	Name string `json:"name"`
	// Title is the human name, also the test type of the connector's tests.
	Title string `json:"title"`
	// RecordKind is the vendor object a record stands for.
	RecordKind string `json:"record_kind"`
}

// Types lists the tool types.
var Types = []Info{
	{Name: Qualys, Title: "Qualys VM", RecordKind: "asset_group"},
	{Name: Nexpose, Title: "Rapid7 Nexpose", RecordKind: "site"},
}

// Lookup returns the tool type named name.
func Lookup(name string) (Info, bool) {
	for _, t := range Types {
		if t.Name == name {
			return t, true
		}
	}
	return Info{}, false
}

// Config is a connector's configuration beyond its base URL.
type Config struct {
	// Username is the API account. Required.
	Username string `json:"username" validate:"required,max=256"`
	// Password is the API account's password. Write-only: required when a connector is
	// created, kept on update when omitted (unless the username changes), sealed at rest and
	// never shown.
	Password string `json:"password,omitempty" validate:"max=1024"`
	// AllowPlaintextHTTP permits an http:// base URL, which sends the password in the clear.
	// Optional; https is required otherwise.
	AllowPlaintextHTTP bool `json:"allow_plaintext_http"`
	// PageSize is the Nexpose page size (1-500) or the Qualys truncation limit (hosts per page,
	// 1-10000). Optional; defaults to 500 (Nexpose) or 1000 (Qualys).
	PageSize int `json:"page_size" validate:"omitempty,min=1,max=10000"`
	// RequestTimeoutSeconds bounds one HTTP request. Optional; defaults to 600.
	RequestTimeoutSeconds int `json:"request_timeout_seconds" validate:"omitempty,min=1,max=3600"`
	// MaxWaitSeconds caps one wait that a rate limit asks for (Qualys). Optional; defaults to 300.
	MaxWaitSeconds int `json:"max_wait_seconds" validate:"omitempty,min=1,max=3600"`
	// MaxAttempts bounds the attempts of one record's sync. Optional; defaults to 3.
	MaxAttempts int `json:"max_attempts" validate:"omitempty,min=1,max=20"`
	// DetectionTypes are the Qualys detection types to import: confirmed, potential, info
	// (information gathered). Optional; defaults to confirmed and potential. Nexpose ignores it.
	DetectionTypes []string `json:"detection_types,omitempty" validate:"omitempty,max=3,dive,oneof=confirmed potential info"`
	// AllowEmptyResults lets a sync whose vendor returns no findings at all for a record
	// inactivate that record's active findings. Optional; by default such a sync fails and
	// changes nothing.
	AllowEmptyResults bool `json:"allow_empty_results"`
}

// Redacted is the configuration as the API shows it.
func (c *Config) Redacted() any {
	type shown struct {
		Config
		Password    string `json:"password,omitempty"`
		PasswordSet bool   `json:"password_set"`
	}
	return shown{Config: *c, PasswordSet: c.Password != ""}
}

// KeepSecrets takes the stored password when c has none and the username is unchanged.
func (c *Config) KeepSecrets(prev *Config) {
	if prev != nil && c.Password == "" && c.Username == prev.Username {
		c.Password = prev.Password
	}
}

// Decode validates a connector's tool type, base URL and configuration as a client sent them.
// creating says whether the password is required.
func Decode(toolType, baseURL string, raw json.RawMessage, creating bool) (*Config, error) {
	var fs []valid.FieldError
	t, ok := Lookup(toolType)
	if !ok {
		return nil, valid.Field("tool_type", "unknown tool type %q; known types: qualys, nexpose", toolType)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, valid.Field("config", "is required")
	}
	cfg := &Config{}
	if err := valid.DecodeJSON("config", raw, cfg); err != nil {
		return nil, err
	}
	if err := valid.Struct("config", cfg); err != nil {
		return nil, err
	}
	if creating && cfg.Password == "" {
		fs = append(fs, valid.FieldError{Field: "config.password", Message: "is required"})
	}
	if t.Name == Nexpose && cfg.PageSize > nexpose.MaxPageSize {
		fs = append(fs, valid.FieldError{Field: "config.page_size", Message: fmt.Sprintf("must be at most %d for Nexpose", nexpose.MaxPageSize)})
	}
	if msg := CheckBaseURL(baseURL, cfg.AllowPlaintextHTTP); msg != "" {
		fs = append(fs, valid.FieldError{Field: "base_url", Message: msg})
	}
	if len(fs) > 0 {
		return nil, valid.Fields(fs...)
	}
	return cfg, nil
}

// CheckBaseURL checks a scanner's base URL (absolute, https unless plaintext is allowed, no
// credentials, query or fragment) and returns what is wrong, or "".
func CheckBaseURL(raw string, plaintext bool) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL such as https://qualysapi.qualys.com", raw)
	}
	if u.User != nil {
		return "must not carry credentials; put them in config.username and config.password"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "must not have a query or fragment"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !plaintext {
			return "http:// would send the password in the clear; use https, or set config.allow_plaintext_http"
		}
	default:
		return fmt.Sprintf("scheme %q is not supported; use https", u.Scheme)
	}
	if h := u.Hostname(); net.ParseIP(h) == nil && strings.ContainsAny(h, " _") {
		return fmt.Sprintf("%q is not a host name", h)
	}
	return ""
}

// DecodeStored decodes a stored configuration.
func DecodeStored(raw json.RawMessage) (*Config, error) {
	cfg := &Config{}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("stored connector config: %w", err)
	}
	return cfg, nil
}

// Scanner is what Discover and Sync need from a vendor client.
type Scanner interface {
	// Vendor names the vendor in messages.
	Vendor() string
	// Products lists the vendor objects that become records.
	Products(ctx context.Context, fn func(scanner.Product) error) error
	// Detections streams the latest findings of one vendor object; what it skips (a vanished
	// asset) goes to notes.
	Detections(ctx context.Context, vendorID string, fn func(scanner.Detection) error, notes *scanner.Notes) error
	// Definitions fetches the definitions of vulnerability IDs; entries stored incompletely
	// go to notes.
	Definitions(ctx context.Context, ids []string, fn func(scanner.Definition) error, notes *scanner.Notes) error
	// Probe checks the credentials with one small request.
	Probe(ctx context.Context) error
	// Hosts lists the assets that f selects (the whole inventory when f is empty).
	Hosts(ctx context.Context, f scanner.Filter, fn func(scanner.Host) error) error
	// FilteredDetections streams the latest findings of the assets that f selects.
	FilteredDetections(ctx context.Context, f scanner.Filter, fn func(scanner.Detection) error, notes *scanner.Notes) error
}

// ConnectionReport is the outcome of a connection test.
type ConnectionReport struct {
	OK bool `json:"ok"`
	// ErrorKind classifies a failure: unavailable, rate_limited, bad_credentials, forbidden,
	// not_found, rejected, bad_response, or "timeout".
	ErrorKind  string `json:"error_kind,omitempty"`
	Message    string `json:"message"`
	DurationMS int64  `json:"duration_ms"`
}

// Probe makes sc's one small request within timeout and reports the outcome; server names the
// vendor's address in a time-out message.
func Probe(ctx context.Context, sc interface{ Probe(context.Context) error }, server string, timeout time.Duration) ConnectionReport {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := sc.Probe(ctx)
	rep := ConnectionReport{OK: err == nil, DurationMS: time.Since(start).Milliseconds(), Message: "connected; the credentials are accepted"}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		rep.ErrorKind, rep.Message = "timeout", fmt.Sprintf("%s did not answer within %s", server, timeout)
	default:
		rep.ErrorKind, rep.Message = string(scanner.KindOf(err)), err.Error()
		if rep.ErrorKind == "" {
			rep.ErrorKind = string(scanner.KindUnavailable)
		}
	}
	return rep
}

// ClientOptions configures Open.
type ClientOptions struct {
	// Transport makes the HTTP requests. Optional; defaults to http.DefaultTransport.
	Transport http.RoundTripper
	// Sleep replaces the clients' waits. Optional.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxRetries bounds the retries of one request. Optional; defaults to the clients' 5;
	// negative for none.
	MaxRetries int
	// Metrics counts the requests and waits by vendor. Optional.
	Metrics *metrics.Registry
}

// Open returns the scanner client of a connector; cfg's password must be open (not sealed).
func Open(toolType, baseURL string, cfg *Config, opts ClientOptions) (Scanner, error) {
	timeout := 600 * time.Second
	if cfg.RequestTimeoutSeconds > 0 {
		timeout = time.Duration(cfg.RequestTimeoutSeconds) * time.Second
	}
	hc := &http.Client{Timeout: timeout, Transport: opts.Metrics.VendorTransport(opts.Transport, toolType),
		// Never follow a redirect with the credentials to another server.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if opts.Sleep == nil {
		opts.Sleep = scanner.Sleep
	}
	opts.Sleep = opts.Metrics.VendorSleep(opts.Sleep, toolType)
	switch toolType {
	case Qualys:
		c, err := qualys.New(qualys.Options{BaseURL: baseURL, Username: cfg.Username, Password: cfg.Password, HTTPClient: hc,
			TruncationLimit: cfg.PageSize, DetectionTypes: cfg.DetectionTypes, MaxWait: time.Duration(cfg.MaxWaitSeconds) * time.Second, Sleep: opts.Sleep, MaxRetries: opts.MaxRetries})
		if err != nil {
			return nil, err
		}
		return qualysScanner{c}, nil
	case Nexpose:
		c, err := nexpose.New(nexpose.Options{BaseURL: baseURL, Username: cfg.Username, Password: cfg.Password, HTTPClient: hc,
			PageSize: cfg.PageSize, Sleep: opts.Sleep, MaxRetries: opts.MaxRetries})
		if err != nil {
			return nil, err
		}
		return nexposeScanner{c}, nil
	}
	return nil, fmt.Errorf("unknown tool type %q", toolType)
}

// OpenStored decodes a connector's stored configuration, opens its sealed password with open
// and returns the scanner client with the configuration (password open).
func OpenStored(toolType, baseURL string, raw json.RawMessage, open func(string) (string, error), opts ClientOptions) (Scanner, *Config, error) {
	cfg, err := DecodeStored(raw)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Password, err = open(cfg.Password); err != nil {
		return nil, nil, fmt.Errorf("the stored password cannot be opened: %w", err)
	}
	sc, err := Open(toolType, baseURL, cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	return sc, cfg, nil
}

type qualysScanner struct{ c *qualys.Client }

func (q qualysScanner) Vendor() string { return qualys.Vendor }
func (q qualysScanner) Products(ctx context.Context, fn func(scanner.Product) error) error {
	return q.c.AssetGroups(ctx, fn)
}
func (q qualysScanner) Detections(ctx context.Context, id string, fn func(scanner.Detection) error, _ *scanner.Notes) error {
	return q.c.Detections(ctx, id, fn)
}
func (q qualysScanner) Definitions(ctx context.Context, ids []string, fn func(scanner.Definition) error, notes *scanner.Notes) error {
	return q.c.KnowledgeBase(ctx, ids, fn, notes)
}

func (q qualysScanner) Probe(ctx context.Context) error { return q.c.Probe(ctx) }
func (q qualysScanner) Hosts(ctx context.Context, f scanner.Filter, fn func(scanner.Host) error) error {
	return q.c.Hosts(ctx, f, fn)
}
func (q qualysScanner) FilteredDetections(ctx context.Context, f scanner.Filter, fn func(scanner.Detection) error, _ *scanner.Notes) error {
	return q.c.HostDetections(ctx, f, fn)
}

type nexposeScanner struct{ c *nexpose.Client }

func (n nexposeScanner) Probe(ctx context.Context) error { return n.c.Probe(ctx) }
func (n nexposeScanner) Hosts(ctx context.Context, f scanner.Filter, fn func(scanner.Host) error) error {
	return n.c.Assets(ctx, f, fn)
}
func (n nexposeScanner) FilteredDetections(ctx context.Context, f scanner.Filter, fn func(scanner.Detection) error, notes *scanner.Notes) error {
	return n.c.AssetDetections(ctx, f, fn, notes)
}

func (n nexposeScanner) Vendor() string { return nexpose.Vendor }
func (n nexposeScanner) Products(ctx context.Context, fn func(scanner.Product) error) error {
	return n.c.Sites(ctx, fn)
}
func (n nexposeScanner) Detections(ctx context.Context, id string, fn func(scanner.Detection) error, notes *scanner.Notes) error {
	return n.c.Detections(ctx, id, fn, notes)
}
func (n nexposeScanner) Definitions(ctx context.Context, ids []string, fn func(scanner.Definition) error, _ *scanner.Notes) error {
	return n.c.Definitions(ctx, ids, fn)
}
