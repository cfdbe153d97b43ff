package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// ErrNVD is wrapped by every problem of an NVD CVE API 2.0 answer (or data feed file).
var ErrNVD = errors.New("not a valid NVD CVE API 2.0 answer")

func nvdError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNVD, fmt.Sprintf(format, args...))
}

// NVDPage is the header of one answer of the CVE API 2.0 (a page), or of an NVD JSON 2.0
// data feed file, which has the same shape.
type NVDPage struct {
	ResultsPerPage int
	StartIndex     int
	TotalResults   int
	Format         string
	Version        string
	Timestamp      time.Time
	// Count is how many vulnerabilities the page held.
	Count int
}

// NVDCVE is one CVE as the NVD describes it, reduced to what the catalogue uses.
type NVDCVE struct {
	ID               string
	SourceIdentifier string
	Published        time.Time
	LastModified     time.Time
	// VulnStatus: Received, Awaiting Analysis, Undergoing Analysis, Analyzed, Modified,
	// Deferred or Rejected.
	VulnStatus  string
	Description string
	// CVSS holds every score, newest CVSS version first.
	CVSS       []CVSS
	CWEs       []string
	References []string
}

// CVSS is one score of a CVE by one source.
type CVSS struct {
	Version  string  `json:"version"`
	Source   string  `json:"source"`
	Type     string  `json:"type"`
	Vector   string  `json:"vector"`
	Score    float64 `json:"score"`
	Severity string  `json:"severity"`
}

// Best is the score to show: of the newest CVSS version the CVE has, the NVD's own
// (Primary) before another source's; nil when the CVE has none.
func (c *NVDCVE) Best() *CVSS {
	if len(c.CVSS) == 0 {
		return nil
	}
	for i := range c.CVSS {
		if c.CVSS[i].Version != c.CVSS[0].Version {
			break
		}
		if c.CVSS[i].Type == "Primary" {
			return &c.CVSS[i]
		}
	}
	return &c.CVSS[0]
}

// MaxNVDPage caps the vulnerabilities of one document (a data feed file of a year holds
// about 40,000).
const MaxNVDPage = 500_000

// ParseNVD reads one answer as a stream, calling fn with each checked CVE, and returns its
// header. A CVE listed twice in one answer is refused.
func ParseNVD(r io.Reader, fn func(NVDCVE) error) (NVDPage, error) {
	var p NVDPage
	d := json.NewDecoder(r)
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return p, nvdError("the document is not a JSON object")
	}
	seen := map[string]bool{}
	haveList := false
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return p, nvdError("%v", err)
		}
		key, _ := tok.(string)
		switch key {
		case "resultsPerPage":
			err = d.Decode(&p.ResultsPerPage)
		case "startIndex":
			err = d.Decode(&p.StartIndex)
		case "totalResults":
			err = d.Decode(&p.TotalResults)
		case "format":
			err = d.Decode(&p.Format)
		case "version":
			err = d.Decode(&p.Version)
		case "timestamp":
			var s string
			if err = d.Decode(&s); err == nil {
				if p.Timestamp, err = NVDTime(s); err != nil {
					return p, nvdError("timestamp %q is not a date-time", s)
				}
			}
		case "vulnerabilities":
			haveList = true
			if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
				return p, nvdError("vulnerabilities is not an array")
			}
			for d.More() {
				var w struct {
					CVE *nvdCVE `json:"cve"`
				}
				if err := d.Decode(&w); err != nil {
					return p, nvdError("vulnerabilities[%d]: %v", p.Count, err)
				}
				if w.CVE == nil {
					return p, nvdError("vulnerabilities[%d]: cve is missing", p.Count)
				}
				c, err := w.CVE.check()
				if err != nil {
					return p, nvdError("vulnerabilities[%d].cve.%v", p.Count, err)
				}
				if seen[c.ID] {
					return p, nvdError("vulnerabilities[%d].cve.id: %s is listed twice", p.Count, c.ID)
				}
				seen[c.ID] = true
				if p.Count++; p.Count > MaxNVDPage {
					return p, nvdError("more than %d vulnerabilities in one document", MaxNVDPage)
				}
				if err := fn(c); err != nil {
					return p, err
				}
			}
			if _, err := d.Token(); err != nil {
				return p, nvdError("vulnerabilities: %v", err)
			}
		default:
			var skip json.RawMessage
			err = d.Decode(&skip)
		}
		if err != nil {
			return p, nvdError("%s: %v", key, err)
		}
	}
	if _, err := d.Token(); err != nil {
		return p, nvdError("%v", err)
	}
	switch {
	case p.Format != "" && p.Format != "NVD_CVE":
		return p, nvdError("format is %q, not NVD_CVE (a CPE or another answer?)", p.Format)
	case p.Version != "" && p.Version != "2.0":
		return p, nvdError("version is %q; only the CVE API 2.0 format is read", p.Version)
	case !haveList:
		return p, nvdError("vulnerabilities is missing")
	case p.StartIndex < 0 || p.TotalResults < 0 || p.ResultsPerPage < 0:
		return p, nvdError("startIndex, resultsPerPage and totalResults must not be negative")
	case p.Count > p.TotalResults && p.TotalResults > 0:
		return p, nvdError("the page lists %d vulnerabilities, more than totalResults (%d)", p.Count, p.TotalResults)
	}
	return p, nil
}

// NVDTime reads the NVD's date-times: ISO 8601 in UTC, usually without a zone
// ("2024-03-29T17:15:21.577").
func NVDTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999Z07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date-time", s)
}

type nvdLangString struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

type nvdMetric struct {
	Source   string `json:"source"`
	Type     string `json:"type"`
	CVSSData struct {
		Version      string   `json:"version"`
		VectorString string   `json:"vectorString"`
		BaseScore    *float64 `json:"baseScore"`
		BaseSeverity string   `json:"baseSeverity"`
	} `json:"cvssData"`
	BaseSeverity string `json:"baseSeverity"` // CVSS v2 keeps it beside cvssData
}

type nvdCVE struct {
	ID               string          `json:"id"`
	SourceIdentifier string          `json:"sourceIdentifier"`
	Published        string          `json:"published"`
	LastModified     string          `json:"lastModified"`
	VulnStatus       string          `json:"vulnStatus"`
	Descriptions     []nvdLangString `json:"descriptions"`
	Metrics          struct {
		V40 []nvdMetric `json:"cvssMetricV40"`
		V31 []nvdMetric `json:"cvssMetricV31"`
		V30 []nvdMetric `json:"cvssMetricV30"`
		V2  []nvdMetric `json:"cvssMetricV2"`
	} `json:"metrics"`
	Weaknesses []struct {
		Source      string          `json:"source"`
		Type        string          `json:"type"`
		Description []nvdLangString `json:"description"`
	} `json:"weaknesses"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
}

var nvdStatuses = map[string]bool{"Received": true, "Awaiting Analysis": true, "Undergoing Analysis": true, "Analyzed": true,
	"Modified": true, "Deferred": true, "Rejected": true}

// MaxNVDReferences caps the references kept per CVE (some list hundreds).
const MaxNVDReferences = 50

func (c *nvdCVE) check() (NVDCVE, error) {
	out := NVDCVE{ID: strings.TrimSpace(c.ID), SourceIdentifier: c.SourceIdentifier, VulnStatus: c.VulnStatus}
	if !cveID.MatchString(out.ID) {
		return out, fmt.Errorf("id: %q is not a CVE ID", c.ID)
	}
	var err error
	if out.Published, err = NVDTime(c.Published); err != nil {
		return out, fmt.Errorf("published (%s): %v", out.ID, err)
	}
	if out.LastModified, err = NVDTime(c.LastModified); err != nil {
		return out, fmt.Errorf("lastModified (%s): %v", out.ID, err)
	}
	if !nvdStatuses[c.VulnStatus] {
		return out, fmt.Errorf("vulnStatus (%s): %q is not an NVD status", out.ID, c.VulnStatus)
	}
	for _, d := range c.Descriptions {
		if d.Lang == "en" && out.Description == "" {
			out.Description = d.Value
		}
	}
	if out.Description == "" && len(c.Descriptions) > 0 {
		out.Description = c.Descriptions[0].Value
	}
	if len(out.Description) > 100_000 || strings.IndexByte(out.Description, 0) >= 0 {
		return out, fmt.Errorf("descriptions (%s): longer than 100,000 bytes or holds NUL", out.ID)
	}
	for _, m := range []struct {
		name, version string
		list          []nvdMetric
	}{{"cvssMetricV40", "4.0", c.Metrics.V40}, {"cvssMetricV31", "3.1", c.Metrics.V31}, {"cvssMetricV30", "3.0", c.Metrics.V30}, {"cvssMetricV2", "2.0", c.Metrics.V2}} {
		for i, x := range m.list {
			where := fmt.Sprintf("metrics.%s[%d] (%s)", m.name, i, out.ID)
			s := x.CVSSData.BaseScore
			if s == nil || math.IsNaN(*s) || *s < 0 || *s > 10 {
				return out, fmt.Errorf("%s.cvssData.baseScore: missing or outside 0–10", where)
			}
			if x.CVSSData.Version != m.version {
				return out, fmt.Errorf("%s.cvssData.version: %q where %s belongs", where, x.CVSSData.Version, m.version)
			}
			sev := x.CVSSData.BaseSeverity
			if m.version == "2.0" {
				sev = x.BaseSeverity
			}
			switch sev {
			case "NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL":
			case "":
				sev = severityOf(*s, m.version)
			default:
				return out, fmt.Errorf("%s: baseSeverity %q is not a CVSS rating", where, sev)
			}
			if x.Type != "Primary" && x.Type != "Secondary" {
				return out, fmt.Errorf("%s.type: %q is neither Primary nor Secondary", where, x.Type)
			}
			out.CVSS = append(out.CVSS, CVSS{Version: m.version, Source: x.Source, Type: x.Type, Vector: x.CVSSData.VectorString,
				Score: math.Round(*s*10) / 10, Severity: sev})
		}
	}
	for _, w := range c.Weaknesses {
		for _, d := range w.Description {
			if cweID.MatchString(d.Value) && !slices.Contains(out.CWEs, d.Value) {
				out.CWEs = append(out.CWEs, d.Value)
			}
		}
	}
	for _, r := range c.References {
		if len(out.References) < MaxNVDReferences && r.URL != "" && len(r.URL) <= 2048 {
			out.References = append(out.References, r.URL)
		}
	}
	return out, nil
}

// severityOf rates a score as CVSS does (v2 has no Critical).
func severityOf(score float64, version string) string {
	switch {
	case score == 0 && version != "2.0":
		return "NONE"
	case score < 4:
		return "LOW"
	case score < 7:
		return "MEDIUM"
	case score < 9 || version == "2.0":
		return "HIGH"
	}
	return "CRITICAL"
}
