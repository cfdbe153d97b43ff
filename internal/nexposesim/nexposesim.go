// Package nexposesim simulates the Rapid7 Nexpose / InsightVM API v3 for tests: sites, site
// assets, asset vulnerability findings, vulnerability definitions and solutions, with the v3 paging
// envelope (resources, page{number,size,totalResources,totalPages}, links), 404 past the last
// page and v3 error bodies ({status, message, links}). Data is generated from a seed. Test
// support code: never compiled into production binaries.
package nexposesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/tributary-io/tributary/internal/simfault"
)

// Options configures a simulator.
type Options struct {
	// Seed makes the data deterministic.
	Seed int64
	// Sites is how many sites exist (IDs 1..N). Optional; defaults to 2.
	Sites int
	// AssetsPerSite is how many assets each site holds. Optional; defaults to 5.
	AssetsPerSite int
	// VulnsPerAsset is how many base vulnerability findings each asset has. Optional; defaults to 4.
	VulnsPerAsset int
	// Username and Password are the accepted credentials. Optional; default "sim" / "sim-password".
	Username string
	Password string
}

// Server is a running simulator.
type Server struct {
	*httptest.Server
	// Faults holds injected faults and the request log.
	Faults simfault.Faults
	opts   Options
	gen    atomic.Int64
	// Severities overrides the severity label of vulnerability IDs (for bad-input tests).
	severities atomic.Pointer[map[string]string]
	// vanished holds assets that are still listed in their site but whose findings answer 404
	// (removed between the listing and the reading).
	vanished atomic.Pointer[map[int]bool]
}

// New starts a simulator; Close it when done.
func New(opts Options) *Server {
	if opts.Sites <= 0 {
		opts.Sites = 2
	}
	if opts.AssetsPerSite <= 0 {
		opts.AssetsPerSite = 5
	}
	if opts.VulnsPerAsset <= 0 {
		opts.VulnsPerAsset = 4
	}
	if opts.Username == "" {
		opts.Username, opts.Password = "sim", "sim-password"
	}
	s := &Server{opts: opts}
	s.severities.Store(&map[string]string{})
	s.vanished.Store(&map[int]bool{})
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetGeneration selects the data: even generations serve the base findings, odd ones drop
// 10%, change 10% and add 10% new ones.
func (s *Server) SetGeneration(g int) { s.gen.Store(int64(g)) }

// SetSeverity makes vulnerability id report label as its severity, with no score.
func (s *Server) SetSeverity(id, label string) {
	m := map[string]string{}
	for k, v := range *s.severities.Load() {
		m[k] = v
	}
	m[id] = label
	s.severities.Store(&m)
}

// Vanish makes asset answer 404 for its findings while its site still lists it.
func (s *Server) Vanish(asset int) {
	m := map[int]bool{}
	for k, v := range *s.vanished.Load() {
		m[k] = v
	}
	m[asset] = true
	s.vanished.Store(&m)
}

// vendor is how Nexpose answers faults: Retry-After and v3 error bodies.
var vendor = simfault.Vendor{
	ContentType: "application/json;charset=UTF-8",
	WaitHeaders: func(h http.Header, seconds int) { h.Set("Retry-After", strconv.Itoa(seconds)) },
	WriteError: func(w http.ResponseWriter, r *http.Request, f *simfault.Fault) {
		writeError(w, r, f.Status, orDefault(f.Text, http.StatusText(f.Status)))
	},
}

func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status": status, "message": msg,
		"links": []map[string]string{{"href": "https://" + r.Host + r.URL.RequestURI(), "rel": "self"}},
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.opts.Username || p != s.opts.Password {
		writeError(w, r, http.StatusUnauthorized, "The user name or password is incorrect.")
		return
	}
	w, ok := s.Faults.Serve(w, r, vendor)
	if !ok {
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 3 && parts[0] == "api" && parts[1] == "3" && parts[2] == "sites":
		s.page(w, r, s.opts.Sites, func(i int) any {
			id := i + 1
			return map[string]any{"id": id, "name": fmt.Sprintf("Site %d", id), "assets": s.opts.AssetsPerSite,
				"links": []map[string]string{{"href": fmt.Sprintf("https://%s/api/3/sites/%d", r.Host, id), "rel": "self"}}}
		})
	case len(parts) == 3 && parts[2] == "assets":
		// Every asset of the console, site after site.
		s.page(w, r, s.opts.Sites*s.opts.AssetsPerSite, func(i int) any {
			return s.asset(r, 1+i/s.opts.AssetsPerSite, i%s.opts.AssetsPerSite)
		})
	case len(parts) == 5 && parts[2] == "sites" && parts[4] == "assets":
		site, err := strconv.Atoi(parts[3])
		if err != nil || site < 1 || site > s.opts.Sites {
			writeError(w, r, http.StatusNotFound, "The resource with identifier "+parts[3]+" does not exist.")
			return
		}
		s.page(w, r, s.opts.AssetsPerSite, func(i int) any { return s.asset(r, site, i) })
	case len(parts) == 5 && parts[2] == "assets" && parts[4] == "vulnerabilities":
		asset, err := strconv.Atoi(parts[3])
		if err != nil || (*s.vanished.Load())[asset] {
			writeError(w, r, http.StatusNotFound, "The resource does not exist or access is prohibited.")
			return
		}
		vulns := s.AssetVulns(asset)
		s.page(w, r, len(vulns), func(i int) any {
			v := vulns[i]
			results := make([]map[string]any, 0, len(v.Results))
			for _, res := range v.Results {
				where := res.Key
				if where == "" {
					where = "/usr/lib/libssl.so.1.1"
				}
				proof := "<p><p>Vulnerable version of <b>openssl</b> &amp; libcrypto found:<ul><li>" + where + "</li></ul></p></p>"
				if v.Changed {
					proof = "<p>Vulnerable version found (changed)</p>"
				}
				m := map[string]any{"port": v.Port, "protocol": "tcp", "proof": proof, "status": res.Status,
					"since": "2026-01-01T00:00:00.000Z", "links": []any{}}
				if res.Key != "" {
					m["key"] = res.Key
				}
				results = append(results, m)
			}
			return map[string]any{"id": v.ID, "instances": len(results), "since": "2026-01-01T00:00:00.000Z", "status": v.Status,
				"results": results, "links": []any{}}
		})
	case len(parts) == 7 && parts[2] == "assets" && parts[4] == "vulnerabilities" && parts[6] == "solution":
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"resources": []map[string]any{{
			"id": "sol-" + parts[5], "type": "configuration", "confidence": "exact", "estimate": "PT1H",
			"summary": map[string]string{"text": "Upgrade for " + parts[5], "html": "Upgrade for " + parts[5]},
			"steps":   map[string]string{"text": "Install the vendor's latest release on asset " + parts[3] + ".", "html": "<p>\n<p>Install the vendor's latest release on asset " + parts[3] + ".</p></p>"},
			"matches": []map[string]string{{"confidence": "exact", "solution": "sol-" + parts[5], "type": "none"}},
		}}, "links": []map[string]string{{"href": "https://" + r.Host + r.URL.RequestURI(), "rel": "self"}}})
	case len(parts) == 4 && parts[2] == "vulnerabilities":
		id := parts[3]
		sev, score := "Severe", 7.0
		if n, err := strconv.Atoi(strings.TrimPrefix(id, "sim-vuln-")); err == nil {
			score = float64(n % 11)
			sev = SeverityLabel(score)
		}
		def := map[string]any{"id": id, "title": "Simulated vulnerability " + id, "severity": sev, "severityScore": score,
			"cves": []string{"CVE-2025-" + strings.TrimPrefix(id, "sim-vuln-")}, "riskScore": 500.0,
			"description": map[string]string{"text": "Description of " + id, "html": "<p>Description of " + id + "</p>"},
			"published":   "2025-01-01", "modified": "2025-06-01"}
		if label, ok := (*s.severities.Load())[id]; ok {
			def["severity"] = label
			delete(def, "severityScore")
		}
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_ = json.NewEncoder(w).Encode(def)
	default:
		writeError(w, r, http.StatusNotFound, "The requested resource does not exist.")
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// AssetID is the ID of asset i (0-based) of site.
func AssetID(site, i int) int { return site*100_000 + i + 1 }

// LastScan is the latest SCAN in every asset's history: the last-seen time of its findings.
const LastScan = "2026-11-20T10:00:00.000Z"

// SeverityLabel is Rapid7's label for a severity score: Critical 8-10, Severe 4-7.9,
// Moderate below.
func SeverityLabel(score float64) string {
	switch {
	case score >= 8:
		return "Critical"
	case score >= 4:
		return "Severe"
	}
	return "Moderate"
}

// Result is one assessment result of a generated finding.
type Result struct {
	Key    string
	Status string
}

// Vuln describes one generated vulnerability finding. Base findings vary as Rapid7's output
// does: result statuses vulnerable, vulnerable-version and vulnerable-potential; every fifth
// finding (j%5 == 3) is under an exception (vulnerable-version-with-exception-applied); every
// fourth (j%4 == 2) has two results on one port that differ by key. Every asset also has one
// invulnerable finding (InvulnerableID, result not-vulnerable).
type Vuln struct {
	ID      string
	Port    int
	Status  string
	Results []Result
	Changed bool
}

// InvulnerableID is the finding every asset has with status invulnerable.
const InvulnerableID = "sim-vuln-800"

// Findings counts the findings a client makes of v (one per result) and how many of them are
// open.
func (v Vuln) Findings() (all, open int) {
	for _, r := range v.Results {
		all++
		if v.Status == "vulnerable" && (r.Status == "vulnerable" || r.Status == "vulnerable-version" || r.Status == "vulnerable-potential") {
			open++
		}
	}
	return all, open
}

// AssetVulns returns the findings asset has in the current generation.
func (s *Server) AssetVulns(asset int) []Vuln {
	gen := int(s.gen.Load())
	var out []Vuln
	statuses := []string{"vulnerable", "vulnerable-version", "vulnerable-potential"}
	for j := 0; j < s.opts.VulnsPerAsset; j++ {
		v := Vuln{ID: fmt.Sprintf("sim-vuln-%d", 100+j), Port: 22, Status: "vulnerable",
			Results: []Result{{Status: statuses[j%3]}}}
		if j%5 == 3 {
			v.Results[0].Status = "vulnerable-version-with-exception-applied"
		}
		if j%4 == 2 {
			v.Results = []Result{{Key: "/usr/lib/x86_64-linux-gnu/libssl.so.1.1", Status: statuses[j%3]},
				{Key: "/opt/app/lib/libssl.so.1.1", Status: statuses[j%3]}}
		}
		switch simfault.Mutate(s.opts.Seed, gen, int64(asset), int64(j)) {
		case simfault.Gone:
			continue
		case simfault.Changed:
			v.Changed = true
		}
		out = append(out, v)
	}
	for j := 0; j < simfault.Extra(gen, s.opts.VulnsPerAsset); j++ {
		out = append(out, Vuln{ID: fmt.Sprintf("sim-vuln-%d", 900+j), Port: 443, Status: "vulnerable", Results: []Result{{Status: "vulnerable"}}})
	}
	out = append(out, Vuln{ID: InvulnerableID, Port: 80, Status: "invulnerable", Results: []Result{{Status: "not-vulnerable"}}})
	return out
}

// RiskScore is the risk score of asset i (0-based) of any site: 1000.5 to 9000.5.
func RiskScore(i int) float64 { return 1000.5 + 2000*float64(i%5) }

// asset is asset i (0-based) of site as the v3 API shows it.
func (s *Server) asset(r *http.Request, site, i int) map[string]any {
	id := AssetID(site, i)
	ip := fmt.Sprintf("10.%d.%d.%d", site%256, (i/250)%256, i%250+1)
	a := map[string]any{"id": id, "hostName": fmt.Sprintf("asset-%d.example.test", id), "riskScore": RiskScore(i),
		"addresses": []map[string]string{{"ip": ip, "mac": "00:50:56:00:00:01"}},
		"os":        "Ubuntu Linux 22.04", "history": []map[string]any{
			{"date": "2026-01-01T00:00:00.000Z", "type": "SCAN", "scanId": 1, "version": 1},
			{"date": LastScan, "type": "SCAN", "scanId": 2, "version": 2},
			{"date": "2026-11-21T08:00:00Z", "type": "ASSET-IMPORT", "version": 3}},
		"links": []map[string]string{{"href": fmt.Sprintf("https://%s/api/3/assets/%d", r.Host, id), "rel": "self"}}}
	// Like demisto's recorded assets, some have no ip, only addresses.
	if i%3 != 1 {
		a["ip"] = ip
	}
	return a
}

// page writes the requested page of a list of n resources made by item.
func (s *Server) page(w http.ResponseWriter, r *http.Request, n int, item func(int) any) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size, err := strconv.Atoi(r.URL.Query().Get("size"))
	if err != nil || size <= 0 {
		size = 10
	}
	if size > 500 {
		writeError(w, r, http.StatusBadRequest, "The size parameter must be at most 500.")
		return
	}
	total := (n + size - 1) / size
	if page < 0 || (page >= total && page > 0) {
		writeError(w, r, http.StatusNotFound, "The requested page is out of range.")
		return
	}
	res := []any{}
	for i := page * size; i < min(n, (page+1)*size); i++ {
		res = append(res, item(i))
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resources": res,
		"page":      map[string]any{"number": page, "size": size, "totalResources": n, "totalPages": total},
		"links":     []map[string]string{{"href": "https://" + r.Host + r.URL.RequestURI(), "rel": "self"}},
	})
}
