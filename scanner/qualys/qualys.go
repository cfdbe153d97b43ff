// Package qualys is a client of the Qualys VM API v2 for connectors: asset groups
// (Discover), host list detection per asset group (Sync) and the knowledge base.
//
// It follows Qualys's rules for API clients: Basic authentication with X-Requested-With;
// truncated lists are followed through RESPONSE/WARNING/URL until no WARNING is left; the
// X-RateLimit-* headers are honoured before the next call; a 409 is retried only for codes
// 1965 (rate limit) and 1960 (concurrency limit), after the wait the API advises; 400, 401,
// 403, 404 and 413 are never retried. Requests are made one at a time, so the client never
// uses more than one of the account's concurrent calls.
package qualys

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/xmlstream"
)

// Vendor names Qualys in errors.
const Vendor = "Qualys"

// Qualys API paths.
const (
	PathAssetGroups   = "/api/2.0/fo/asset/group/"
	PathDetections    = "/api/2.0/fo/asset/host/vm/detection/"
	PathHosts         = "/api/2.0/fo/asset/host/"
	PathKnowledgeBase = "/api/2.0/fo/knowledge_base/vuln/"
)

// Qualys error codes that the client acts on.
const (
	CodeConcurrencyLimit = "1960"
	CodeRateLimit        = "1965"
	CodeTruncated        = "1980"
	CodeBadLogin         = "2000"
)

// KBChunk is how many QIDs one knowledge-base request asks for.
const KBChunk = 250

// Options configures a Client.
type Options struct {
	// BaseURL is the API server of the account's platform, such as https://qualysapi.qualys.com. Required.
	BaseURL string
	// Username and Password are the API account's credentials. Required.
	Username string
	Password string
	// HTTPClient makes the requests. Optional; defaults to a client with a 10-minute timeout.
	HTTPClient *http.Client
	// TruncationLimit is how many hosts one page of detections holds. Optional; defaults to 1000.
	TruncationLimit int
	// MaxWait caps a single wait that the API asks for (409 with code 1965 or 1960,
	// X-RateLimit-ToWait-Sec). Optional; defaults to 5 minutes. A longer wait fails the call
	// with a rate_limited error, which the caller may retry later.
	MaxWait time.Duration
	// MaxRetries bounds the retries of one request after 409 1960/1965, 5xx or a network
	// error. Optional; defaults to 5; negative for none.
	MaxRetries int
	// MaxElementBytes caps one HOST, VULN or ASSET_GROUP element. Optional; defaults to 8 MiB.
	MaxElementBytes int64
	// RequestedWith is the X-Requested-With header. Optional; defaults to "Tributary".
	RequestedWith string
	// Sleep waits for d or until ctx ends. Optional; defaults to a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// DetectionTypes are the detection TYPEs to import: scanner.TypeConfirmed,
	// scanner.TypePotential, scanner.TypeInfo (information gathered). Optional; defaults to
	// confirmed and potential, as Qualys users expect.
	DetectionTypes []string
}

// DefaultDetectionTypes are the detection types imported when Options.DetectionTypes is empty.
var DefaultDetectionTypes = []string{scanner.TypeConfirmed, scanner.TypePotential}

// Client calls one Qualys account. It is not safe for concurrent use.
type Client struct {
	opts      Options
	base      *url.URL
	notBefore time.Time
	types     map[string]bool
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	base, err := scanner.BaseURL("qualys", opts.BaseURL)
	if err != nil {
		return nil, err
	}
	if opts.Username == "" || opts.Password == "" {
		return nil, errors.New("qualys: username and password are required")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Minute}
	}
	if opts.TruncationLimit <= 0 {
		opts.TruncationLimit = 1000
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 5 * time.Minute
	}
	switch {
	case opts.MaxRetries == 0:
		opts.MaxRetries = 5
	case opts.MaxRetries < 0:
		opts.MaxRetries = 0
	}
	if opts.MaxElementBytes <= 0 {
		opts.MaxElementBytes = 8 << 20
	}
	if opts.RequestedWith == "" {
		opts.RequestedWith = "Tributary"
	}
	if opts.Sleep == nil {
		opts.Sleep = scanner.Sleep
	}
	if len(opts.DetectionTypes) == 0 {
		opts.DetectionTypes = DefaultDetectionTypes
	}
	types := map[string]bool{}
	for _, t := range opts.DetectionTypes {
		if _, ok := detectionTypes[strings.ToLower(t)]; !ok {
			return nil, fmt.Errorf("qualys: unknown detection type %q (expected confirmed, potential or info)", t)
		}
		types[strings.ToLower(t)] = true
	}
	return &Client{opts: opts, base: base, types: types}, nil
}

// detectionTypes maps Qualys's TYPE values to the normalised types.
var detectionTypes = map[string]string{
	"confirmed": scanner.TypeConfirmed, "potential": scanner.TypePotential, "info": scanner.TypeInfo,
}

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// AssetGroups lists the account's asset groups, calling fn for each.
func (c *Client) AssetGroups(ctx context.Context, fn func(scanner.Product) error) error {
	q := url.Values{"action": {"list"}, "truncation_limit": {"1000"}}
	op := "list asset groups"
	return c.pages(ctx, op, c.endpoint(PathAssetGroups, q), "ASSET_GROUP", func(r *xmlstream.Reader, page int) error {
		var g xmlAssetGroup
		if err := g.read(r); err != nil {
			return err
		}
		g.ID = strings.TrimSpace(g.ID)
		if _, err := strconv.ParseUint(g.ID, 10, 64); err != nil {
			return c.bad(op, page, "ASSET_GROUP/ID", "%q is not a numeric ID", g.ID)
		}
		title := strings.TrimSpace(scanner.Clean(g.Title))
		if title == "" {
			title = "Asset group " + g.ID
		}
		return fn(scanner.Product{ID: g.ID, Name: title, Kind: "asset_group"})
	})
}

// Probe checks the credentials and the API with one small request: the first asset group.
func (c *Client) Probe(ctx context.Context) error {
	q := url.Values{"action": {"list"}, "truncation_limit": {"1"}}
	op := "connection test (list asset groups)"
	root, _, err := c.page(ctx, op, 1, c.endpoint(PathAssetGroups, q), "", nil)
	if err != nil {
		return err
	}
	if root != "ASSET_GROUP_LIST_OUTPUT" {
		return &scanner.Error{Vendor: Vendor, Kind: scanner.KindRejected, Op: op, Page: 1, Element: root,
			Message: "the API answered <" + root + "> instead of an asset group list"}
	}
	return nil
}

// The xml tags of the element types below are encoding/xml's reading of each element; the
// read methods are the stream reader's, and the equivalence test holds the two to the same
// fields on every fixture and on fuzzed documents.

type xmlAssetGroup struct {
	ID    string `xml:"ID"`
	Title string `xml:"TITLE"`
}

func (g *xmlAssetGroup) read(r *xmlstream.Reader) error {
	return r.Children(func(name []byte) (err error) {
		switch string(name) {
		case "ID":
			g.ID, err = r.ReadText()
		case "TITLE":
			g.Title, err = r.ReadText()
		}
		return err
	})
}

type xmlHost struct {
	ID         string         `xml:"ID"`
	IP         string         `xml:"IP"`
	IPv6       string         `xml:"IPV6"`
	DNS        string         `xml:"DNS"`
	NetBIOS    string         `xml:"NETBIOS"`
	OS         string         `xml:"OS"`
	LastScan   string         `xml:"LAST_VULN_SCAN_DATETIME"`
	LastScan2  string         `xml:"LAST_SCAN_DATETIME"`
	Groups     string         `xml:"ASSET_GROUP_IDS"`
	Detections []xmlDetection `xml:"DETECTION_LIST>DETECTION"`
}

func (h *xmlHost) read(r *xmlstream.Reader) error {
	return r.Children(func(name []byte) (err error) {
		switch string(name) {
		case "ID":
			h.ID, err = r.ReadText()
		case "IP":
			h.IP, err = r.ReadText()
		case "IPV6":
			h.IPv6, err = r.ReadText()
		case "DNS":
			h.DNS, err = r.ReadText()
		case "NETBIOS":
			h.NetBIOS, err = r.ReadText()
		case "OS":
			h.OS, err = r.ReadText()
		case "LAST_VULN_SCAN_DATETIME":
			h.LastScan, err = r.ReadText()
		case "LAST_SCAN_DATETIME":
			h.LastScan2, err = r.ReadText()
		case "ASSET_GROUP_IDS":
			h.Groups, err = r.ReadText()
		case "DETECTION_LIST":
			err = r.Children(func(name []byte) error {
				if string(name) != "DETECTION" {
					return nil
				}
				h.Detections = append(h.Detections, xmlDetection{})
				return h.Detections[len(h.Detections)-1].read(r)
			})
		}
		return err
	})
}

// host checks and converts the host part of a HOST element.
func (c *Client) host(op string, page int, h *xmlHost) (*scanner.Host, error) {
	id := strings.TrimSpace(h.ID)
	if id == "" {
		return nil, c.bad(op, page, "HOST/ID", "missing")
	}
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, c.bad(op, page, "HOST/ID", "%q is not a numeric ID", scanner.Clean(id))
	}
	ip := strings.TrimSpace(scanner.Clean(h.IP))
	if ip == "" {
		ip = strings.TrimSpace(scanner.Clean(h.IPv6))
	}
	out := &scanner.Host{VendorID: id, IP: ip, DNS: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(scanner.Clean(h.DNS)), ".")),
		NetBIOS: strings.TrimSpace(scanner.Clean(h.NetBIOS)), OS: strings.TrimSpace(scanner.Clean(h.OS))}
	last := h.LastScan
	if strings.TrimSpace(last) == "" {
		last = h.LastScan2
	}
	var err error
	if out.LastScan, err = scanner.ParseTime(last); err != nil {
		return nil, c.bad(op, page, "HOST[ID="+id+"]/LAST_VULN_SCAN_DATETIME", "%v", err)
	}
	for _, g := range strings.Split(h.Groups, ",") {
		if g = strings.TrimSpace(scanner.Clean(g)); g != "" {
			out.Groups = append(out.Groups, g)
		}
	}
	return out, nil
}

// filterParams sets the ips and ag_ids parameters of a filter.
func filterParams(q url.Values, f scanner.Filter) error {
	if len(f.Groups) > 0 {
		q.Set("ag_ids", strings.Join(f.Groups, ","))
	}
	if len(f.IPRanges) > 0 {
		m, err := scanner.NewIPMatcher(f.IPRanges)
		if err != nil {
			return err
		}
		q.Set("ips", m.Param())
	}
	return nil
}

// Hosts lists the hosts of the account's inventory (host list, with truncation followed),
// narrowed by f, calling fn for each.
func (c *Client) Hosts(ctx context.Context, f scanner.Filter, fn func(scanner.Host) error) error {
	q := url.Values{"action": {"list"}, "details": {"All/AGs"}, "truncation_limit": {strconv.Itoa(c.opts.TruncationLimit)}}
	if err := filterParams(q, f); err != nil {
		return err
	}
	return c.hostPages(ctx, "host list", c.endpoint(PathHosts, q), func(h *scanner.Host, _ *xmlHost, _ int) error { return fn(*h) })
}

// hostPages reads every page of a HOST list (host list, host list detection), calling fn with
// each host checked and converted, and its element for the parts only some lists have.
func (c *Client) hostPages(ctx context.Context, op, first string, fn func(h *scanner.Host, x *xmlHost, page int) error) error {
	return c.pages(ctx, op, first, "HOST", func(r *xmlstream.Reader, page int) error {
		var x xmlHost
		if err := x.read(r); err != nil {
			return err
		}
		h, err := c.host(op, page, &x)
		if err != nil {
			return err
		}
		return fn(h, &x, page)
	})
}

type xmlDetection struct {
	UniqueID   string `xml:"UNIQUE_VULN_ID"`
	QID        string `xml:"QID"`
	Type       string `xml:"TYPE"`
	Severity   string `xml:"SEVERITY"`
	Port       string `xml:"PORT"`
	Protocol   string `xml:"PROTOCOL"`
	SSL        string `xml:"SSL"`
	Results    string `xml:"RESULTS"`
	Status     string `xml:"STATUS"`
	FirstFound string `xml:"FIRST_FOUND_DATETIME"`
	LastFound  string `xml:"LAST_FOUND_DATETIME"`
	LastFixed  string `xml:"LAST_FIXED_DATETIME"`
	TimesFound string `xml:"TIMES_FOUND"`
	QDS        string `xml:"QDS"`
	IsIgnored  string `xml:"IS_IGNORED"`
	IsDisabled string `xml:"IS_DISABLED"`
}

func (d *xmlDetection) read(r *xmlstream.Reader) error {
	return r.Children(func(name []byte) (err error) {
		switch string(name) {
		case "UNIQUE_VULN_ID":
			d.UniqueID, err = r.ReadText()
		case "QID":
			d.QID, err = r.ReadText()
		case "TYPE":
			d.Type, err = r.ReadText()
		case "SEVERITY":
			d.Severity, err = r.ReadText()
		case "PORT":
			d.Port, err = r.ReadText()
		case "PROTOCOL":
			d.Protocol, err = r.ReadText()
		case "SSL":
			d.SSL, err = r.ReadText()
		case "RESULTS":
			d.Results, err = r.ReadText()
		case "STATUS":
			d.Status, err = r.ReadText()
		case "FIRST_FOUND_DATETIME":
			d.FirstFound, err = r.ReadText()
		case "LAST_FOUND_DATETIME":
			d.LastFound, err = r.ReadText()
		case "LAST_FIXED_DATETIME":
			d.LastFixed, err = r.ReadText()
		case "TIMES_FOUND":
			d.TimesFound, err = r.ReadText()
		case "QDS":
			d.QDS, err = r.ReadText()
		case "IS_IGNORED":
			d.IsIgnored, err = r.ReadText()
		case "IS_DISABLED":
			d.IsDisabled, err = r.ReadText()
		}
		return err
	})
}

// Severity maps a Qualys severity level (1-5) to the normalised scale.
func Severity(level string) (string, bool) {
	switch strings.TrimSpace(level) {
	case "5":
		return scanner.SeverityCritical, true
	case "4":
		return scanner.SeverityHigh, true
	case "3":
		return scanner.SeverityMedium, true
	case "2":
		return scanner.SeverityLow, true
	case "1":
		return scanner.SeverityInfo, true
	}
	return "", false
}

// Identity is the matching key of a Qualys detection: the host's Qualys ID, the QID, the
// port, the protocol and whether it was found over SSL. Qualys itself tells detections apart
// by these fields; IP addresses and DNS names are not part of it, because they change.
func Identity(hostID, qid string, port int32, hasPort bool, protocol, ssl string) string {
	p := "-"
	if hasPort {
		p = strconv.Itoa(int(port))
	}
	return "qualys:host=" + hostID + ":qid=" + qid + ":port=" + p + ":proto=" + strings.ToLower(protocol) + ":ssl=" + ssl
}

// Detection statuses as Qualys writes them.
const (
	StatusNew      = "New"
	StatusActive   = "Active"
	StatusReOpened = "Re-Opened"
	StatusFixed    = "Fixed"
)

// Detections streams the current detections of the hosts in asset group agID, calling fn for
// each detection of an imported type (Options.DetectionTypes). Qualys is asked for New,
// Active and Re-Opened detections; a Fixed one that it returns all the same is skipped, so
// that the reimport closes its finding. Ignored and disabled detections are returned with
// status risk_accepted.
func (c *Client) Detections(ctx context.Context, agID string, fn func(scanner.Detection) error) error {
	return c.detections(ctx, "host detections of asset group "+agID, scanner.Filter{Groups: []string{agID}}, fn)
}

// HostDetections streams the current detections of the hosts that f selects (the whole
// inventory when f is empty), as Detections does.
func (c *Client) HostDetections(ctx context.Context, f scanner.Filter, fn func(scanner.Detection) error) error {
	return c.detections(ctx, "host detections", f, fn)
}

func (c *Client) detections(ctx context.Context, op string, f scanner.Filter, fn func(scanner.Detection) error) error {
	q := url.Values{
		"action": {"list"}, "show_results": {"1"}, "status": {"New,Active,Re-Opened"},
		"truncation_limit": {strconv.Itoa(c.opts.TruncationLimit)}, "output_format": {"XML"},
	}
	if err := filterParams(q, f); err != nil {
		return err
	}
	if c.types[scanner.TypeInfo] {
		q.Set("show_igs", "1")
	}
	return c.hostPages(ctx, op, c.endpoint(PathDetections, q), func(h *scanner.Host, x *xmlHost, page int) error {
		host := h.DNS
		if host == "" {
			host = h.NetBIOS
		}
		for i := range x.Detections {
			det, keep, err := c.detection(op, page, h.VendorID, host, h.IP, &x.Detections[i])
			if err != nil {
				return err
			}
			if !keep {
				continue
			}
			det.Asset = h
			if err := fn(det); err != nil {
				return err
			}
		}
		return nil
	})
}

// optInt reads an optional non-negative number element.
func optInt(s string) (*int32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q is not a count", s)
	}
	v := int32(n)
	return &v, nil
}

// detection converts one DETECTION; keep is false for a type that is not imported or a
// Fixed detection.
func (c *Client) detection(op string, page int, hostID, host, ip string, x *xmlDetection) (d scanner.Detection, keep bool, err error) {
	el := "HOST[ID=" + hostID + "]/DETECTION"
	qid := strings.TrimSpace(x.QID)
	if qid == "" {
		return d, false, c.bad(op, page, el+"/QID", "missing")
	}
	if _, err := strconv.ParseUint(qid, 10, 64); err != nil {
		return d, false, c.bad(op, page, el+"/QID", "%q is not a numeric QID", qid)
	}
	el = "HOST[ID=" + hostID + "]/DETECTION[QID=" + qid + "]"
	typ, ok := detectionTypes[strings.ToLower(strings.TrimSpace(x.Type))]
	if !ok {
		if strings.TrimSpace(x.Type) == "" {
			return d, false, c.bad(op, page, el+"/TYPE", "missing")
		}
		return d, false, c.bad(op, page, el+"/TYPE", "unknown type %q (expected Confirmed, Potential or Info)", scanner.Clean(x.Type))
	}
	vstatus := strings.TrimSpace(x.Status)
	switch {
	case strings.EqualFold(vstatus, StatusFixed):
		return d, false, nil
	// STATUS is optional in Qualys's DTD: a detection without one is current.
	case vstatus == "", strings.EqualFold(vstatus, StatusNew), strings.EqualFold(vstatus, StatusActive), strings.EqualFold(vstatus, StatusReOpened):
	default:
		return d, false, c.bad(op, page, el+"/STATUS", "unknown status %q (expected New, Active, Re-Opened or Fixed)", scanner.Clean(vstatus))
	}
	if !c.types[typ] {
		return d, false, nil
	}
	sev, ok := Severity(x.Severity)
	if !ok {
		if strings.TrimSpace(x.Severity) == "" {
			return d, false, c.bad(op, page, el+"/SEVERITY", "missing")
		}
		return d, false, c.bad(op, page, el+"/SEVERITY", "unknown severity %q (expected 1 to 5)", scanner.Clean(x.Severity))
	}
	d = scanner.Detection{
		VendorID: qid, AssetVendorID: hostID, Host: host, IP: ip, Protocol: strings.ToLower(strings.TrimSpace(scanner.Clean(x.Protocol))),
		// Qualys writes RESULTS as CDATA whose text still carries HTML entities (&quot;, &gt;).
		Evidence: strings.TrimSpace(html.UnescapeString(scanner.Clean(x.Results))), Severity: sev, VendorSeverity: strings.TrimSpace(x.Severity),
		Type: typ, Status: scanner.StatusOpen, VendorStatus: vstatus, UniqueID: strings.TrimSpace(scanner.Clean(x.UniqueID)),
	}
	if strings.TrimSpace(x.IsIgnored) == "1" || strings.TrimSpace(x.IsDisabled) == "1" {
		d.Status = scanner.StatusRiskAccepted
	}
	if p := strings.TrimSpace(x.Port); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return d, false, c.bad(op, page, el+"/PORT", "%q is not a port number", scanner.Clean(p))
		}
		d.Port, d.HasPort = int32(n), true
	}
	if d.FirstSeen, err = scanner.ParseTime(x.FirstFound); err != nil {
		return d, false, c.bad(op, page, el+"/FIRST_FOUND_DATETIME", "%v", err)
	}
	if d.LastSeen, err = scanner.ParseTime(x.LastFound); err != nil {
		return d, false, c.bad(op, page, el+"/LAST_FOUND_DATETIME", "%v", err)
	}
	if d.LastFixed, err = scanner.ParseTime(x.LastFixed); err != nil {
		return d, false, c.bad(op, page, el+"/LAST_FIXED_DATETIME", "%v", err)
	}
	if d.TimesFound, err = optInt(x.TimesFound); err != nil {
		return d, false, c.bad(op, page, el+"/TIMES_FOUND", "%v", err)
	}
	if d.QDS, err = optInt(x.QDS); err != nil || (d.QDS != nil && *d.QDS > 100) {
		return d, false, c.bad(op, page, el+"/QDS", "%q is not a detection score from 0 to 100", scanner.Clean(strings.TrimSpace(x.QDS)))
	}
	ssl := "0"
	if strings.TrimSpace(x.SSL) == "1" {
		ssl = "1"
	}
	d.Identity = Identity(hostID, qid, d.Port, d.HasPort, d.Protocol, ssl)
	return d, true, nil
}

type xmlVuln struct {
	QID         string   `xml:"QID"`
	Severity    string   `xml:"SEVERITY_LEVEL"`
	Title       string   `xml:"TITLE"`
	CVEs        []string `xml:"CVE_LIST>CVE>ID"`
	Diagnosis   string   `xml:"DIAGNOSIS"`
	Consequence string   `xml:"CONSEQUENCE"`
	Solution    string   `xml:"SOLUTION"`
}

func (v *xmlVuln) read(r *xmlstream.Reader) error {
	return r.Children(func(name []byte) (err error) {
		switch string(name) {
		case "QID":
			v.QID, err = r.ReadText()
		case "SEVERITY_LEVEL":
			v.Severity, err = r.ReadText()
		case "TITLE":
			v.Title, err = r.ReadText()
		case "DIAGNOSIS":
			v.Diagnosis, err = r.ReadText()
		case "CONSEQUENCE":
			v.Consequence, err = r.ReadText()
		case "SOLUTION":
			v.Solution, err = r.ReadText()
		case "CVE_LIST":
			err = r.Children(func(name []byte) error {
				if string(name) != "CVE" {
					return nil
				}
				return r.Children(func(name []byte) error {
					if string(name) != "ID" {
						return nil
					}
					id, err := r.ReadText()
					v.CVEs = append(v.CVEs, id)
					return err
				})
			})
		}
		return err
	})
}

// KnowledgeBase fetches the knowledge-base entries of qids, KBChunk at a time, calling fn for
// each. An entry with an empty TITLE is titled "QID n", and one with an unknown SEVERITY_LEVEL
// has no severity of its own (its detections carry theirs); both are stored and listed in
// notes. Only an entry without a usable QID fails the chunk.
func (c *Client) KnowledgeBase(ctx context.Context, qids []string, fn func(scanner.Definition) error, notes *scanner.Notes) error {
	for start := 0; start < len(qids); start += KBChunk {
		chunk := qids[start:min(start+KBChunk, len(qids))]
		q := url.Values{"action": {"list"}, "details": {"All"}, "ids": {strings.Join(chunk, ",")}}
		op := fmt.Sprintf("knowledge base (QIDs %s to %s)", chunk[0], chunk[len(chunk)-1])
		err := c.pages(ctx, op, c.endpoint(PathKnowledgeBase, q), "VULN", func(r *xmlstream.Reader, page int) error {
			var v xmlVuln
			if err := v.read(r); err != nil {
				return err
			}
			def, err := c.definition(op, page, &v, notes)
			if err != nil {
				return err
			}
			return fn(def)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) definition(op string, page int, v *xmlVuln, notes *scanner.Notes) (scanner.Definition, error) {
	qid := strings.TrimSpace(v.QID)
	if _, err := strconv.ParseUint(qid, 10, 64); err != nil {
		return scanner.Definition{}, c.bad(op, page, "VULN/QID", "%q is not a numeric QID", scanner.Clean(v.QID))
	}
	el := "VULN[QID=" + qid + "]"
	sev, ok := Severity(v.Severity)
	vs := strings.TrimSpace(scanner.Clean(v.Severity))
	if !ok {
		notes.Add(fmt.Sprintf("%s: %s, element %s/SEVERITY_LEVEL: unknown severity %q (expected 1 to 5); the detections' own severity is used",
			Vendor, op, el, vs))
	}
	title := strings.TrimSpace(scanner.HTMLText(v.Title))
	if title == "" {
		title = "QID " + qid
		notes.Add(fmt.Sprintf("%s: %s, element %s/TITLE: empty; stored as %q", Vendor, op, el, title))
	}
	desc := scanner.HTMLText(v.Diagnosis)
	descHTML := scanner.SanitizeHTML(v.Diagnosis)
	if cons := scanner.HTMLText(v.Consequence); cons != "" {
		desc += "\n\nConsequence: " + cons
		descHTML += "<h4>Consequence</h4>" + scanner.SanitizeHTML(v.Consequence)
	}
	def := scanner.Definition{VendorID: qid, Title: title, Description: strings.TrimSpace(desc), DescriptionHTML: descHTML,
		Solution: scanner.HTMLText(v.Solution), SolutionHTML: scanner.SanitizeHTML(v.Solution), Severity: sev, VendorSeverity: vs}
	for _, cve := range v.CVEs {
		if cve = strings.TrimSpace(scanner.Clean(cve)); cve != "" {
			def.CVEs = append(def.CVEs, cve)
		}
	}
	return def, nil
}

// readKind classifies a failure to parse a response: the connection failing mid-body (the
// body cut short, reset) is worth another attempt; a document that is wrong is not.
func readKind(err error) scanner.ErrorKind {
	var se *xmlstream.SourceError
	if errors.As(err, &se) {
		return scanner.KindUnavailable
	}
	return scanner.KindBadResponse
}

func (c *Client) bad(op string, page int, element, format string, args ...any) *scanner.Error {
	return &scanner.Error{Vendor: Vendor, Kind: scanner.KindBadResponse, Op: op, Page: page, Element: element,
		Message: fmt.Sprintf(format, args...)}
}

type xmlWarning struct {
	Code string `xml:"CODE"`
	Text string `xml:"TEXT"`
	URL  string `xml:"URL"`
}

func (w *xmlWarning) read(r *xmlstream.Reader) error {
	return r.Children(func(name []byte) (err error) {
		switch string(name) {
		case "CODE":
			w.Code, err = r.ReadText()
		case "TEXT":
			w.Text, err = r.ReadText()
		case "URL":
			w.URL, err = r.ReadText()
		}
		return err
	})
}

// listPage is what a page of a list says besides its items.
type listPage struct {
	// Root is the document's root element.
	Root string
	// Warning is the RESPONSE/WARNING of a truncated (or refused) list.
	Warning *xmlWarning
	// Code and Text are a SIMPLE_RETURN's.
	Code, Text string
}

// parseList streams one page of a list, calling item for each element named itemName (none
// when itemName is ""); item reads the element with r.
func parseList(body io.Reader, maxElement int64, itemName string, item func(r *xmlstream.Reader) error) (listPage, error) {
	var p listPage
	r := xmlstream.NewReader(body, xmlstream.Options{MaxElementBytes: maxElement})
	handlers := map[string]func() error{
		"WARNING": func() error {
			p.Warning = &xmlWarning{}
			return p.Warning.read(r)
		},
		// Lists consume their items whole, so a CODE or TEXT seen here is a SIMPLE_RETURN's.
		"CODE": func() (err error) { p.Code, err = r.ReadText(); return err },
		"TEXT": func() (err error) { p.Text, err = r.ReadText(); return err },
	}
	if itemName != "" {
		handlers[itemName] = func() error { return item(r) }
	}
	var err error
	p.Root, err = r.Walk(handlers)
	return p, err
}

// pages fetches first and every page its WARNING/URL points to, calling item for each
// element named itemName; item must consume the element.
func (c *Client) pages(ctx context.Context, op, first, itemName string, item func(*xmlstream.Reader, int) error) error {
	next, seen := first, map[string]bool{}
	for page := 1; next != ""; page++ {
		if seen[next] {
			return &scanner.Error{Vendor: Vendor, Kind: scanner.KindBadResponse, Op: op, Page: page, Element: "WARNING/URL",
				Message: "points back to a page already read"}
		}
		seen[next] = true
		var err error
		if _, next, err = c.page(ctx, op, page, next, itemName, item); err != nil {
			return err
		}
	}
	return nil
}

// page fetches one page and calls item for each element named itemName (none when itemName
// is ""). It returns the document's root element and the next page's URL ("" when the list
// is complete). A SIMPLE_RETURN, even with HTTP 200, is a classified error with Qualys's code
// and text.
func (c *Client) page(ctx context.Context, op string, page int, target, itemName string, item func(*xmlstream.Reader, int) error) (root, next string, err error) {
	body, err := c.get(ctx, op, page, target)
	if err != nil {
		return "", "", err
	}
	defer body.Close()
	p, err := parseList(body, c.opts.MaxElementBytes, itemName, func(r *xmlstream.Reader) error { return item(r, page) })
	if err != nil {
		var se *scanner.Error
		if errors.As(err, &se) {
			return p.Root, "", err
		}
		return p.Root, "", &scanner.Error{Vendor: Vendor, Kind: readKind(err), Op: op, Page: page, Element: p.Root, Message: err.Error()}
	}
	if p.Root == "SIMPLE_RETURN" {
		code, text := strings.TrimSpace(scanner.Clean(p.Code)), strings.TrimSpace(scanner.Clean(p.Text))
		kind, msg := classify(http.StatusOK, code, text)
		return p.Root, "", &scanner.Error{Vendor: Vendor, Kind: kind, Op: op, Page: page, Status: http.StatusOK, Code: code, Message: msg}
	}
	if p.Warning == nil {
		return p.Root, "", nil
	}
	if wc := strings.TrimSpace(p.Warning.Code); wc != CodeTruncated {
		return p.Root, "", &scanner.Error{Vendor: Vendor, Kind: scanner.KindRejected, Op: op, Page: page, Code: scanner.Clean(wc),
			Message: strings.TrimSpace(scanner.Clean(p.Warning.Text))}
	}
	u, err := c.sameServer(strings.TrimSpace(p.Warning.URL))
	if err != nil {
		return p.Root, "", &scanner.Error{Vendor: Vendor, Kind: scanner.KindBadResponse, Op: op, Page: page, Element: "WARNING/URL", Message: err.Error()}
	}
	return p.Root, u, nil
}

// Account and login codes: Qualys answers them for a user that cannot use the API at all.
const (
	CodeAccountExpired = "2001"
	CodeAccountLocked  = "2002"
)

// classify turns a final Qualys answer (status, CODE, TEXT) into an error kind and a message
// that keeps Qualys's own words. Codes 2000-2099 are about the account or its login: a wrong
// password, an expired or locked account, or a user whose role lacks API access (Qualys
// answers such a user "Bad Login/Password" too).
func classify(status int, code, text string) (scanner.ErrorKind, string) {
	if text == "" {
		text = http.StatusText(status)
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 2000 && n < 2100 {
		switch code {
		case CodeBadLogin:
			return scanner.KindBadCredentials, text + " (check the username, the password and the API server of the account's platform; " +
				"a Qualys user without the API access permission in its role gets this answer too)"
		case CodeAccountExpired, CodeAccountLocked:
			return scanner.KindBadCredentials, text + " (the Qualys account cannot log in: a Qualys administrator must renew or unlock it)"
		}
		return scanner.KindBadCredentials, text + " (the Qualys account cannot use the API: the Qualys user needs the API access permission in its role)"
	}
	if status == http.StatusOK {
		return scanner.KindRejected, text
	}
	return scanner.FinalKind(status), text
}

// sameServer checks that a WARNING URL points at the configured server, so that credentials
// are never sent elsewhere.
func (c *Client) sameServer(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("missing: a truncated list must say where the next page is")
	}
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Host, c.base.Host) || u.Scheme != c.base.Scheme {
		return "", fmt.Errorf("%q is not on the configured server %s", raw, c.base.Host)
	}
	return u.String(), nil
}

type simpleReturn struct {
	Code  string       `xml:"RESPONSE>CODE"`
	Text  string       `xml:"RESPONSE>TEXT"`
	Items []simpleItem `xml:"RESPONSE>ITEM_LIST>ITEM"`
}

type simpleItem struct {
	Key   string `xml:"KEY"`
	Value string `xml:"VALUE"`
}

// readSimpleReturn reads what it can of an error body (a v2 SIMPLE_RETURN or a v1 ERROR);
// a malformed body leaves the fields read before the fault (the status code is the answer then).
func readSimpleReturn(body io.Reader) simpleReturn {
	var sr simpleReturn
	r := xmlstream.NewReader(body, xmlstream.Options{})
	for {
		k, err := r.Next()
		if err != nil || k == xmlstream.EOF {
			return sr
		}
		if k == xmlstream.StartElement {
			break
		}
	}
	// API v1 (the ticket list) answers <ERROR number="…">text</ERROR>.
	if string(r.Local()) == "ERROR" {
		v, _ := r.Attr("number")
		sr.Code = string(v)
		sr.Text, _ = r.ReadText()
		return sr
	}
	_ = r.Children(func(name []byte) error {
		if string(name) != "RESPONSE" {
			return nil
		}
		return r.Children(func(name []byte) (err error) {
			switch string(name) {
			case "CODE":
				sr.Code, err = r.ReadText()
			case "TEXT":
				sr.Text, err = r.ReadText()
			case "ITEM_LIST":
				err = r.Children(func(name []byte) error {
					if string(name) != "ITEM" {
						return nil
					}
					var it simpleItem
					err := r.Children(func(name []byte) (err error) {
						switch string(name) {
						case "KEY":
							it.Key, err = r.ReadText()
						case "VALUE":
							it.Value, err = r.ReadText()
						}
						return err
					})
					sr.Items = append(sr.Items, it)
					return err
				})
			}
			return err
		})
	})
	return sr
}

func (s *simpleReturn) item(key string) string {
	for _, it := range s.Items {
		if strings.EqualFold(strings.TrimSpace(it.Key), key) {
			return strings.TrimSpace(it.Value)
		}
	}
	return ""
}

// get makes one GET, waiting and retrying as the API asks, and returns the body of a 200.
func (c *Client) get(ctx context.Context, op string, page int, target string) (io.ReadCloser, error) {
	fail := func(kind scanner.ErrorKind, status int, code, msg string) error {
		return &scanner.Error{Vendor: Vendor, Kind: kind, Op: op, Page: page, Status: status, Code: code, Message: msg}
	}
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		if wait := time.Until(c.notBefore); wait > 0 {
			if wait > c.opts.MaxWait {
				return nil, fail(scanner.KindRateLimited, 0, "", fmt.Sprintf("the rate limit asks to wait %s, longer than %s", wait.Round(time.Second), c.opts.MaxWait))
			}
			if err := c.opts.Sleep(ctx, wait); err != nil {
				return nil, err
			}
			c.notBefore = time.Time{}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, fail(scanner.KindRejected, 0, "", err.Error())
		}
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
		req.Header.Set("X-Requested-With", c.opts.RequestedWith)
		resp, err := c.opts.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt >= c.opts.MaxRetries {
				return nil, fail(scanner.KindUnavailable, 0, "", scanner.TransportMessage(err))
			}
			if err := c.opts.Sleep(ctx, backoff); err != nil {
				return nil, err
			}
			backoff *= 2
			continue
		}
		c.noteRateHeaders(resp.Header)
		if resp.StatusCode == http.StatusOK {
			return resp.Body, nil
		}
		sr := readSimpleReturn(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code, text := strings.TrimSpace(scanner.Clean(sr.Code)), strings.TrimSpace(scanner.Clean(sr.Text))
		if text == "" {
			text = http.StatusText(resp.StatusCode)
		}
		switch {
		case resp.StatusCode == http.StatusConflict && (code == CodeRateLimit || code == CodeConcurrencyLimit):
			wait := time.Duration(0)
			if n, err := strconv.Atoi(sr.item("SECONDS_TO_WAIT")); err == nil && n >= 0 {
				wait = time.Duration(n) * time.Second
			} else if n, err := strconv.Atoi(resp.Header.Get("X-RateLimit-ToWait-Sec")); err == nil && n > 0 {
				wait = time.Duration(n) * time.Second
			} else if code == CodeConcurrencyLimit {
				wait = backoff
				backoff *= 2
			}
			if wait > c.opts.MaxWait {
				return nil, fail(scanner.KindRateLimited, resp.StatusCode, code, fmt.Sprintf("%s (the API asks to wait %s, longer than %s)", text, wait, c.opts.MaxWait))
			}
			if attempt >= c.opts.MaxRetries {
				return nil, fail(scanner.KindRateLimited, resp.StatusCode, code, text+" (still limited after "+strconv.Itoa(attempt+1)+" attempts)")
			}
			if err := c.opts.Sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		case resp.StatusCode >= 500:
			if attempt >= c.opts.MaxRetries {
				return nil, fail(scanner.KindUnavailable, resp.StatusCode, code, text)
			}
			if err := c.opts.Sleep(ctx, backoff); err != nil {
				return nil, err
			}
			backoff *= 2
			continue
		}
		kind, msg := classify(resp.StatusCode, code, text)
		return nil, fail(kind, resp.StatusCode, code, msg)
	}
}

// noteRateHeaders remembers when the next call may be made: when the window's calls are used
// up, the API says how long to wait (X-RateLimit-ToWait-Sec).
func (c *Client) noteRateHeaders(h http.Header) {
	rem, err := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err != nil || rem > 0 {
		return
	}
	if wait, err := strconv.Atoi(h.Get("X-RateLimit-ToWait-Sec")); err == nil && wait > 0 {
		c.notBefore = time.Now().Add(time.Duration(wait) * time.Second)
	}
}
