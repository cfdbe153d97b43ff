// Package feeds parses the public content feeds of the Live Update Service, checking every
// field it relies on against the publisher's format: errors name the item and the field.
package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// KEVCatalog is the header of CISA's Known Exploited Vulnerabilities catalogue
// (known_exploited_vulnerabilities.json).
type KEVCatalog struct {
	Title          string
	CatalogVersion string
	DateReleased   time.Time
	Count          int
}

// KEVEntry is one vulnerability of the catalogue.
type KEVEntry struct {
	CVEID             string   `json:"cveID"`
	VendorProject     string   `json:"vendorProject"`
	Product           string   `json:"product"`
	VulnerabilityName string   `json:"vulnerabilityName"`
	DateAdded         string   `json:"dateAdded"`
	ShortDescription  string   `json:"shortDescription"`
	RequiredAction    string   `json:"requiredAction"`
	DueDate           string   `json:"dueDate"`
	RansomwareUse     string   `json:"knownRansomwareCampaignUse"`
	Notes             string   `json:"notes"`
	CWEs              []string `json:"cwes"`
}

var (
	cveID = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)
	cweID = regexp.MustCompile(`^(CWE-\d+|NVD-CWE-Other|NVD-CWE-noinfo)$`)
)

// ErrKEV is wrapped by every problem of a catalogue.
var ErrKEV = errors.New("not a valid KEV catalogue")

func kevError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrKEV, fmt.Sprintf(format, args...))
}

// MaxKEVEntries caps a catalogue (CISA's holds about 1,500).
const MaxKEVEntries = 100_000

// ParseKEV reads a catalogue as a stream, calling fn with each checked entry; it returns the
// header. The count must match the entries (a cut feed is refused), cveIDs must be unique.
func ParseKEV(r io.Reader, fn func(KEVEntry) error) (KEVCatalog, error) {
	var cat KEVCatalog
	d := json.NewDecoder(r)
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return cat, kevError("the document is not a JSON object")
	}
	seen := map[string]bool{}
	n, haveCount, haveList := 0, false, false
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return cat, kevError("%v", err)
		}
		key, _ := tok.(string)
		switch key {
		case "title":
			err = d.Decode(&cat.Title)
		case "catalogVersion":
			err = d.Decode(&cat.CatalogVersion)
		case "dateReleased":
			var s string
			if err = d.Decode(&s); err == nil {
				if cat.DateReleased, err = time.Parse(time.RFC3339Nano, s); err != nil {
					return cat, kevError("dateReleased %q is not a date-time", s)
				}
			}
		case "count":
			err = d.Decode(&cat.Count)
			haveCount = true
		case "vulnerabilities":
			haveList = true
			if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
				return cat, kevError("vulnerabilities is not an array")
			}
			for d.More() {
				var e KEVEntry
				if err := d.Decode(&e); err != nil {
					return cat, kevError("vulnerabilities[%d]: %v", n, err)
				}
				if err := checkKEV(&e); err != nil {
					return cat, kevError("vulnerabilities[%d].%v", n, err)
				}
				if seen[e.CVEID] {
					return cat, kevError("vulnerabilities[%d].cveID: %s is listed twice", n, e.CVEID)
				}
				seen[e.CVEID] = true
				if n++; n > MaxKEVEntries {
					return cat, kevError("more than %d vulnerabilities", MaxKEVEntries)
				}
				if err := fn(e); err != nil {
					return cat, err
				}
			}
			if _, err := d.Token(); err != nil {
				return cat, kevError("vulnerabilities: %v", err)
			}
		default:
			var skip json.RawMessage
			err = d.Decode(&skip)
		}
		if err != nil {
			return cat, kevError("%s: %v", key, err)
		}
	}
	if _, err := d.Token(); err != nil {
		return cat, kevError("%v", err)
	}
	switch {
	case cat.CatalogVersion == "":
		return cat, kevError("catalogVersion is missing")
	case !haveList:
		return cat, kevError("vulnerabilities is missing")
	case haveCount && cat.Count != n:
		return cat, kevError("count says %d, but the catalogue lists %d (a cut or altered feed)", cat.Count, n)
	}
	return cat, nil
}

// checkKEV checks one entry's fields; the error starts with the field's name.
func checkKEV(e *KEVEntry) error {
	e.CVEID = strings.TrimSpace(e.CVEID)
	if !cveID.MatchString(e.CVEID) {
		return fmt.Errorf("cveID: %q is not a CVE ID", e.CVEID)
	}
	if _, err := time.Parse(time.DateOnly, e.DateAdded); err != nil {
		return fmt.Errorf("dateAdded: %q is not a date (YYYY-MM-DD)", e.DateAdded)
	}
	if e.DueDate != "" {
		if _, err := time.Parse(time.DateOnly, e.DueDate); err != nil {
			return fmt.Errorf("dueDate: %q is not a date (YYYY-MM-DD)", e.DueDate)
		}
	}
	switch e.RansomwareUse {
	case "Known", "Unknown", "":
	default:
		return fmt.Errorf("knownRansomwareCampaignUse: %q is neither Known nor Unknown", e.RansomwareUse)
	}
	for i, c := range e.CWEs {
		if !cweID.MatchString(c) {
			return fmt.Errorf("cwes[%d]: %q is not a CWE ID", i, c)
		}
	}
	for name, v := range map[string]string{"vendorProject": e.VendorProject, "product": e.Product, "vulnerabilityName": e.VulnerabilityName,
		"shortDescription": e.ShortDescription, "requiredAction": e.RequiredAction, "notes": e.Notes} {
		if len(v) > 10_000 || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%s: longer than 10,000 bytes or holds NUL", name)
		}
	}
	return nil
}
