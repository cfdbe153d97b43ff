package tasktype

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/valid"
	"github.com/tributary-io/tributary/xmlmap"
)

// The three XML file import task types and the activity that runs them.
const (
	XMLAssets          = "xml_assets"
	XMLEvents          = "xml_events"
	XMLVulnerabilities = "xml_vulnerabilities"

	ActivityImportXMLFile = "ImportXMLFile"
)

// XMLTargets are the fields an XML file import of each kind can fill, with the limits of the
// domain model (asset name ≤ 400, relevance 1-5, criticality 0-100, event title ≤ 2,500 and
// description ≤ 5,500, urgency, severity and relevance 1-5). Mappings are compiled against
// them (xmlmap.Compile) by the preview and by the XML import task types.
var XMLTargets = map[string][]xmlmap.Target{
	"assets": {
		{Name: "id", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "name", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "type", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "description", Type: xmlmap.TypeString, MaxLength: 4000},
		{Name: "host_address", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "ip", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "os", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "relevance", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "criticality", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 100},
		{Name: "responsible", Type: xmlmap.TypeString, MaxLength: 400},
	},
	"events": {
		{Name: "key", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "title", Type: xmlmap.TypeString, Required: true, MaxLength: 2500},
		{Name: "description", Type: xmlmap.TypeString, MaxLength: 5500},
		{Name: "type", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "urgency", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "severity", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "relevance", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "progress", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 100},
		{Name: "responsible", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "asset", Type: xmlmap.TypeString, MaxLength: 400},
	},
	"vulnerabilities": {
		{Name: "vulnerability_id", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "title", Type: xmlmap.TypeString, Required: true, MaxLength: 2500},
		{Name: "level", Type: xmlmap.TypeInteger, HasRange: true, Min: 1, Max: 5},
		{Name: "cves", Type: xmlmap.TypeString, MaxLength: 4000},
		{Name: "description", Type: xmlmap.TypeString},
		{Name: "solution", Type: xmlmap.TypeString},
		{Name: "host", Type: xmlmap.TypeString, Required: true, MaxLength: 400},
		{Name: "ip", Type: xmlmap.TypeString, MaxLength: 100},
		{Name: "host_name", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "os", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "port", Type: xmlmap.TypeInteger, HasRange: true, Min: 0, Max: 65535},
		{Name: "protocol", Type: xmlmap.TypeString, MaxLength: 20},
		{Name: "instance", Type: xmlmap.TypeString, MaxLength: 400},
		{Name: "status", Type: xmlmap.TypeString, OneOf: []string{"open", "risk_accepted", "not_vulnerable", "closed"}},
		{Name: "detection_type", Type: xmlmap.TypeString, OneOf: []string{"confirmed", "potential", "info"}},
		{Name: "evidence", Type: xmlmap.TypeString},
		{Name: "first_found", Type: xmlmap.TypeDateTime},
		{Name: "last_found", Type: xmlmap.TypeDateTime},
	},
}

func init() {
	for _, t := range []struct{ name, kind, title, desc string }{
		{XMLAssets, "assets", "Import Assets from XML File",
			"Creates and updates technology assets from the records of an XML file (uploaded, fetched from a URL or picked up from the drop " +
				"directory) through a field mapping or a preset; assets are keyed by (source, id), assets missing from the file are marked, never deleted."},
		{XMLEvents, "events", "Import Events from XML File",
			"Creates Workflow events from the records of an XML file through a field mapping; with a mapped key, a record whose key was " +
				"imported before updates that event instead of creating another."},
		{XMLVulnerabilities, "vulnerabilities", "Import Vulnerabilities from XML File",
			"Imports the vulnerabilities of an XML report (NeXpose XML Export 2.0, Qualys scan reports, or any file through a mapping) into the " +
				"vulnerability catalogue and as occurrences on assets: missing occurrences close, returning ones reopen, old ones expire."},
	} {
		kind := t.kind
		Register(Type{ConfigSchema: "XMLImportConfig", Name: t.name, Activity: ActivityImportXMLFile, Title: t.title, Description: t.desc,
			New: func() Config { return NewXMLImportConfig(kind) }})
	}
}

// NewXMLImportConfig returns the configuration of an XML import of kind with its defaults.
func NewXMLImportConfig(kind string) *XMLImportConfig {
	return &XMLImportConfig{kind: kind, AssetSource: "xml", MaxFailedRecords: 100, MaxFailedPercent: 10, MaxRemovalPercent: 20,
		MatchAssetsBy: "source_id", UnknownAssets: "create", ExpireAfterDays: 30, DeleteAfterDays: 365, DetectionTypes: []string{"confirmed", "potential"},
		EventMatch: "key", DefaultEventType: "remediation"}
}

// XMLImportConfig configures the three XML file import task types. The kind (assets,
// events or vulnerabilities) comes from the task type.
type XMLImportConfig struct {
	kind string

	// FileID imports a file uploaded with POST /api/v1/files. One of file_id, url and
	// drop_glob is required.
	FileID *uuid.UUID `json:"file_id,omitempty"`
	// URL fetches the file over HTTP(S) at each run (stored like an upload, so the run names
	// the file it imported).
	URL string `json:"url,omitempty" validate:"max=2048"`
	// URLToken is sent as "Authorization: Bearer <token>" with the URL request: write-only,
	// sealed at rest. Optional; kept on update when omitted while the URL's server stays.
	URLToken string `json:"url_token,omitempty" validate:"max=4096"`
	// AllowPlaintextHTTP permits an http:// URL. Optional.
	AllowPlaintextHTTP bool `json:"allow_plaintext_http,omitempty"`
	// DropGlob picks up files from the worker's drop directory (XML_DROP_DIR): a glob
	// relative to it, such as "nexpose/*.xml". A run imports the oldest matching file and
	// moves it to a "processed" folder beside it ("failed" when the file cannot be imported).
	DropGlob string `json:"drop_glob,omitempty" validate:"max=400"`
	// Preset is a built-in mapping (GET /api/v1/xml-imports/presets): one of preset and
	// mapping is required.
	Preset string `json:"preset,omitempty" validate:"max=100"`
	// Mapping maps the file's records to the kind's fields (see xmlmap.Mapping).
	Mapping *xmlmap.Mapping `json:"mapping,omitempty"`
	// MaxFailedRecords fails the run (nothing applied) when more records fail. Optional;
	// defaults to 100.
	MaxFailedRecords int `json:"max_failed_records" validate:"min=0,max=100000000"`
	// MaxFailedPercent fails the run when a larger share of the records fail (0-100).
	// Optional; defaults to 10.
	MaxFailedPercent int `json:"max_failed_percent" validate:"min=0,max=100"`

	// AssetSource names the source of the assets the task writes: assets are keyed by
	// (source, id), identity "xml:<asset_source>:<id>". Optional; defaults to "xml".
	AssetSource string `json:"asset_source" validate:"required,max=100"`
	// DefaultAssetType, DefaultResponsible and DefaultCriticality fill the assets the task
	// creates where the file gives no value. Optional.
	DefaultAssetType   string `json:"default_asset_type,omitempty" validate:"max=100"`
	DefaultResponsible string `json:"default_responsible,omitempty" validate:"max=400"`
	DefaultCriticality *int   `json:"default_criticality,omitempty" validate:"omitempty,min=0,max=100"`
	// OverwriteLocalEdits lets the file's values replace asset properties an admin edited.
	// Optional (assets).
	OverwriteLocalEdits bool `json:"overwrite_local_edits,omitempty"`
	// MaxRemovalPercent refuses an asset import that would mark more of the task's assets
	// as gone at once (1-100). Optional; defaults to 20 (assets).
	MaxRemovalPercent int `json:"max_removal_percent" validate:"min=1,max=100"`

	// MatchAssetsBy is how an occurrence's host value finds its asset: "source_id" (the id
	// of an asset of this task's asset_source), "host_address" or "ip" (any asset with that
	// host address or IP, whichever source). Optional; defaults to source_id
	// (vulnerabilities).
	MatchAssetsBy string `json:"match_assets_by" validate:"oneof=source_id host_address ip"`
	// UnknownAssets is what an occurrence of a host without an asset does: "create" the
	// asset (keyed by the host value under asset_source) or "skip" the record with a reason.
	// Optional; defaults to create (vulnerabilities).
	UnknownAssets string `json:"unknown_assets" validate:"oneof=create skip"`
	// DetectionTypes are the detection types imported; records of others are skipped.
	// Optional; defaults to confirmed and potential (vulnerabilities).
	DetectionTypes []string `json:"detection_types" validate:"min=1,max=3,dive,oneof=confirmed potential info"`
	// ExpireAfterDays and DeleteAfterDays age closed occurrences as the scanner imports do.
	// Optional; default 30 and 365 (vulnerabilities).
	ExpireAfterDays int `json:"expire_after_days" validate:"min=0,max=3650"`
	DeleteAfterDays int `json:"delete_after_days" validate:"min=0,max=36500"`
	// AllowEmptyResults accepts a file without records (by default a run fails on one: the
	// record path is likely wrong) and lets a vulnerability file without occurrences close
	// every open occurrence of the task. Optional; by default such runs fail and change
	// nothing.
	AllowEmptyResults bool `json:"allow_empty_results,omitempty"`

	// EventMatch is how records become events: "key" (the mapped key: a key imported
	// before updates its event) or "always_new" (every record is a new event; a file the
	// task imported before is not imported again). Optional; defaults to key (events).
	EventMatch string `json:"event_match" validate:"oneof=key always_new"`
	// DefaultEventType is the type of events whose record maps none. Optional; defaults to
	// "remediation" (events).
	DefaultEventType string `json:"default_event_type" validate:"required,max=100"`
}

// Kind is "assets", "events" or "vulnerabilities".
func (c *XMLImportConfig) Kind() string { return c.kind }

// EffectiveMapping is the mapping a run uses: the preset's or the task's own.
func (c *XMLImportConfig) EffectiveMapping() xmlmap.Mapping {
	if c.Preset != "" {
		if p, ok := XMLPreset(c.Preset); ok {
			return p.Mapping
		}
	}
	if c.Mapping == nil {
		return xmlmap.Mapping{}
	}
	return *c.Mapping
}

// Compile compiles the effective mapping against the kind's targets.
func (c *XMLImportConfig) Compile() (*xmlmap.Compiled, error) {
	return xmlmap.Compile(c.EffectiveMapping(), XMLTargets[c.kind])
}

// Validate checks the source, the mapping (compiled, errors under "mapping") and the
// options of the kind.
func (c *XMLImportConfig) Validate() []valid.FieldError {
	var fs []valid.FieldError
	bad := func(field, format string, args ...any) {
		fs = append(fs, valid.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	sources := 0
	if c.FileID != nil {
		sources++
	}
	if c.URL != "" {
		sources++
		if msg := CheckFileURL(c.URL, c.AllowPlaintextHTTP); msg != "" {
			bad("url", "%s", msg)
		}
	}
	if c.URLToken != "" && c.URL == "" {
		bad("url_token", "applies to url only")
	}
	if c.DropGlob != "" {
		sources++
		if msg := CheckDropGlob(c.DropGlob); msg != "" {
			bad("drop_glob", "%s", msg)
		}
	}
	if sources != 1 {
		bad("file_id", "exactly one of file_id, url and drop_glob is required (%d given)", sources)
	}
	switch {
	case c.Preset != "" && c.Mapping != nil:
		bad("mapping", "give a preset or a mapping, not both (start from GET /api/v1/xml-imports/presets to adapt a preset)")
	case c.Preset != "":
		p, ok := XMLPreset(c.Preset)
		if !ok || p.Kind != c.kind {
			bad("preset", "unknown %s preset %q; known: %s", c.kind, c.Preset, strings.Join(XMLPresetNames(c.kind), ", "))
		}
	case c.Mapping == nil:
		bad("mapping", "is required (or a preset: %s)", strings.Join(XMLPresetNames(c.kind), ", "))
	default:
		if _, err := c.Compile(); err != nil {
			if ve, ok := valid.Prefix("mapping", err).(*valid.Error); ok {
				fs = append(fs, ve.Fields...)
			} else {
				bad("mapping", "%v", err)
			}
		}
		if c.kind == "events" && c.EventMatch == "key" && !maps(c.Mapping, "key") {
			bad("mapping.fields", "event_match key needs the target key mapped (or set event_match to always_new)")
		}
	}
	if c.DeleteAfterDays > 0 && c.ExpireAfterDays == 0 {
		bad("delete_after_days", "needs expire_after_days: only expired occurrences are deleted")
	}
	return fs
}

func maps(m *xmlmap.Mapping, target string) bool {
	for _, f := range m.Fields {
		if f.Target == target {
			return true
		}
	}
	return false
}

// CheckFileURL checks the URL of a file: http(s) with a host and no credentials in it (a
// query, as signed URLs have, is allowed; it is never shown).
func CheckFileURL(raw string, plaintext bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "must be an https:// URL"
	case u.Scheme == "http" && !plaintext:
		return "must be https:// (set allow_plaintext_http to fetch over http://)"
	case u.Host == "":
		return "must name a host"
	case u.User != nil:
		return "must not carry credentials (use url_token)"
	}
	return ""
}

// CheckDropGlob checks a drop directory glob: relative, inside the directory, a valid
// pattern. It returns "" when the glob is usable.
func CheckDropGlob(g string) string {
	if path.IsAbs(g) || strings.HasPrefix(g, "\\") {
		return "must be relative to the worker's drop directory (XML_DROP_DIR)"
	}
	for _, part := range strings.Split(g, "/") {
		if part == ".." {
			return "must stay inside the drop directory (no ..)"
		}
	}
	if _, err := path.Match(g, ""); err != nil {
		return "is not a valid glob: " + err.Error()
	}
	if strings.Contains(g, "processed/") || strings.Contains(g, "failed/") {
		return `must not pick up the "processed" and "failed" folders`
	}
	return ""
}

// Redacted shows the configuration without the URL token, and the mapping a preset
// expands to.
func (c *XMLImportConfig) Redacted() any {
	type shown XMLImportConfig
	out := struct {
		*shown
		URLToken      string          `json:"url_token,omitempty"`
		URLTokenSet   bool            `json:"url_token_set"`
		PresetMapping *xmlmap.Mapping `json:"preset_mapping,omitempty"`
	}{shown: (*shown)(c), URLTokenSet: c.URLToken != ""}
	if p, ok := XMLPreset(c.Preset); ok && c.Preset != "" {
		out.PresetMapping = &p.Mapping
	}
	return out
}

// KeepSecrets keeps the stored URL token when none is given while the URL's server stays.
func (c *XMLImportConfig) KeepSecrets(prev Config) {
	if p, ok := prev.(*XMLImportConfig); ok && c.URLToken == "" && c.URL != "" && serverOf(c.URL) == serverOf(p.URL) {
		c.URLToken = p.URLToken
	}
}

// SecretFields is the URL token.
func (c *XMLImportConfig) SecretFields() []*string { return []*string{&c.URLToken} }

// StoredXMLImport decodes the stored configuration of an XML import task of type name and
// opens its URL token with open.
func StoredXMLImport(name string, raw json.RawMessage, open func(string) (string, error)) (*XMLImportConfig, error) {
	c, err := DecodeStored(name, raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid %s configuration: %w", name, err)
	}
	cfg, ok := c.(*XMLImportConfig)
	if !ok {
		return nil, fmt.Errorf("task type %s is not an XML import", name)
	}
	if cfg.URLToken != "" {
		if cfg.URLToken, err = open(cfg.URLToken); err != nil {
			return nil, fmt.Errorf("the stored URL token cannot be opened: %w", err)
		}
	}
	return cfg, nil
}

// XMLImportPreset is a built-in mapping for a vendor's file format.
type XMLImportPreset struct {
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Mapping     xmlmap.Mapping `json:"mapping"`
}

// XMLPreset returns the preset named name.
func XMLPreset(name string) (XMLImportPreset, bool) {
	for _, p := range xmlPresets {
		if p.Name == name {
			return p, true
		}
	}
	return XMLImportPreset{}, false
}

// XMLPresets returns every preset, by kind and name.
func XMLPresets() []XMLImportPreset {
	out := append([]XMLImportPreset(nil), xmlPresets...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// XMLPresetNames are the names of the presets of kind.
func XMLPresetNames(kind string) []string {
	var out []string
	for _, p := range XMLPresets() {
		if p.Kind == kind {
			out = append(out, p.Name)
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}
