package tasktype

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/valid"
)

// The four scanner import task types.
const (
	QualysAssets           = "qualys_assets"
	QualysVulnerabilities  = "qualys_vulnerabilities"
	NexposeAssets          = "nexpose_assets"
	NexposeVulnerabilities = "nexpose_vulnerabilities"
)

// Activities of the scanner import types.
const (
	ActivityImportScannerAssets          = "ImportScannerAssets"
	ActivityImportScannerVulnerabilities = "ImportScannerVulnerabilities"
)

func init() {
	for _, t := range []struct {
		name, tool, activity, title, desc string
	}{
		{QualysAssets, connectortype.Qualys, ActivityImportScannerAssets, "Import Assets from Qualys Scanner",
			"Creates and updates technology assets from the Qualys host list (keyed by the Qualys host ID), optionally narrowed by IP ranges and asset groups; hosts gone from the list are marked, never deleted."},
		{QualysVulnerabilities, connectortype.Qualys, ActivityImportScannerVulnerabilities, "Import Vulnerabilities from Qualys Scanner",
			"Imports the Qualys knowledge base entries of detected QIDs into the vulnerability catalogue and the host detections as vulnerability occurrences on assets; missing occurrences are closed, returning ones reopened, old ones expire."},
		{NexposeAssets, connectortype.Nexpose, ActivityImportScannerAssets, "Import Assets from NeXpose Scanner",
			"Creates and updates technology assets from Nexpose / InsightVM assets (keyed by the Nexpose asset ID), optionally narrowed by IP ranges and sites; relevance from the Nexpose risk score."},
		{NexposeVulnerabilities, connectortype.Nexpose, ActivityImportScannerVulnerabilities, "Import Vulnerabilities from NeXpose Scanner",
			"Imports Nexpose vulnerability definitions into the catalogue and asset findings (one per result) as vulnerability occurrences on assets."},
	} {
		tool, kind := t.tool, "assets"
		if t.activity == ActivityImportScannerVulnerabilities {
			kind = "vulnerabilities"
		}
		Register(Type{ConfigSchema: "ScannerImportConfig", Name: t.name, Activity: t.activity, Title: t.title, Description: t.desc,
			New: func() Config {
				return &ScannerImportConfig{tool: tool, kind: kind, MaxRemovalPercent: 20, ExpireAfterDays: 30, DeleteAfterDays: 365,
					RiskScorePerPoint: 1000, DefaultAssetType: "technology"}
			}})
	}
}

// ScannerImportConfig configures the Import Assets and Import Vulnerabilities tasks of Qualys
// and NeXpose. The tool and what is imported come from the task type.
type ScannerImportConfig struct {
	tool, kind string

	// BaseURL is the Qualys API server (https://qualysapi.qg2.apps.qualys.eu) or the Nexpose
	// console (https://nexpose.example:3780). Required.
	BaseURL string `json:"base_url" validate:"required,max=2048"`
	// Username is the API account. Required.
	Username string `json:"username" validate:"required,max=256"`
	// Password is the account's password: write-only, sealed at rest. Required on create;
	// kept on update when omitted, unless the username or the server changes.
	Password string `json:"password,omitempty" validate:"max=1024"`
	// AllowPlaintextHTTP permits an http:// base URL. Optional.
	AllowPlaintextHTTP bool `json:"allow_plaintext_http,omitempty"`
	// PageSize is the Qualys truncation limit (1-10000, default 1000) or the Nexpose page size
	// (1-500, default 500). Optional.
	PageSize int `json:"page_size,omitempty" validate:"omitempty,min=1,max=10000"`
	// RequestTimeoutSeconds bounds one HTTP request. Optional; defaults to 600.
	RequestTimeoutSeconds int `json:"request_timeout_seconds,omitempty" validate:"omitempty,min=1,max=3600"`
	// MaxWaitSeconds caps one rate-limit wait (Qualys). Optional; defaults to 300.
	MaxWaitSeconds int `json:"max_wait_seconds,omitempty" validate:"omitempty,min=1,max=3600"`
	// IPRanges narrow the import to addresses in CIDR blocks, ranges (10.0.0.1-10.0.0.99) or
	// single addresses. Optional; none means every address.
	IPRanges []string `json:"ip_ranges,omitempty" validate:"max=256,dive,required,max=100"`
	// Groups narrow the import to Qualys asset group IDs or Nexpose site IDs. Optional; none
	// means the whole inventory.
	Groups []string `json:"groups,omitempty" validate:"max=1000,dive,required,max=20"`
	// DefaultResponsible is the responsible person of the assets the task creates. Optional.
	DefaultResponsible string `json:"default_responsible,omitempty" validate:"max=400"`
	// DefaultAssetType is the type of the assets the task creates. Optional; defaults to
	// "technology".
	DefaultAssetType string `json:"default_asset_type,omitempty" validate:"max=100"`
	// DefaultCriticality is the criticality (0-100) of the assets the task creates. Optional.
	DefaultCriticality *int `json:"default_criticality,omitempty" validate:"omitempty,min=0,max=100"`
	// OverwriteLocalEdits lets the scanner's values replace asset properties an admin edited
	// (name, host address, relevance). Optional; by default edited properties keep their value.
	OverwriteLocalEdits bool `json:"overwrite_local_edits,omitempty"`
	// MaxRemovalPercent refuses an asset import that would mark more of the task's assets as
	// gone at once (1-100). Optional; defaults to 20.
	MaxRemovalPercent int `json:"max_removal_percent" validate:"min=1,max=100"`
	// DetectionTypes are the Qualys detection types to import: confirmed, potential, info.
	// Optional; defaults to confirmed and potential.
	DetectionTypes []string `json:"detection_types,omitempty" validate:"omitempty,max=3,dive,oneof=confirmed potential info"`
	// ExpireAfterDays expires occurrences closed for longer (0 never). Optional; defaults to 30.
	ExpireAfterDays int `json:"expire_after_days" validate:"min=0,max=3650"`
	// DeleteAfterDays deletes occurrences expired for longer, keeping their history (0 never).
	// Optional; defaults to 365.
	DeleteAfterDays int `json:"delete_after_days" validate:"min=0,max=36500"`
	// RiskScorePerPoint is how much Nexpose risk score makes one point of the 1-10 risk scale
	// from which an asset's relevance is derived (Nexpose). Optional; defaults to 1000.
	RiskScorePerPoint float64 `json:"risk_score_per_point" validate:"gt=0,lte=10000000"`
	// AllowEmptyResults lets a vulnerability import whose scanner returns nothing close every
	// open occurrence. Optional; by default such a run fails and changes nothing.
	AllowEmptyResults bool `json:"allow_empty_results,omitempty"`
}

// Tool is "qualys" or "nexpose".
func (c *ScannerImportConfig) Tool() string { return c.tool }

// Kind is "assets" or "vulnerabilities".
func (c *ScannerImportConfig) Kind() string { return c.kind }

// Validate checks the base URL, the IP ranges and the tool's limits.
func (c *ScannerImportConfig) Validate() []valid.FieldError {
	var fs []valid.FieldError
	if msg := connectortype.CheckBaseURL(c.BaseURL, c.AllowPlaintextHTTP); msg != "" {
		fs = append(fs, valid.FieldError{Field: "base_url", Message: msg})
	}
	for i, r := range c.IPRanges {
		if _, err := scanner.ParseIPRange(r); err != nil {
			fs = append(fs, valid.FieldError{Field: fmt.Sprintf("ip_ranges[%d]", i), Message: err.Error()})
		}
	}
	for i, g := range c.Groups {
		if _, err := strconv.ParseUint(g, 10, 64); err != nil {
			what := "asset group ID"
			if c.tool == connectortype.Nexpose {
				what = "site ID"
			}
			fs = append(fs, valid.FieldError{Field: fmt.Sprintf("groups[%d]", i), Message: fmt.Sprintf("%q is not a numeric %s", g, what)})
		}
	}
	if c.tool == connectortype.Nexpose && c.PageSize > 500 {
		fs = append(fs, valid.FieldError{Field: "page_size", Message: "must be at most 500 for Nexpose"})
	}
	if c.tool == connectortype.Nexpose && len(c.DetectionTypes) > 0 {
		fs = append(fs, valid.FieldError{Field: "detection_types", Message: "applies to Qualys only"})
	}
	if c.DeleteAfterDays > 0 && c.ExpireAfterDays == 0 {
		fs = append(fs, valid.FieldError{Field: "delete_after_days", Message: "needs expire_after_days: only expired occurrences are deleted"})
	}
	return fs
}

// Redacted shows the configuration without its password.
func (c *ScannerImportConfig) Redacted() any {
	type shown ScannerImportConfig
	return struct {
		*shown
		Password    string `json:"password,omitempty"`
		PasswordSet bool   `json:"password_set"`
	}{shown: (*shown)(c), PasswordSet: c.Password != ""}
}

// KeepSecrets keeps the stored password when none is given, unless the username or the
// server changes (the password would go to another account or host).
func (c *ScannerImportConfig) KeepSecrets(prev Config) {
	if p, ok := prev.(*ScannerImportConfig); ok {
		c.Password = keptPassword(c.Password, c.Username, c.BaseURL, p.Password, p.Username, p.BaseURL)
	}
}

// keptPassword is the password an update stores: the one given, else the stored one while
// the username and the server stay (a password never goes to another account or host).
func keptPassword(password, username, baseURL, prevPassword, prevUsername, prevBaseURL string) string {
	if password != "" || prevUsername != username || serverOf(prevBaseURL) != serverOf(baseURL) {
		return password
	}
	return prevPassword
}

func serverOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// RequiredSecrets: the scanner needs a password.
func (c *ScannerImportConfig) RequiredSecrets() []valid.FieldError {
	if c.Password == "" {
		return []valid.FieldError{{Field: "password", Message: "is required (it is kept on update unless the username or the server changes)"}}
	}
	return nil
}

// SecretFields is the password.
func (c *ScannerImportConfig) SecretFields() []*string { return []*string{&c.Password} }

// Filter is the part of the inventory the task imports.
func (c *ScannerImportConfig) Filter() scanner.Filter {
	return scanner.Filter{IPRanges: c.IPRanges, Groups: c.Groups}
}

// ClientConfig is the scanner client's configuration (with the password as it is: open it first).
func (c *ScannerImportConfig) ClientConfig() *connectortype.Config {
	return &connectortype.Config{Username: c.Username, Password: c.Password, AllowPlaintextHTTP: c.AllowPlaintextHTTP,
		PageSize: c.PageSize, RequestTimeoutSeconds: c.RequestTimeoutSeconds, MaxWaitSeconds: c.MaxWaitSeconds, DetectionTypes: c.DetectionTypes}
}

// Relevance is a host's Modulo relevance (1-5). Nexpose: the risk score is made a 1-10 risk
// (one point per RiskScorePerPoint, at least 1, at most 10) and mapped 1-2 -> 1, 3-4 -> 2,
// 5-6 -> 3, 7-8 -> 4, 9-10 -> 5. Without a risk score (Qualys) it is 3, Modulo's default.
func (c *ScannerImportConfig) Relevance(h *scanner.Host) int {
	if h.RiskScore == nil || c.RiskScorePerPoint <= 0 {
		return 3
	}
	risk := int(math.Ceil(*h.RiskScore / c.RiskScorePerPoint))
	risk = min(max(risk, 1), 10)
	return (risk + 1) / 2
}

// Probe makes one small request to the scanner with the task's credentials, without retries.
func (c *ScannerImportConfig) Probe(ctx context.Context) (any, error) {
	sc, err := connectortype.Open(c.tool, c.BaseURL, c.ClientConfig(), connectortype.ClientOptions{MaxRetries: -1})
	if err != nil {
		return nil, valid.Field("config", "%v", err)
	}
	timeout := 20 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return connectortype.Probe(ctx, sc, c.BaseURL, timeout), nil
}

// StoredScannerImport decodes the stored configuration of a scanner import task of type
// name and opens its password with open.
func StoredScannerImport(name string, raw json.RawMessage, open func(string) (string, error)) (*ScannerImportConfig, error) {
	c, err := DecodeStored(name, raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid %s configuration: %w", name, err)
	}
	cfg, ok := c.(*ScannerImportConfig)
	if !ok {
		return nil, fmt.Errorf("task type %s is not a scanner import", name)
	}
	if cfg.Password, err = open(cfg.Password); err != nil {
		return nil, fmt.Errorf("the stored password cannot be opened: %w", err)
	}
	return cfg, nil
}
