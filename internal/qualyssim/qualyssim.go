// Package qualyssim simulates the Qualys VM API v2 for tests and benchmarks: asset groups,
// host list detection and the knowledge base, in Qualys's XML formats (SIMPLE_RETURN errors,
// RESPONSE/WARNING/URL truncation, X-RateLimit-* and X-Concurrency-Limit-* headers). Data of
// any size is generated from a seed while it is written, so a million detections cost no
// memory. Test support code: never compiled into production binaries.
package qualyssim

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
)

// Options configures a simulator.
type Options struct {
	// Seed makes the data deterministic.
	Seed int64
	// AssetGroups is how many asset groups exist (IDs 1..N). Optional; defaults to 3.
	AssetGroups int
	// HostsPerGroup is how many hosts each group holds. Optional; defaults to 10.
	HostsPerGroup int
	// DetectionsPerHost is how many base detections each host has. Optional; defaults to 5.
	DetectionsPerHost int
	// TextBytes is the size of each detection's RESULTS and each KB entry's texts. Optional; defaults to 200.
	TextBytes int
	// Username and Password are the accepted credentials. Optional; default "sim" / "sim-password".
	Username string
	Password string
	// TicketPageSize is how many remediation tickets one answer holds. Optional; defaults to
	// 1000, Qualys's own limit.
	TicketPageSize int
	// Started is the simulator's start: the date of generation 0's tickets. Optional;
	// defaults to now (two simulators started with the same one date their tickets alike).
	Started time.Time
}

// Server is a running simulator.
type Server struct {
	*httptest.Server
	// Faults holds injected faults and the request log.
	Faults simfault.Faults
	opts   Options
	gen    atomic.Int64
	// renamed maps an asset group ID to a new title; removed hides groups.
	renamed atomic.Pointer[map[int]string]
	removed atomic.Pointer[map[int]bool]
	kb      atomic.Pointer[map[int]KBEntry]
	// genAt is when each generation was first set; tickets changed by it are dated then.
	genMu   sync.Mutex
	genAt   map[int]time.Time
	started time.Time
	// RequestedWith counts requests that carried X-Requested-With.
	RequestedWith atomic.Int64
}

// New starts a simulator; Close it when done.
func New(opts Options) *Server {
	if opts.AssetGroups <= 0 {
		opts.AssetGroups = 3
	}
	if opts.HostsPerGroup <= 0 {
		opts.HostsPerGroup = 10
	}
	if opts.DetectionsPerHost <= 0 {
		opts.DetectionsPerHost = 5
	}
	if opts.TextBytes <= 0 {
		opts.TextBytes = 200
	}
	if opts.Username == "" {
		opts.Username, opts.Password = "sim", "sim-password"
	}
	if opts.TicketPageSize <= 0 {
		opts.TicketPageSize = 1000
	}
	started := opts.Started
	if started.IsZero() {
		started = time.Now()
	}
	s := &Server{opts: opts, started: started.UTC().Truncate(time.Second), genAt: map[int]time.Time{}}
	s.renamed.Store(&map[int]string{})
	s.removed.Store(&map[int]bool{})
	s.kb.Store(&map[int]KBEntry{})
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetGeneration selects the scan data: even generations serve the base detections, odd ones
// drop 10%, change 10% and add 10% new ones.
// Remediation tickets move through their states generation by generation (see TicketState),
// dated when the generation is first set.
func (s *Server) SetGeneration(g int) { s.SetGenerationAt(g, time.Now()) }

// SetGenerationAt selects generation g, dating the ticket changes it makes at (when it is
// first set).
func (s *Server) SetGenerationAt(g int, at time.Time) {
	s.genMu.Lock()
	if _, ok := s.genAt[g]; !ok && g > 0 {
		s.genAt[g] = at.UTC().Truncate(time.Second)
	}
	s.genMu.Unlock()
	s.gen.Store(int64(g))
}

// Started is when the simulator started: the date of generation 0's tickets.
func (s *Server) Started() time.Time { return s.started }

// Rename gives asset group id a new title.
func (s *Server) Rename(id int, title string) {
	m := map[int]string{}
	for k, v := range *s.renamed.Load() {
		m[k] = v
	}
	m[id] = title
	s.renamed.Store(&m)
}

// Remove hides asset group id (or shows it again).
func (s *Server) Remove(id int, removed bool) {
	m := map[int]bool{}
	for k, v := range *s.removed.Load() {
		m[k] = v
	}
	m[id] = removed
	s.removed.Store(&m)
}

// Options returns the simulator's options.
func (s *Server) Options() Options { return s.opts }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Requested-With") != "" {
		s.RequestedWith.Add(1)
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", "300")
	h.Set("X-RateLimit-Window-Sec", "3600")
	h.Set("X-RateLimit-Remaining", "299")
	h.Set("X-RateLimit-ToWait-Sec", "0")
	h.Set("X-Concurrency-Limit-Limit", "2")
	h.Set("X-Concurrency-Limit-Running", "1")
	if r.URL.Path == ControlPath {
		s.control(w, r)
		return
	}
	if r.URL.Path == ticketPath {
		// API v1: Basic authentication only, errors as <ERROR number="…">.
		if u, p, ok := r.BasicAuth(); !ok || u != s.opts.Username || p != s.opts.Password {
			v1Error(w, http.StatusUnauthorized, "2000", "Bad Login/Password")
			return
		}
		if w, ok := s.Faults.Serve(w, r, v1); ok {
			s.tickets(w, r)
		}
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != s.opts.Username || p != s.opts.Password {
		simpleReturn(w, http.StatusUnauthorized, "2000", "Bad Login/Password", 0)
		return
	}
	w, ok := s.Faults.Serve(w, r, vendor)
	if !ok {
		return
	}
	if r.URL.Query().Get("action") != "list" {
		simpleReturn(w, http.StatusBadRequest, "1903", "Missing required parameter(s): action", 0)
		return
	}
	switch strings.TrimRight(r.URL.Path, "/") + "/" {
	case "/api/2.0/fo/asset/group/":
		s.assetGroups(w, r)
	case "/api/2.0/fo/asset/host/vm/detection/":
		s.detections(w, r)
	case "/api/2.0/fo/asset/host/":
		s.hostList(w, r)
	case "/api/2.0/fo/knowledge_base/vuln/":
		s.knowledgeBase(w, r)
	default:
		simpleReturn(w, http.StatusNotFound, "", "Not Found", 0)
	}
}

// vendor is how Qualys answers faults: rate-limit headers and SIMPLE_RETURN errors.
var vendor = simfault.Vendor{
	ContentType: "text/xml;charset=UTF-8",
	WaitHeaders: func(h http.Header, seconds int) {
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-ToWait-Sec", strconv.Itoa(seconds))
	},
	WriteError: func(w http.ResponseWriter, _ *http.Request, f *simfault.Fault) {
		simpleReturn(w, f.Status, f.Code, f.Text, f.WaitSeconds)
	},
}

// simpleReturn writes a Qualys SIMPLE_RETURN error.
func simpleReturn(w http.ResponseWriter, status int, code, text string, wait int) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	items := ""
	if wait > 0 {
		items = fmt.Sprintf("\n    <ITEM_LIST>\n      <ITEM>\n        <KEY>SECONDS_TO_WAIT</KEY>\n        <VALUE>%d</VALUE>\n      </ITEM>\n    </ITEM_LIST>", wait)
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE SIMPLE_RETURN SYSTEM "https://qualysapi.qualys.com/api/2.0/simple_return.dtd">
<SIMPLE_RETURN>
  <RESPONSE>
    <DATETIME>%s</DATETIME>
    <CODE>%s</CODE>
    <TEXT>%s</TEXT>%s
  </RESPONSE>
</SIMPLE_RETURN>
`, now(), code, text, items)
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func intParam(r *http.Request, name string, def int) int {
	if n, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func (s *Server) nextURL(r *http.Request, idMin int) string {
	q := r.URL.Query()
	q.Set("id_min", strconv.Itoa(idMin))
	return "http://" + r.Host + r.URL.Path + "?" + q.Encode()
}

func (s *Server) assetGroups(w http.ResponseWriter, r *http.Request) {
	limit := intParam(r, "truncation_limit", 1000)
	idMin := intParam(r, "id_min", 1)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE ASSET_GROUP_LIST_OUTPUT SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/asset/group/asset_group_list_output.dtd\">\n<ASSET_GROUP_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>%s</DATETIME>\n    <ASSET_GROUP_LIST>\n", now())
	renamed, removed := *s.renamed.Load(), *s.removed.Load()
	n, id := 0, idMin
	for ; id <= s.opts.AssetGroups && n < limit; id++ {
		if removed[id] {
			continue
		}
		title := fmt.Sprintf("Asset Group %d", id)
		if t, ok := renamed[id]; ok {
			title = t
		}
		fmt.Fprintf(bw, "      <ASSET_GROUP>\n        <ID>%d</ID>\n        <TITLE><![CDATA[%s]]></TITLE>\n        <OWNER_ID>1</OWNER_ID>\n        <NETWORK_ID>0</NETWORK_ID>\n        <IP_SET>\n          <IP_RANGE>10.%d.0.1-10.%d.255.254</IP_RANGE>\n        </IP_SET>\n      </ASSET_GROUP>\n", id, title, id%256, id%256)
		n++
	}
	fmt.Fprint(bw, "    </ASSET_GROUP_LIST>\n")
	if id <= s.opts.AssetGroups {
		fmt.Fprintf(bw, "    <WARNING>\n      <CODE>1980</CODE>\n      <TEXT>%d record limit exceeded. Use URL to get next batch of results.</TEXT>\n      <URL><![CDATA[%s]]></URL>\n    </WARNING>\n", limit, s.nextURL(r, id))
	}
	fmt.Fprint(bw, "  </RESPONSE>\n</ASSET_GROUP_LIST_OUTPUT>\n")
}

// HostID is the Qualys host ID of host h (0-based) of asset group g.
func HostID(g, h int) int { return g*10_000_000 + h + 1 }

// QID is the QID of detection j of a host: base detections use 10000+j, new ones 20000+j.
func QID(j int) int { return 10000 + j }

// Detection describes one generated detection. Base detections vary the way real Qualys
// output does: every third one has no PORT or PROTOCOL (QIDs found on no service), every
// fourth is TYPE Potential, statuses are New, Active and Re-Opened, some are ignored
// (IS_IGNORED), half carry a QDS. Every host also has one information-gathered detection
// (TYPE Info, imported only when asked for) and one STATUS Fixed detection (never imported).
type Detection struct {
	QID      int
	Severity int
	// Port is 0 for a detection on no port.
	Port    int
	Type    string
	Status  string
	Ignored bool
	QDS     int
	Changed bool
}

// Extra QIDs every host has beside its base detections.
const (
	// InfoQID is the information-gathered detection of every host (TYPE Info).
	InfoQID = 45038
	// FixedQID is the STATUS Fixed detection of every host.
	FixedQID = 38739
)

// Imported reports whether a client with the default detection types imports d: not Info,
// not Fixed.
func (d Detection) Imported() bool { return d.Type != "Info" && d.Status != "Fixed" }

// HostDetections returns every detection that host hostID has in the current generation,
// including the Info and Fixed ones (see Detection.Imported).
func (s *Server) HostDetections(hostID int) []Detection {
	gen := int(s.gen.Load())
	var out []Detection
	for j := 0; j < s.opts.DetectionsPerHost; j++ {
		d := s.baseDetection(hostID, j)
		d.Type, d.Status = "Confirmed", "Active"
		if j%4 == 1 {
			d.Type = "Potential"
		}
		switch j % 5 {
		case 0:
			d.Status = "New"
		case 3:
			d.Status = "Re-Opened"
		}
		if j%2 == 0 {
			d.QDS = 10 + (hostID+j)%90
		}
		d.Ignored = (hostID+j)%13 == 0
		switch simfault.Mutate(s.opts.Seed, gen, int64(hostID), int64(j)) {
		case simfault.Gone:
			continue
		case simfault.Changed:
			d.Changed = true
		}
		out = append(out, d)
	}
	for j := 0; j < simfault.Extra(gen, s.opts.DetectionsPerHost); j++ {
		out = append(out, Detection{QID: QID(10000 + j), Severity: 3, Port: 8443, Type: "Confirmed", Status: "New"})
	}
	out = append(out, Detection{QID: InfoQID, Severity: 1, Type: "Info", Status: "Active"},
		Detection{QID: FixedQID, Severity: 2, Port: 22, Type: "Confirmed", Status: "Fixed"})
	return out
}

// hostRef is one host of the inventory: group g, index h.
type hostRef struct{ g, h int }

// IP is the address of host h (0-based) of asset group g.
func IP(g, h int) string { return fmt.Sprintf("10.%d.%d.%d", g%256, (h/250)%256, h%250+1) }

// selectHosts returns the hosts a list request selects (ag_ids, ips, id_min), in ID order, or
// writes Qualys's error and returns false.
func (s *Server) selectHosts(w http.ResponseWriter, r *http.Request) ([]hostRef, bool) {
	q := r.URL.Query()
	var groups []int
	removed := *s.removed.Load()
	if ag := q.Get("ag_ids"); ag != "" {
		for _, f := range strings.Split(ag, ",") {
			g, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || g < 1 || g > s.opts.AssetGroups || removed[g] {
				simpleReturn(w, http.StatusBadRequest, "1905", "parameter ag_ids has invalid value: "+ag, 0)
				return nil, false
			}
			groups = append(groups, g)
		}
	} else {
		for g := 1; g <= s.opts.AssetGroups; g++ {
			if !removed[g] {
				groups = append(groups, g)
			}
		}
	}
	match, err := scanner.NewIPMatcher(strings.Split(q.Get("ips"), ","))
	if q.Get("ips") == "" {
		match, err = nil, nil
	}
	if err != nil {
		simpleReturn(w, http.StatusBadRequest, "1905", "parameter ips has invalid value: "+q.Get("ips"), 0)
		return nil, false
	}
	idMin := intParam(r, "id_min", 0)
	var out []hostRef
	for _, g := range groups {
		first := 0
		if idMin > HostID(g, 0) {
			first = idMin - HostID(g, 0)
		}
		for h := first; h < s.opts.HostsPerGroup; h++ {
			if match.Match(IP(g, h)) {
				out = append(out, hostRef{g, h})
			}
		}
	}
	return out, true
}

func (s *Server) detections(w http.ResponseWriter, r *http.Request) {
	limit := intParam(r, "truncation_limit", 1000)
	hosts, ok := s.selectHosts(w, r)
	if !ok {
		return
	}
	showIGs := r.URL.Query().Get("show_igs") == "1"
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd\">\n%s\n<HOST_LIST_VM_DETECTION_OUTPUT>\n  <RESPONSE>\n    <DATETIME>%s</DATETIME>\n", evalComment, now())
	// Qualys writes RESULTS as CDATA whose text still holds HTML entities.
	text := "Report-To: {&quot;group&quot;:&quot;cf-nel&quot;} -&gt;&gt;HEADER&lt;&lt;- " + strings.Repeat("x", max(0, s.opts.TextBytes-60))
	n := 0
	for ; n < len(hosts) && n < limit; n++ {
		if n == 0 {
			fmt.Fprint(bw, "    <HOST_LIST>\n")
		}
		if n > 0 && n%100 == 0 {
			// Long answers carry keep-alive comments between hosts.
			fmt.Fprint(bw, "<!-- keep-alive for HOST_LIST_VM_DETECTION_OUTPUT  -->\n")
		}
		g, h := hosts[n].g, hosts[n].h
		id := HostID(g, h)
		fmt.Fprintf(bw, "      <HOST>\n        <ID>%d</ID>\n        <ASSET_ID>%d</ASSET_ID>\n        <IP>%s</IP>\n        <TRACKING_METHOD>IP</TRACKING_METHOD>\n        <OS><![CDATA[Linux 5.15]]></OS>\n        <DNS><![CDATA[host-%d.example.test]]></DNS>\n        <DNS_DATA>\n          <HOSTNAME><![CDATA[host-%d]]></HOSTNAME>\n          <DOMAIN><![CDATA[example.test]]></DOMAIN>\n          <FQDN><![CDATA[host-%d.example.test]]></FQDN>\n        </DNS_DATA>\n        <NETBIOS><![CDATA[HOST-%d]]></NETBIOS>\n        <LAST_SCAN_DATETIME>2026-11-20T10:00:00Z</LAST_SCAN_DATETIME>\n        <DETECTION_LIST>\n",
			id, id+5, IP(g, h), id, id, id, id)
		for _, d := range s.HostDetections(id) {
			if d.Type == "Info" && !showIGs {
				continue
			}
			results := text
			if d.Changed {
				results = "changed " + text
			}
			fmt.Fprintf(bw, "          <DETECTION>\n            <UNIQUE_VULN_ID>%d</UNIQUE_VULN_ID>\n            <QID>%d</QID>\n            <TYPE>%s</TYPE>\n            <SEVERITY>%d</SEVERITY>\n",
				int64(id)*100000+int64(d.QID), d.QID, d.Type, d.Severity)
			if d.Port != 0 {
				fmt.Fprintf(bw, "            <PORT>%d</PORT>\n            <PROTOCOL>tcp</PROTOCOL>\n", d.Port)
			}
			fmt.Fprintf(bw, "            <SSL>%d</SSL>\n            <RESULTS><![CDATA[%s]]></RESULTS>\n            <STATUS>%s</STATUS>\n            <FIRST_FOUND_DATETIME>2026-01-01T00:00:00Z</FIRST_FOUND_DATETIME>\n            <LAST_FOUND_DATETIME>2026-11-20T10:00:00Z</LAST_FOUND_DATETIME>\n",
				min(d.Port, 1), results, d.Status)
			if d.QDS > 0 {
				fmt.Fprintf(bw, "            <QDS severity=\"%s\">%d</QDS>\n            <QDS_FACTORS>\n              <QDS_FACTOR name=\"CVSS\"><![CDATA[7.5]]></QDS_FACTOR>\n            </QDS_FACTORS>\n", qdsBand(d.QDS), d.QDS)
			}
			fmt.Fprint(bw, "            <TIMES_FOUND>12</TIMES_FOUND>\n            <LAST_TEST_DATETIME>2026-11-20T10:00:00Z</LAST_TEST_DATETIME>\n")
			if d.Status == "Re-Opened" || d.Status == "Fixed" {
				fmt.Fprint(bw, "            <LAST_FIXED_DATETIME>2026-06-01T00:00:00Z</LAST_FIXED_DATETIME>\n")
			}
			fmt.Fprintf(bw, "            <IS_IGNORED>%d</IS_IGNORED>\n            <IS_DISABLED>0</IS_DISABLED>\n          </DETECTION>\n", b2i(d.Ignored))
		}
		fmt.Fprint(bw, "        </DETECTION_LIST>\n      </HOST>\n")
	}
	s.endHostList(bw, r, hosts, n, limit)
	fmt.Fprint(bw, "  </RESPONSE>\n</HOST_LIST_VM_DETECTION_OUTPUT>\n"+evalComment+"\n"+trailerComment+"\n")
}

// endHostList closes a host list of which n hosts were written, with the truncation WARNING
// when more are left.
func (s *Server) endHostList(bw *bufio.Writer, r *http.Request, hosts []hostRef, n, limit int) {
	if n > 0 {
		fmt.Fprint(bw, "    </HOST_LIST>\n")
	}
	if n < len(hosts) {
		fmt.Fprintf(bw, "    <WARNING>\n      <CODE>1980</CODE>\n      <TEXT>%d record limit exceeded. Use URL to get next batch of results.</TEXT>\n      <URL><![CDATA[%s]]></URL>\n    </WARNING>\n",
			limit, s.nextURL(r, HostID(hosts[n].g, hosts[n].h)))
	}
}

// hostList serves the host list (/api/2.0/fo/asset/host/?action=list).
func (s *Server) hostList(w http.ResponseWriter, r *http.Request) {
	limit := intParam(r, "truncation_limit", 1000)
	hosts, ok := s.selectHosts(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE HOST_LIST_OUTPUT SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/asset/host/host_list_output.dtd\">\n<HOST_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>%s</DATETIME>\n", now())
	n := 0
	for ; n < len(hosts) && n < limit; n++ {
		if n == 0 {
			fmt.Fprint(bw, "    <HOST_LIST>\n")
		}
		g, h := hosts[n].g, hosts[n].h
		id := HostID(g, h)
		fmt.Fprintf(bw, "      <HOST>\n        <ID>%d</ID>\n        <ASSET_ID>%d</ASSET_ID>\n        <IP>%s</IP>\n        <TRACKING_METHOD>IP</TRACKING_METHOD>\n", id, id+5, IP(g, h))
		// Like real inventories, some hosts have no DNS name or no NetBIOS name.
		if h%4 != 3 {
			fmt.Fprintf(bw, "        <DNS><![CDATA[host-%d.example.test]]></DNS>\n        <DNS_DATA>\n          <HOSTNAME><![CDATA[host-%d]]></HOSTNAME>\n          <DOMAIN><![CDATA[example.test]]></DOMAIN>\n          <FQDN><![CDATA[host-%d.example.test]]></FQDN>\n        </DNS_DATA>\n", id, id, id)
		}
		if h%4 != 2 {
			fmt.Fprintf(bw, "        <NETBIOS><![CDATA[HOST-%d]]></NETBIOS>\n", id)
		}
		fmt.Fprintf(bw, "        <OS><![CDATA[Linux 5.15]]></OS>\n        <LAST_VULN_SCAN_DATETIME>2026-11-20T10:00:00Z</LAST_VULN_SCAN_DATETIME>\n        <ASSET_GROUP_IDS>%d</ASSET_GROUP_IDS>\n      </HOST>\n", g)
	}
	s.endHostList(bw, r, hosts, n, limit)
	fmt.Fprint(bw, "  </RESPONSE>\n</HOST_LIST_OUTPUT>\n")
}

// Comments real Qualys answers carry before the root element and after it.
const (
	evalComment    = "<!-- This report was generated with an evaluation version of Qualys //--> "
	trailerComment = "<!-- CONFIDENTIAL AND PROPRIETARY INFORMATION. Qualys provides the QualysGuard Service \"As Is,\" without any warranty of any kind. //--> "
)

func qdsBand(q int) string {
	switch {
	case q >= 90:
		return "CRITICAL"
	case q >= 70:
		return "HIGH"
	case q >= 40:
		return "MEDIUM"
	}
	return "LOW"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// KBEntry overrides the knowledge-base entry of a QID (for bad-input tests).
type KBEntry struct {
	Title    string
	Severity string
}

// SetKBEntry makes the knowledge base answer title and severity (verbatim, so "" and "9" are
// possible) for qid.
func (s *Server) SetKBEntry(qid int, e KBEntry) {
	m := map[int]KBEntry{}
	for k, v := range *s.kb.Load() {
		m[k] = v
	}
	m[qid] = e
	s.kb.Store(&m)
}

func (s *Server) knowledgeBase(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE KNOWLEDGE_BASE_VULN_LIST_OUTPUT SYSTEM \"https://qualysapi.qualys.com/api/2.0/fo/knowledge_base/vuln/knowledge_base_vuln_list_output.dtd\">\n%s\n<KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>%s</DATETIME>\n<!-- keep-alive for KNOWLEDGE_BASE_VULN_LIST_OUTPUT  -->\n    <VULN_LIST>\n", evalComment, now())
	text := strings.Repeat("y", s.opts.TextBytes)
	kb := *s.kb.Load()
	for _, f := range strings.Split(r.URL.Query().Get("ids"), ",") {
		qid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			continue
		}
		title, sev := fmt.Sprintf("Simulated vulnerability %d", qid), strconv.Itoa(1+qid%5)
		if e, ok := kb[qid]; ok {
			title, sev = e.Title, e.Severity
		}
		fmt.Fprintf(bw, "      <VULN>\n        <QID>%d</QID>\n        <VULN_TYPE>Vulnerability</VULN_TYPE>\n        <SEVERITY_LEVEL>%s</SEVERITY_LEVEL>\n        <TITLE><![CDATA[%s]]></TITLE>\n        <CATEGORY>General remote services</CATEGORY>\n        <PUBLISHED_DATETIME>2025-01-01T00:00:00Z</PUBLISHED_DATETIME>\n        <PATCHABLE>1</PATCHABLE>\n        <CVE_LIST>\n          <CVE>\n            <ID><![CDATA[CVE-2025-%d]]></ID>\n            <URL><![CDATA[https://nvd.nist.gov/vuln/detail/CVE-2025-%d]]></URL>\n          </CVE>\n        </CVE_LIST>\n        <DIAGNOSIS><![CDATA[Diagnosis of %d: %s<P>\n\n<P>QID Detection Logic:<BR>The check runs &quot;show version&quot;. <BR>]]></DIAGNOSIS>\n        <CONSEQUENCE><![CDATA[Consequence of %d<P>]]></CONSEQUENCE>\n        <SOLUTION><![CDATA[Patch %d: %s<P>Refer to <A HREF=\"https://vendor.example/advisory/%d\" TARGET=\"_blank\">advisory %d</A>.]]></SOLUTION>\n      </VULN>\n",
			qid, sev, title, qid, qid, qid, text, qid, qid, text, qid, qid)
	}
	fmt.Fprint(bw, "    </VULN_LIST>\n  </RESPONSE>\n</KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n"+evalComment+"\n")
}
