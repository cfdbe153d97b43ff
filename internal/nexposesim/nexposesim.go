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
	case len(parts) == 5 && parts[2] == "sites" && parts[4] == "assets":
		site, err := strconv.Atoi(parts[3])
		if err != nil || site < 1 || site > s.opts.Sites {
			writeError(w, r, http.StatusNotFound, "The resource with identifier "+parts[3]+" does not exist.")
			return
		}
		s.page(w, r, s.opts.AssetsPerSite, func(i int) any {
			id := AssetID(site, i)
			return map[string]any{"id": id, "ip": fmt.Sprintf("10.%d.%d.%d", site%256, (i/250)%256, i%250+1),
				"hostName": fmt.Sprintf("asset-%d.example.test", id), "riskScore": 1000.5,
				"addresses": []map[string]string{{"ip": fmt.Sprintf("10.%d.%d.%d", site%256, (i/250)%256, i%250+1)}}}
		})
	case len(parts) == 5 && parts[2] == "assets" && parts[4] == "vulnerabilities":
		asset, err := strconv.Atoi(parts[3])
		if err != nil {
			writeError(w, r, http.StatusNotFound, "The resource with identifier "+parts[3]+" does not exist.")
			return
		}
		vulns := s.AssetVulns(asset)
		s.page(w, r, len(vulns), func(i int) any {
			v := vulns[i]
			proof := "<p>Vulnerable version found</p>"
			if v.Changed {
				proof = "<p>Vulnerable version found (changed)</p>"
			}
			return map[string]any{"id": v.ID, "instances": 1, "since": "2026-01-01T00:00:00.000Z", "status": "vulnerable",
				"results": []map[string]any{{"port": v.Port, "protocol": "tcp", "proof": proof, "status": "vulnerable-version"}}}
		})
	case len(parts) == 5 && parts[2] == "vulnerabilities" && parts[4] == "solutions":
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"resources": []string{"sol-" + parts[3]},
			"links": []map[string]string{{"href": "https://" + r.Host + r.URL.RequestURI(), "rel": "self"}}})
	case len(parts) == 4 && parts[2] == "solutions":
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": parts[3], "type": "rollup",
			"summary":  map[string]string{"text": "Upgrade for " + parts[3], "html": "<p>Upgrade for " + parts[3] + "</p>"},
			"steps":    map[string]string{"text": "Install the vendor's latest release.", "html": "<p>Install the vendor's latest release.</p>"},
			"estimate": "PT10M", "links": []map[string]string{{"href": "https://" + r.Host + r.URL.RequestURI(), "rel": "self"}}})
	case len(parts) == 4 && parts[2] == "vulnerabilities":
		id := parts[3]
		sev, score := "Severe", 7.0
		if n, err := strconv.Atoi(strings.TrimPrefix(id, "sim-vuln-")); err == nil {
			score = float64(n % 11)
			sev = []string{"Moderate", "Severe", "Critical"}[n%3]
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

// Vuln describes one generated vulnerability finding.
type Vuln struct {
	ID      string
	Port    int
	Changed bool
}

// AssetVulns returns the findings asset has in the current generation.
func (s *Server) AssetVulns(asset int) []Vuln {
	gen := int(s.gen.Load())
	var out []Vuln
	for j := 0; j < s.opts.VulnsPerAsset; j++ {
		v := Vuln{ID: fmt.Sprintf("sim-vuln-%d", 100+j), Port: 22}
		switch simfault.Mutate(s.opts.Seed, gen, int64(asset), int64(j)) {
		case simfault.Gone:
			continue
		case simfault.Changed:
			v.Changed = true
		}
		out = append(out, v)
	}
	for j := 0; j < simfault.Extra(gen, s.opts.VulnsPerAsset); j++ {
		out = append(out, Vuln{ID: fmt.Sprintf("sim-vuln-%d", 900+j), Port: 443})
	}
	return out
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
