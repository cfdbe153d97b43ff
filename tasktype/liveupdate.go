package tasktype

import (
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/valid"
)

// LiveUpdate is the Live Update Service task type.
const LiveUpdate = "live_update"

// ActivityLiveUpdate executes a run of the type.
const ActivityLiveUpdate = "UpdateContent"

// The publishers' feeds, each source's default URL.
const (
	// KEVURL is CISA's Known Exploited Vulnerabilities catalogue.
	KEVURL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
	// NVDURL is the NVD's CVE API 2.0.
	NVDURL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
	// ATTACKIndexURL is MITRE's ATT&CK STIX 2.1 collection index.
	ATTACKIndexURL = "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/index.json"
	// OSCALURL is NIST SP 800-53 Rev. 5 as an OSCAL catalog.
	OSCALURL = "https://raw.githubusercontent.com/usnistgov/oscal-content/main/nist.gov/SP800-53/rev5/json/NIST_SP-800-53_rev5_catalog.json"
)

// DefaultATTACKCollection is the collection taken from an ATT&CK collection index.
const DefaultATTACKCollection = "Enterprise ATT&CK"

func init() {
	Register(Type{ConfigSchema: "LiveUpdateConfig", Name: LiveUpdate, Activity: ActivityLiveUpdate, Title: "Live Update Service",
		Description: "Checks a content feed for a new version (conditional requests: an unchanged feed is a run with nothing to do) and, in " +
			"apply mode, stores it as a new content version in one transaction: the CISA Known Exploited Vulnerabilities catalogue marks " +
			"the catalogue's vulnerabilities of those CVEs, the NVD CVE API 2.0 gives them CVSS scores and descriptions (paged, " +
			"incremental, within the NVD's rate limits), MITRE ATT&CK (STIX 2.1) brings threats and NIST OSCAL catalogs controls. " +
			"Check mode reports what would change.",
		New: func() Config { return &LiveUpdateConfig{Source: "kev", Mode: "apply"} }})
}

// LiveUpdateConfig configures a Live Update feed.
type LiveUpdateConfig struct {
	// Source is the feed's format: "kev" (CISA Known Exploited Vulnerabilities JSON), "nvd"
	// (NVD CVE API 2.0, or an NVD JSON 2.0 data feed file), "attack" (MITRE ATT&CK STIX 2.1:
	// a collection index or a bundle) or "oscal" (an OSCAL catalog, such as NIST SP 800-53).
	// Optional; defaults to kev.
	Source string `json:"source" validate:"oneof=kev nvd attack oscal"`
	// URL is the feed: the publisher's or a mirror's. Optional; defaults to the publisher's
	// (unless file_id is given).
	URL string `json:"url,omitempty" validate:"max=2048"`
	// Collection, for attack, names the collection to take from a collection index
	// (index.json: its newest version); empty when url is a bundle itself. Optional; defaults
	// to "Enterprise ATT&CK" with the default url.
	Collection string `json:"collection,omitempty" validate:"max=200"`
	// ChecksumURL is the publisher's SHA-256 of the document (a sha256sum line, or an NVD
	// .meta file's "sha256:" line): a body that does not match applies nothing. Optional; not
	// for nvd's API.
	ChecksumURL string `json:"checksum_url,omitempty" validate:"max=2048"`
	// ResultsPerPage is how many CVEs nvd asks for a page (the API's maximum is 2,000).
	// Optional; defaults to 2,000.
	ResultsPerPage int `json:"results_per_page,omitempty" validate:"omitempty,min=1,max=2000"`
	// RequestsPerWindow and WindowSeconds are the NVD's rate limit: requests in a rolling
	// window. Optional; default 5 per 30 s, or 50 with an api_key (the NVD's published limits).
	RequestsPerWindow int `json:"requests_per_window,omitempty" validate:"omitempty,min=1,max=1000"`
	WindowSeconds     int `json:"window_seconds,omitempty" validate:"omitempty,min=1,max=3600"`
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
		c.URL = map[string]string{"kev": KEVURL, "nvd": NVDURL, "attack": ATTACKIndexURL, "oscal": OSCALURL}[c.Source]
		if c.Source == "attack" && c.Collection == "" {
			c.Collection = DefaultATTACKCollection
		}
	}
	if c.Source == "nvd" {
		if c.ResultsPerPage == 0 {
			c.ResultsPerPage = 2000
		}
		if c.WindowSeconds == 0 {
			c.WindowSeconds = 30
		}
	}
}

// RateLimit is the NVD's limit for this feed: requests per window.
func (c *LiveUpdateConfig) RateLimit() (int, time.Duration) {
	n := c.RequestsPerWindow
	if n == 0 {
		n = 5
		if c.APIKey != "" {
			n = 50
		}
	}
	return n, time.Duration(max(c.WindowSeconds, 1)) * time.Second
}

// Validate checks the URL, or that a file is given instead.
func (c *LiveUpdateConfig) Validate() []valid.FieldError {
	var errs []valid.FieldError
	if c.ChecksumURL != "" {
		if msg := CheckFileURL(c.ChecksumURL, c.AllowPlaintextHTTP); msg != "" {
			errs = append(errs, valid.FieldError{Field: "checksum_url", Message: msg})
		}
		if c.Source == "nvd" && c.FileID == nil {
			errs = append(errs, valid.FieldError{Field: "checksum_url", Message: "the NVD API's pages have no checksum (it is for a data feed file)"})
		}
	}
	if c.Collection != "" && c.Source != "attack" {
		errs = append(errs, valid.FieldError{Field: "collection", Message: "is for the attack source only"})
	}
	if c.FileID != nil {
		if c.URL != "" {
			errs = append(errs, valid.FieldError{Field: "file_id", Message: "give url or file_id, not both"})
		}
		if c.Collection != "" {
			errs = append(errs, valid.FieldError{Field: "collection", Message: "an uploaded file must be the bundle itself"})
		}
		return errs
	}
	if msg := CheckFileURL(c.URL, c.AllowPlaintextHTTP); msg != "" {
		errs = append(errs, valid.FieldError{Field: "url", Message: msg})
	}
	return errs
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
