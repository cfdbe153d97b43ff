package tasktype

import (
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
		New: func() Config { return &LiveUpdateConfig{Source: "kev", URL: KEVURL, Mode: "apply"} }})
}

// LiveUpdateConfig configures a Live Update feed.
type LiveUpdateConfig struct {
	// Source is the feed's format: "kev" (CISA Known Exploited Vulnerabilities JSON). Optional;
	// defaults to kev.
	Source string `json:"source" validate:"oneof=kev"`
	// URL is the feed: the publisher's or a mirror's. Optional; defaults to CISA's.
	URL string `json:"url" validate:"required,max=2048"`
	// AllowPlaintextHTTP permits an http:// URL (a local mirror). Optional.
	AllowPlaintextHTTP bool `json:"allow_plaintext_http,omitempty"`
	// APIKey is sent as the "apiKey" header: write-only, sealed. Optional.
	APIKey string `json:"api_key,omitempty" validate:"max=1024"`
	// Mode is "apply" (store the new version) or "check" (report what would change, store
	// nothing). Optional; defaults to apply.
	Mode string `json:"mode" validate:"oneof=apply check"`
}

// Validate checks the URL.
func (c *LiveUpdateConfig) Validate() []valid.FieldError {
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
