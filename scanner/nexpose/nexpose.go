// Package nexpose is a client of the Rapid7 Nexpose / InsightVM API v3 for connectors and the
// scanner import tasks: sites (Discover), the assets of sites or of the console, their
// vulnerability findings with each finding's asset-specific solution, and vulnerability
// definitions (Sync, imports).
//
// Lists are read page by page (0-based page, size at most 500) up to page.totalPages; a 404
// past the first page ends a list, IDs seen twice (the list shifting while it is read) are
// skipped, and 429 and 5xx answers are retried with exponential backoff (Retry-After when the
// server gives one).
package nexpose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/scanner"
)

// Vendor names Nexpose in errors.
const Vendor = "Nexpose"

// MaxPageSize is the largest page the API serves.
const MaxPageSize = 500

// Options configures a Client.
type Options struct {
	// BaseURL is the console's address, such as https://nexpose.example.com:3780. Required.
	BaseURL string
	// Username and Password are the console account's credentials. Required.
	Username string
	Password string
	// HTTPClient makes the requests. Optional; defaults to a client with a 5-minute timeout.
	HTTPClient *http.Client
	// PageSize is the size of list pages, at most 500. Optional; defaults to 500.
	PageSize int
	// MaxRetries bounds the retries of one request after 429, 5xx or a network error.
	// Optional; defaults to 5; negative for none.
	MaxRetries int
	// MaxBodyBytes caps one response body. Optional; defaults to 32 MiB.
	MaxBodyBytes int64
	// Sleep waits for d or until ctx ends. Optional; defaults to a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls one Nexpose console.
type Client struct {
	opts Options
	base *url.URL
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	base, err := scanner.BaseURL("nexpose", opts.BaseURL)
	if err != nil {
		return nil, err
	}
	if opts.Username == "" || opts.Password == "" {
		return nil, errors.New("nexpose: username and password are required")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	}
	if opts.PageSize <= 0 || opts.PageSize > MaxPageSize {
		opts.PageSize = MaxPageSize
	}
	switch {
	case opts.MaxRetries == 0:
		opts.MaxRetries = 5
	case opts.MaxRetries < 0:
		opts.MaxRetries = 0
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	if opts.Sleep == nil {
		opts.Sleep = scanner.Sleep
	}
	return &Client{opts: opts, base: base}, nil
}

type envelope struct {
	Resources []json.RawMessage `json:"resources"`
	Page      *struct {
		Number         *int  `json:"number"`
		Size           int   `json:"size"`
		TotalPages     *int  `json:"totalPages"`
		TotalResources int64 `json:"totalResources"`
	} `json:"page"`
}

// Sites lists the console's sites, calling fn for each.
func (c *Client) Sites(ctx context.Context, fn func(scanner.Product) error) error {
	seen := map[int64]bool{}
	op := "list sites"
	return c.list(ctx, op, "/api/3/sites", func(raw json.RawMessage, page int) error {
		var s struct {
			ID   *int64 `json:"id"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return c.bad(op, page, "resources[]", "%v", err)
		}
		if s.ID == nil {
			return c.bad(op, page, "resources[].id", "missing")
		}
		if seen[*s.ID] {
			return nil
		}
		seen[*s.ID] = true
		id := strconv.FormatInt(*s.ID, 10)
		name := strings.TrimSpace(scanner.Clean(s.Name))
		if name == "" {
			name = "Site " + id
		}
		return fn(scanner.Product{ID: id, Name: name, Kind: "site"})
	})
}

// Probe checks the credentials and the API with one small request: the first site.
func (c *Client) Probe(ctx context.Context) error {
	op := "connection test (list sites)"
	body, err := c.get(ctx, op, 1, "/api/3/sites", url.Values{"page": {"0"}, "size": {"1"}})
	if err != nil {
		return err
	}
	var env envelope
	if err := c.decode(body, &env); err != nil {
		return c.bad(op, 1, "page", "%v", err)
	}
	if env.Page == nil {
		return c.bad(op, 1, "page", "missing: this does not look like the API v3")
	}
	return nil
}

type asset struct {
	ID        *int64   `json:"id"`
	IP        string   `json:"ip"`
	HostName  string   `json:"hostName"`
	OS        string   `json:"os"`
	RiskScore *float64 `json:"riskScore"`
	Addresses []struct {
		IP string `json:"ip"`
	} `json:"addresses"`
	History []struct {
		Type string `json:"type"`
		Date string `json:"date"`
	} `json:"history"`
}

// lastScan is the asset's latest SCAN event in its history, the last time its findings were
// seen; zero when the history holds none.
func (a *asset) lastScan() (time.Time, error) {
	var last time.Time
	for _, h := range a.History {
		if !strings.EqualFold(strings.TrimSpace(h.Type), "SCAN") {
			continue
		}
		t, err := scanner.ParseTime(h.Date)
		if err != nil {
			return time.Time{}, err
		}
		if t.After(last) {
			last = t
		}
	}
	return last, nil
}

type result struct {
	Key      string `json:"key"`
	Port     *int32 `json:"port"`
	Protocol string `json:"protocol"`
	Proof    string `json:"proof"`
	Since    string `json:"since"`
	Status   string `json:"status"`
}

type vulnFinding struct {
	ID      string   `json:"id"`
	Since   string   `json:"since"`
	Status  string   `json:"status"`
	Results []result `json:"results"`
}

// Finding statuses (VulnerabilityFinding.status).
const (
	FindingVulnerable   = "vulnerable"
	FindingInvulnerable = "invulnerable"
	FindingNoResults    = "no-results"
)

// resultStatuses maps every AssessmentResult.status of the API v3 to the finding status and
// detection type it stands for.
var resultStatuses = map[string][2]string{
	"vulnerable":         {scanner.StatusOpen, scanner.TypeConfirmed},
	"vulnerable-version": {scanner.StatusOpen, scanner.TypeConfirmed},
	// unknown: the check could not decide; kept open as a potential finding.
	"unknown":                                     {scanner.StatusOpen, scanner.TypePotential},
	"vulnerable-potential":                        {scanner.StatusOpen, scanner.TypePotential},
	"not-vulnerable":                              {scanner.StatusNotVulnerable, scanner.TypeConfirmed},
	"vulnerable-with-exception-applied":           {scanner.StatusRiskAccepted, scanner.TypeConfirmed},
	"vulnerable-version-with-exception-applied":   {scanner.StatusRiskAccepted, scanner.TypeConfirmed},
	"vulnerable-potential-with-exception-applied": {scanner.StatusRiskAccepted, scanner.TypePotential},
}

// Identity is the matching key of a Nexpose finding: the asset ID, the vulnerability ID, the
// port and the protocol of the result, and the result's key where it has one (several results
// on one port, such as two vulnerable packages, differ by key). Addresses and host names are
// not part of it.
func Identity(assetID int64, vulnID string, port int32, hasPort bool, protocol, key string) string {
	p := "-"
	if hasPort {
		p = strconv.Itoa(int(port))
	}
	id := "nexpose:asset=" + strconv.FormatInt(assetID, 10) + ":vuln=" + vulnID + ":port=" + p + ":proto=" + strings.ToLower(protocol)
	if key != "" {
		id += ":key=" + key
	}
	return id
}

// Detections streams the vulnerability findings of every asset of site siteID, one per
// result (port, protocol and key), calling fn for each. Severity and title come from the
// vulnerability's definition (Definitions); the solution is the asset-specific one. Findings
// under an exception, or that Nexpose found invulnerable, are returned with that status. An
// asset removed between the listing and the reading of its findings (404) is skipped and
// noted.
func (c *Client) Detections(ctx context.Context, siteID string, fn func(scanner.Detection) error, notes *scanner.Notes) error {
	return c.AssetDetections(ctx, scanner.Filter{Groups: []string{siteID}}, fn, notes)
}

// AssetDetections streams the findings of the assets f selects (sites and IP ranges; every
// asset of the console when f is empty), as Detections does.
func (c *Client) AssetDetections(ctx context.Context, f scanner.Filter, fn func(scanner.Detection) error, notes *scanner.Notes) error {
	return c.Assets(ctx, f, func(h scanner.Host) error {
		id, _ := strconv.ParseInt(h.VendorID, 10, 64)
		host := h.DNS
		err := c.assetVulns(ctx, id, host, h.IP, h.LastScan, func(d scanner.Detection) error {
			d.Asset = &h
			return fn(d)
		})
		var se *scanner.Error
		if errors.As(err, &se) && se.Kind == scanner.KindNotFound && se.Page == 1 && se.Op == "vulnerabilities of asset "+h.VendorID {
			where := "the console"
			if len(h.Groups) > 0 {
				where = "site " + h.Groups[0]
			}
			notes.Add(fmt.Sprintf("%s: asset %s of %s was removed while it was read (%s); its findings count as not found", Vendor, h.VendorID, where, se.Message))
			return nil
		}
		return err
	})
}

// Assets lists the assets f selects: those of its sites (each once), or of the whole console
// (assets) when it names none, narrowed to its IP ranges.
func (c *Client) Assets(ctx context.Context, f scanner.Filter, fn func(scanner.Host) error) error {
	match, err := scanner.NewIPMatcher(f.IPRanges)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	each := func(op, site string) func(json.RawMessage, int) error {
		return func(raw json.RawMessage, page int) error {
			var a asset
			if err := json.Unmarshal(raw, &a); err != nil {
				return c.bad(op, page, "resources[]", "%v", err)
			}
			if a.ID == nil {
				return c.bad(op, page, "resources[].id", "missing")
			}
			if seen[*a.ID] {
				return nil
			}
			seen[*a.ID] = true
			ip := a.IP
			if ip == "" && len(a.Addresses) > 0 {
				ip = a.Addresses[0].IP
			}
			h := scanner.Host{VendorID: strconv.FormatInt(*a.ID, 10), IP: strings.TrimSpace(scanner.Clean(ip)),
				DNS: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(scanner.Clean(a.HostName)), ".")), OS: strings.TrimSpace(scanner.Clean(a.OS)),
				RiskScore: a.RiskScore}
			if site != "" {
				h.Groups = []string{site}
			}
			if h.LastScan, err = a.lastScan(); err != nil {
				return c.bad(op, page, fmt.Sprintf("resources[id=%d].history[].date", *a.ID), "%v", err)
			}
			if a.RiskScore != nil && (*a.RiskScore < 0 || *a.RiskScore != *a.RiskScore) {
				return c.bad(op, page, fmt.Sprintf("resources[id=%d].riskScore", *a.ID), "%v is not a risk score", *a.RiskScore)
			}
			if !match.Match(h.IP) {
				return nil
			}
			return fn(h)
		}
	}
	if len(f.Groups) == 0 {
		return c.list(ctx, "assets", "/api/3/assets", each("assets", ""))
	}
	for _, site := range f.Groups {
		op := "assets of site " + site
		if err := c.list(ctx, op, "/api/3/sites/"+url.PathEscape(site)+"/assets", each(op, site)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) assetVulns(ctx context.Context, assetID int64, host, ip string, lastScan time.Time, fn func(scanner.Detection) error) error {
	aid := strconv.FormatInt(assetID, 10)
	op := "vulnerabilities of asset " + aid
	seen := map[string]bool{}
	return c.list(ctx, op, "/api/3/assets/"+aid+"/vulnerabilities", func(raw json.RawMessage, page int) error {
		var v vulnFinding
		if err := json.Unmarshal(raw, &v); err != nil {
			return c.bad(op, page, "resources[]", "%v", err)
		}
		v.ID = strings.TrimSpace(scanner.Clean(v.ID))
		if v.ID == "" {
			return c.bad(op, page, "resources[].id", "missing")
		}
		if seen[v.ID] {
			return nil
		}
		seen[v.ID] = true
		el := "resources[id=" + v.ID + "]"
		since, err := scanner.ParseTime(v.Since)
		if err != nil {
			return c.bad(op, page, el+".since", "%v", err)
		}
		fstatus := strings.ToLower(strings.TrimSpace(scanner.Clean(v.Status)))
		status := scanner.StatusOpen
		switch fstatus {
		case FindingVulnerable, "":
		case FindingInvulnerable, FindingNoResults:
			status = scanner.StatusNotVulnerable
		default:
			return c.bad(op, page, el+".status", "unknown status %q (expected vulnerable, invulnerable or no-results)", fstatus)
		}
		solution, solutionHTML, err := c.assetSolution(ctx, aid, v.ID)
		if err != nil {
			return err
		}
		base := scanner.Detection{VendorID: v.ID, AssetVendorID: aid, Host: host, IP: ip, FirstSeen: since, LastSeen: lastScan,
			Status: status, VendorStatus: fstatus, Type: scanner.TypeConfirmed, Solution: solution, SolutionHTML: solutionHTML}
		if len(v.Results) == 0 {
			d := base
			d.Identity = Identity(assetID, v.ID, 0, false, "", "")
			return fn(d)
		}
		done := map[string]bool{}
		for i, r := range v.Results {
			d := base
			rel := fmt.Sprintf("%s.results[%d]", el, i)
			if r.Port != nil {
				if *r.Port < 0 || *r.Port > 65535 {
					return c.bad(op, page, rel+".port", "%d is not a port number", *r.Port)
				}
				d.Port, d.HasPort = *r.Port, true
			}
			rs := strings.ToLower(strings.TrimSpace(scanner.Clean(r.Status)))
			if rs != "" {
				st, ok := resultStatuses[rs]
				if !ok {
					return c.bad(op, page, rel+".status", "unknown result status %q", rs)
				}
				d.Type, d.VendorStatus = st[1], fstatus+"/"+rs
				// The finding's own verdict (invulnerable) wins over an open result.
				if status == scanner.StatusOpen {
					d.Status = st[0]
				}
			}
			if r.Since != "" {
				if d.FirstSeen, err = scanner.ParseTime(r.Since); err != nil {
					return c.bad(op, page, rel+".since", "%v", err)
				}
			}
			d.Protocol = strings.ToLower(strings.TrimSpace(scanner.Clean(r.Protocol)))
			d.Evidence = scanner.HTMLText(r.Proof)
			d.EvidenceHTML = scanner.SanitizeHTML(r.Proof)
			d.Identity = Identity(assetID, v.ID, d.Port, d.HasPort, d.Protocol, strings.TrimSpace(scanner.Clean(r.Key)))
			if done[d.Identity] {
				continue
			}
			done[d.Identity] = true
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Severity maps a Nexpose severity score (0-10) or, without one, its severity label
// (Moderate, Severe, Critical) to the normalised scale.
func Severity(label string, score *float64) (string, bool) {
	if score != nil {
		s := *score
		switch {
		case s < 0 || s > 10:
			return "", false
		case s >= 9:
			return scanner.SeverityCritical, true
		case s >= 7:
			return scanner.SeverityHigh, true
		case s >= 4:
			return scanner.SeverityMedium, true
		case s >= 1:
			return scanner.SeverityLow, true
		}
		return scanner.SeverityInfo, true
	}
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "critical":
		return scanner.SeverityCritical, true
	case "severe":
		return scanner.SeverityHigh, true
	case "moderate":
		return scanner.SeverityMedium, true
	}
	return "", false
}

type definition struct {
	ID            string   `json:"id"`
	Title         string   `json:"title"`
	Severity      string   `json:"severity"`
	SeverityScore *float64 `json:"severityScore"`
	CVEs          []string `json:"cves"`
	Description   text     `json:"description"`
}

// Definitions fetches the vulnerability definitions of ids, calling fn for each. Solutions
// are not part of them: they depend on the asset (Detections reads each finding's own).
func (c *Client) Definitions(ctx context.Context, ids []string, fn func(scanner.Definition) error) error {
	for _, id := range ids {
		op := "vulnerability " + id
		body, err := c.get(ctx, op, 0, "/api/3/vulnerabilities/"+url.PathEscape(id), nil)
		if err != nil {
			return err
		}
		var d definition
		if err := c.decode(body, &d); err != nil {
			return c.bad(op, 0, "vulnerability", "%v", err)
		}
		if strings.TrimSpace(d.ID) != id {
			return c.bad(op, 0, "id", "%q does not match the vulnerability asked for", scanner.Clean(d.ID))
		}
		sev, ok := Severity(d.Severity, d.SeverityScore)
		if !ok {
			return c.bad(op, 0, "severity", "unknown severity %q (score %s)", scanner.Clean(d.Severity), scoreText(d.SeverityScore))
		}
		title := strings.TrimSpace(scanner.HTMLText(d.Title))
		if title == "" {
			return c.bad(op, 0, "title", "missing")
		}
		vs := strings.TrimSpace(scanner.Clean(d.Severity))
		if d.SeverityScore != nil {
			vs = fmt.Sprintf("%s (%s)", vs, scoreText(d.SeverityScore))
		}
		cves := make([]string, 0, len(d.CVEs))
		for _, cve := range d.CVEs {
			if cve = strings.TrimSpace(scanner.Clean(cve)); cve != "" {
				cves = append(cves, cve)
			}
		}
		if err := fn(scanner.Definition{VendorID: id, Title: title, Description: d.Description.String(),
			DescriptionHTML: scanner.SanitizeHTML(d.Description.HTML), CVEs: cves, Severity: sev, VendorSeverity: vs}); err != nil {
			return err
		}
	}
	return nil
}

// text is a v3 text with its HTML form.
type text struct {
	Text string `json:"text"`
	HTML string `json:"html"`
}

// String is the readable text: the vendor's text, else its HTML made text.
func (t text) String() string {
	if s := strings.TrimSpace(scanner.Clean(t.Text)); s != "" {
		return s
	}
	return scanner.HTMLText(t.HTML)
}

// MaxSolutions caps the solutions kept per finding.
const MaxSolutions = 5

// assetSolution reads the solutions that apply to vulnerability vid on asset aid
// (assets/{id}/vulnerabilities/{vid}/solution) and joins their summaries and steps, as text
// and as sanitised HTML. None (404) is an empty solution.
func (c *Client) assetSolution(ctx context.Context, aid, vid string) (string, string, error) {
	op := "solution of vulnerability " + vid + " on asset " + aid
	body, err := c.get(ctx, op, 0, "/api/3/assets/"+aid+"/vulnerabilities/"+url.PathEscape(vid)+"/solution", nil)
	if scanner.KindOf(err) == scanner.KindNotFound {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	var sols struct {
		Resources []struct {
			Summary text `json:"summary"`
			Steps   text `json:"steps"`
		} `json:"resources"`
	}
	if err := c.decode(body, &sols); err != nil {
		return "", "", c.bad(op, 0, "resources", "%v", err)
	}
	var parts, htmls []string
	for i, sol := range sols.Resources {
		if i == MaxSolutions {
			parts = append(parts, fmt.Sprintf("(%d more solutions in Nexpose)", len(sols.Resources)-MaxSolutions))
			break
		}
		p := sol.Summary.String()
		if steps := sol.Steps.String(); steps != "" {
			p += "\n" + steps
		}
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
		h := scanner.SanitizeHTML(sol.Summary.HTML) + scanner.SanitizeHTML(sol.Steps.HTML)
		if h != "" {
			htmls = append(htmls, "<div>"+h+"</div>")
		}
	}
	return strings.Join(parts, "\n\n"), strings.Join(htmls, ""), nil
}

func scoreText(s *float64) string {
	if s == nil {
		return "none"
	}
	return strconv.FormatFloat(*s, 'f', -1, 64)
}

func (c *Client) bad(op string, page int, element, format string, args ...any) *scanner.Error {
	return &scanner.Error{Vendor: Vendor, Kind: scanner.KindBadResponse, Op: op, Page: page, Element: element,
		Message: fmt.Sprintf(format, args...)}
}

// list reads every page of path, calling item for each resource.
func (c *Client) list(ctx context.Context, op, path string, item func(json.RawMessage, int) error) error {
	for page := 0; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "size": {strconv.Itoa(c.opts.PageSize)}, "sort": {"id,ASC"}}
		body, err := c.get(ctx, op, page+1, path, q)
		if page > 0 && scanner.KindOf(err) == scanner.KindNotFound {
			return nil // past the end: the list shrank while it was read
		}
		if err != nil {
			return err
		}
		var env envelope
		if err := c.decode(body, &env); err != nil {
			return c.bad(op, page+1, "page", "%v", err)
		}
		if env.Page == nil || env.Page.TotalPages == nil {
			return c.bad(op, page+1, "page.totalPages", "missing")
		}
		for _, r := range env.Resources {
			if err := item(r, page+1); err != nil {
				return err
			}
		}
		if page+1 >= *env.Page.TotalPages || len(env.Resources) == 0 {
			return nil
		}
	}
}

// decode reads one JSON body of at most MaxBodyBytes into v.
func (c *Client) decode(body io.ReadCloser, v any) error {
	defer body.Close()
	lr := &io.LimitedReader{R: body, N: c.opts.MaxBodyBytes + 1}
	dec := json.NewDecoder(lr)
	if err := dec.Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("the body is larger than %d bytes", c.opts.MaxBodyBytes)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return errors.New("the JSON body ends early: it is truncated")
		}
		return fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON body")
	}
	return nil
}

// get makes one GET, retrying 429, 5xx and network errors with backoff, and returns the body
// of a 200.
func (c *Client) get(ctx context.Context, op string, page int, path string, q url.Values) (io.ReadCloser, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	fail := func(kind scanner.ErrorKind, status int, msg string) error {
		return &scanner.Error{Vendor: Vendor, Kind: kind, Op: op, Page: page, Status: status, Message: msg}
	}
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fail(scanner.KindRejected, 0, err.Error())
		}
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
		req.Header.Set("Accept", "application/json;charset=UTF-8")
		resp, err := c.opts.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt >= c.opts.MaxRetries {
				return nil, fail(scanner.KindUnavailable, 0, scanner.TransportMessage(err))
			}
			if err := c.opts.Sleep(ctx, backoff); err != nil {
				return nil, err
			}
			backoff *= 2
			continue
		}
		if resp.StatusCode == http.StatusOK {
			return resp.Body, nil
		}
		var e struct {
			Message string `json:"message"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		_ = json.Unmarshal(raw, &e)
		msg := strings.TrimSpace(e.Message)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			kind := scanner.KindUnavailable
			if resp.StatusCode == http.StatusTooManyRequests {
				kind = scanner.KindRateLimited
			}
			if attempt >= c.opts.MaxRetries {
				return nil, fail(kind, resp.StatusCode, msg)
			}
			wait := backoff
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			if err := c.opts.Sleep(ctx, wait); err != nil {
				return nil, err
			}
			backoff *= 2
			continue
		}
		return nil, fail(scanner.FinalKind(resp.StatusCode), resp.StatusCode, msg)
	}
}
