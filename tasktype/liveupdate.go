package tasktype

import (
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/valid"
)

// LiveUpdate is the Live Update Service task type.
const LiveUpdate = "live_update"

// ActivityLiveUpdate executes a run of the type.
const ActivityLiveUpdate = "UpdateContent"

// KEVURL is CISA's published Known Exploited Vulnerabilities catalogue.
const KEVURL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"

func init() {
	Register(Type{Name: LiveUpdate, Activity: ActivityLiveUpdate, Title: "Live Update Service",
		Description: "Checks a content feed for a new version (conditional requests: an unchanged feed is a run with nothing to do) and, in " +
			"apply mode, stores it as a new content version in one transaction: the CISA Known Exploited Vulnerabilities catalogue marks " +
			"the catalogue's vulnerabilities of those CVEs. Check mode reports what would change.",
		New: func() Config { return &LiveUpdateConfig{Source: "kev", Mode: "apply"} }})
}

// LiveUpdateConfig configures a Live Update feed.
type LiveUpdateConfig struct {
	// Source is the feed's format: "kev" (CISA Known Exploited Vulnerabilities JSON). Optional;
	// defaults to kev.
	Source string `json:"source" validate:"oneof=kev"`
	// URL is the feed: the publisher's or a mirror's. Optional; defaults to CISA's (unless
	// file_id is given).
	URL string `json:"url,omitempty" validate:"max=2048"`
	// FileID imports the feed from a file uploaded with POST /api/v1/files instead (offline
	// mode, for sites without internet access): one of url and file_id.
	FileID *uuid.UUID `json:"file_id,omitempty"`
	// AllowPlaintextHTTP permits an http:// URL (a local mirror). Optional.
	AllowPlaintextHTTP bool `json:"allow_plaintext_http,omitempty"`
	// APIKey is sent as the "apiKey" header: write-only, sealed. Optional.
	APIKey string `json:"api_key,omitempty" validate:"max=1024"`
	// Mode is "apply" (store the new version) or "check" (report what would change, store
	// nothing). Optional; defaults to apply.
	Mode string `json:"mode" validate:"oneof=apply check"`
}

// ApplyDefaults points a feed without a file at the publisher.
func (c *LiveUpdateConfig) ApplyDefaults() {
	if c.URL == "" && c.FileID == nil {
		c.URL = KEVURL
	}
}

// Validate checks the URL, or that a file is given instead.
func (c *LiveUpdateConfig) Validate() []valid.FieldError {
	if c.FileID != nil {
		if c.URL != "" {
			return []valid.FieldError{{Field: "file_id", Message: "give url or file_id, not both"}}
		}
		return nil
	}
	if msg := checkFileURL(c.URL, c.AllowPlaintextHTTP); msg != "" {
		return []valid.FieldError{{Field: "url", Message: msg}}
	}
	return nil
}

// Redacted shows the configuration without its API key.
func (c *LiveUpdateConfig) Redacted() any {
	type shown LiveUpdateConfig
	return struct {
		*shown
		APIKey    string `json:"api_key,omitempty"`
		APIKeySet bool   `json:"api_key_set"`
	}{shown: (*shown)(c), APIKeySet: c.APIKey != ""}
}

// KeepSecrets keeps the stored API key while the feed's server stays.
func (c *LiveUpdateConfig) KeepSecrets(prev Config) {
	if p, ok := prev.(*LiveUpdateConfig); ok && c.APIKey == "" && serverOf(c.URL) == serverOf(p.URL) {
		c.APIKey = p.APIKey
	}
}

// SecretFields is the API key.
func (c *LiveUpdateConfig) SecretFields() []*string { return []*string{&c.APIKey} }
