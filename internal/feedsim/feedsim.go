// Package feedsim simulates the publishers of the Live Update content feeds, for tests, the
// benchmark and the dev stack (never a production binary): the NVD CVE API 2.0 with paging,
// lastMod windows and its rate limit, the CISA KEV catalogue, a MITRE ATT&CK STIX 2.1
// collection index and bundles, and an OSCAL catalog, all generated from a seed at any size,
// with conditional requests and faults.
package feedsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths the simulator serves.
const (
	NVDPath           = "/rest/json/cves/2.0"
	KEVPath           = "/feeds/known_exploited_vulnerabilities.json"
	ATTACKIndexPath   = "/attack/index.json"
	OSCALPath         = "/oscal/catalog.json"
	OSCALChecksumPath = "/oscal/catalog.json.sha256"
)

// Options sizes the generated content.
type Options struct {
	// Seed makes the content reproducible.
	Seed uint64
	// CVEs is how many CVEs the NVD holds (CVE-2000-00001 …), last modified over the
	// 400 days before Now.
	CVEs int
	// Now is the NVD's clock. Optional; defaults to the real time.
	Now func() time.Time
	// Limit and Window are the NVD's rate limit without an API key (requests per rolling
	// window); KeyLimit with one. Optional; default 5, 50 per 30 s.
	Limit, KeyLimit int
	Window          time.Duration
	// Named are real CVE IDs the NVD serves after the generated ones (to meet a scanner's
	// catalogue).
	Named []string
	// Techniques sizes the ATT&CK bundle (with a third as many groups and mitigations);
	// Families and ControlsPerFamily the OSCAL catalog.
	Techniques                  int
	Families, ControlsPerFamily int
}

// Sim is a running simulator's state; it is an http.Handler.
type Sim struct {
	opt  Options
	base time.Time

	mu sync.Mutex
	// modified overrides CVEs' last modification (index → time); rejected CVEs.
	modified map[int]time.Time
	rejected map[int]bool
	windows  map[[2]int64][]int
	requests map[string][]time.Time // by API key ("" without)
	faults   []fault
	// Requests counts the NVD requests served, Throttled the 403s.
	Requests, Throttled int
	// Queries records the NVD query strings asked.
	Queries []string

	kev         []byte
	attackVer   []string // versions listed, oldest first
	attackMod   map[string]int
	oscalVer    string
	oscalMod    time.Time
	oscalExtra  int
	badChecksum bool
	hits        map[string]int
}

type fault struct {
	path   string
	status int // 0: a cut body
	count  int
}

// New makes a simulator.
func New(opt Options) *Sim {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Limit == 0 {
		opt.Limit = 5
	}
	if opt.KeyLimit == 0 {
		opt.KeyLimit = 50
	}
	if opt.Window == 0 {
		opt.Window = 30 * time.Second
	}
	if opt.Families == 0 {
		opt.Families = 3
	}
	if opt.ControlsPerFamily == 0 {
		opt.ControlsPerFamily = 4
	}
	if opt.Techniques == 0 {
		opt.Techniques = 12
	}
	s := &Sim{opt: opt, base: opt.Now().UTC().Add(-400 * 24 * time.Hour).Truncate(time.Second), modified: map[int]time.Time{}, rejected: map[int]bool{},
		windows: map[[2]int64][]int{}, requests: map[string][]time.Time{}, attackVer: []string{"17.0", "18.0"}, attackMod: map[string]int{},
		oscalVer: "5.1.0", oscalMod: time.Date(2026, 8, 26, 0, 0, 0, 0, time.UTC), hits: map[string]int{}}
	return s
}

// CVEID is the ID of the i-th generated CVE.
func CVEID(i int) string { return fmt.Sprintf("CVE-%d-%05d", 2000+i/90000, i%90000+1) }

func (s *Sim) cveID(i int) string {
	if i >= s.opt.CVEs {
		return s.opt.Named[i-s.opt.CVEs]
	}
	return CVEID(i)
}

func (s *Sim) total() int { return s.opt.CVEs + len(s.opt.Named) }

// Modify marks n CVEs (from the i-th on) modified at t; reject rejects them as well.
func (s *Sim) Modify(from, n int, t time.Time, reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; i < from+n && i < s.total(); i++ {
		s.modified[i] = t.UTC()
		if reject {
			s.rejected[i] = true
		}
	}
	s.windows = map[[2]int64][]int{}
}

// Fail makes the next count requests of path answer status (0: a body cut in half).
func (s *Sim) Fail(path string, status, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{path: path, status: status, count: count})
}

// SetKEV sets the KEV catalogue served.
func (s *Sim) SetKEV(doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kev = doc
}

// PublishATTACK lists a new ATT&CK version in the index; the bundle of a version modifies
// technique i's description when modify[i] names the version.
func (s *Sim) PublishATTACK(version string, modify ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attackVer = append(s.attackVer, version)
	for _, name := range modify {
		s.attackMod[name] = len(s.attackVer)
	}
}

// PublishOSCAL publishes a new catalog version with extra more controls, released at t.
func (s *Sim) PublishOSCAL(version string, t time.Time, extra int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oscalVer, s.oscalMod, s.oscalExtra = version, t, extra
}

// BadChecksum makes the OSCAL checksum file disagree with the catalog.
func (s *Sim) BadChecksum(bad bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badChecksum = bad
}

// Hits is how often path was asked for.
func (s *Sim) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The NVD's rate limit comes first: a throttled request does not use up a fault.
	if r.URL.Path == NVDPath && !s.allowed(r.Header.Get("apiKey")) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	s.mu.Lock()
	s.hits[r.URL.Path]++
	var cut bool
	for i := range s.faults {
		f := &s.faults[i]
		if f.count > 0 && strings.HasPrefix(r.URL.Path, f.path) {
			f.count--
			if f.status != 0 {
				s.mu.Unlock()
				http.Error(w, "simulated fault", f.status)
				return
			}
			cut = true
			break
		}
	}
	s.mu.Unlock()
	var body []byte
	var status int
	switch {
	case r.URL.Path == NVDPath:
		s.serveNVD(w, r, cut)
		return
	case r.URL.Path == KEVPath:
		s.mu.Lock()
		body, status = s.kev, http.StatusOK
		if body == nil {
			body = s.kevDoc()
		}
		s.mu.Unlock()
	case r.URL.Path == ATTACKIndexPath:
		body, status = s.attackIndex(r), http.StatusOK
	case strings.HasPrefix(r.URL.Path, "/attack/enterprise-attack-"):
		body, status = s.attackBundle(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/attack/enterprise-attack-"), ".json"))
	case r.URL.Path == OSCALPath:
		body, status = s.oscal(), http.StatusOK
	case r.URL.Path == OSCALChecksumPath:
		sum := sha256.Sum256(s.oscal())
		s.mu.Lock()
		if s.badChecksum {
			sum[0] ^= 0xff
		}
		s.mu.Unlock()
		body, status = []byte(hex.EncodeToString(sum[:])+"  catalog.json\n"), http.StatusOK
	default:
		status = http.StatusNotFound
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/json")
	if cut {
		body = body[:len(body)/2]
	}
	_, _ = w.Write(body)
}

// allowed applies the rolling-window rate limit of key.
func (s *Sim) allowed(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	limit := s.opt.Limit
	if key != "" {
		limit = s.opt.KeyLimit
	}
	kept := s.requests[key][:0]
	for _, t := range s.requests[key] {
		if now.Sub(t) < s.opt.Window {
			kept = append(kept, t)
		}
	}
	s.requests[key] = kept
	if len(kept) >= limit {
		s.Throttled++
		return false
	}
	s.requests[key] = append(kept, now)
	s.Requests++
	return true
}

func nvdBad(w http.ResponseWriter, msg string) {
	// The NVD answers bad parameters with 404 and names the problem in a "message" header.
	w.Header().Set("message", msg)
	w.WriteHeader(http.StatusNotFound)
}

func (s *Sim) lastModified(i int) time.Time {
	if t, ok := s.modified[i]; ok {
		return t
	}
	step := 400 * 24 * time.Hour / time.Duration(max(s.total(), 1))
	return s.base.Add(time.Duration(i) * step)
}

func (s *Sim) serveNVD(w http.ResponseWriter, r *http.Request, cut bool) {
	q := r.URL.Query()
	s.mu.Lock()
	s.Queries = append(s.Queries, r.URL.RawQuery)
	s.mu.Unlock()
	start, err1 := strconv.Atoi(q.Get("startIndex"))
	per, err2 := strconv.Atoi(q.Get("resultsPerPage"))
	if q.Get("startIndex") == "" {
		start, err1 = 0, nil
	}
	if q.Get("resultsPerPage") == "" {
		per, err2 = 2000, nil
	}
	if err1 != nil || err2 != nil || start < 0 || per < 1 || per > 2000 {
		nvdBad(w, "Invalid startIndex or resultsPerPage parameter (resultsPerPage at most 2000)")
		return
	}
	var ids []int
	from, to := q.Get("lastModStartDate"), q.Get("lastModEndDate")
	s.mu.Lock()
	switch {
	case from == "" && to == "":
		ids = nil // every CVE, by index
	case from == "" || to == "":
		s.mu.Unlock()
		nvdBad(w, "Both lastModStartDate and lastModEndDate are required when either is present")
		return
	default:
		f, e1 := time.Parse("2006-01-02T15:04:05.000-07:00", from)
		t, e2 := time.Parse("2006-01-02T15:04:05.000-07:00", to)
		if e1 != nil || e2 != nil || t.Before(f) {
			s.mu.Unlock()
			nvdBad(w, "Invalid lastModStartDate or lastModEndDate (extended ISO-8601 with an offset)")
			return
		}
		if t.Sub(f) > 120*24*time.Hour {
			s.mu.Unlock()
			nvdBad(w, "The date range must not exceed 120 days")
			return
		}
		key := [2]int64{f.UnixMilli(), t.UnixMilli()}
		if cached, ok := s.windows[key]; ok {
			ids = cached
		} else {
			ids = []int{}
			for i := 0; i < s.total(); i++ {
				if m := s.lastModified(i); !m.Before(f) && !m.After(t) {
					ids = append(ids, i)
				}
			}
			s.windows[key] = ids
		}
	}
	total := s.total()
	if ids != nil {
		total = len(ids)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"resultsPerPage":%d,"startIndex":%d,"totalResults":%d,"format":"NVD_CVE","version":"2.0","timestamp":"%s","vulnerabilities":[`,
		min(per, max(total-start, 0)), start, total, s.opt.Now().UTC().Format("2006-01-02T15:04:05.000"))
	for k := start; k < start+per && k < total; k++ {
		i := k
		if ids != nil {
			i = ids[k]
		}
		if k > start {
			buf.WriteByte(',')
		}
		s.writeCVE(&buf, i)
	}
	s.mu.Unlock()
	buf.WriteString("]}")
	body := buf.Bytes()
	if cut {
		body = body[:len(body)/2]
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

var cwes = []string{"CWE-79", "CWE-787", "CWE-89", "CWE-416", "CWE-78", "CWE-20", "CWE-125", "CWE-22", "NVD-CWE-noinfo"}

// writeCVE writes the i-th CVE as the NVD does (times without a zone, CVSS v2 severity beside
// cvssData, several sources per metric).
func (s *Sim) writeCVE(buf *bytes.Buffer, i int) {
	rng := rand.New(rand.NewPCG(s.opt.Seed, uint64(i)))
	mod := s.lastModified(i)
	status := []string{"Analyzed", "Modified", "Awaiting Analysis", "Deferred"}[rng.IntN(4)]
	if s.rejected[i] {
		status = "Rejected"
	}
	score := float64(rng.IntN(91)+10) / 10
	sev := "LOW"
	switch {
	case score >= 9:
		sev = "CRITICAL"
	case score >= 7:
		sev = "HIGH"
	case score >= 4:
		sev = "MEDIUM"
	}
	desc := fmt.Sprintf("A %s issue in component %d of product %d allows a remote attacker to cause a %s (generated for %s).",
		[]string{"buffer overflow", "cross-site scripting", "SQL injection", "use-after-free", "path traversal"}[rng.IntN(5)],
		rng.IntN(100), rng.IntN(5000), []string{"denial of service", "code execution", "information disclosure"}[rng.IntN(3)], s.cveID(i))
	if _, ok := s.modified[i]; ok {
		desc += " Updated " + mod.Format(time.DateOnly) + "."
	}
	d, _ := json.Marshal(desc)
	fmt.Fprintf(buf, `{"cve":{"id":"%s","sourceIdentifier":"cve@mitre.org","published":"%s","lastModified":"%s","vulnStatus":"%s",`+
		`"cveTags":[],"descriptions":[{"lang":"en","value":%s},{"lang":"es","value":"Descripción"}],"metrics":{`,
		s.cveID(i), s.base.Add(-time.Duration(rng.IntN(1000))*time.Hour).Format("2006-01-02T15:04:05.000"), mod.Format("2006-01-02T15:04:05.000"), status, d)
	switch rng.IntN(3) {
	case 0:
		fmt.Fprintf(buf, `"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":%.1f,"baseSeverity":"%s"},"exploitabilityScore":3.9,"impactScore":5.9},`+
			`{"source":"cna@vendor.example","type":"Secondary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":%.1f,"baseSeverity":"%s"}}]`, score, sev, score, sev)
	case 1:
		v2 := sev
		if v2 == "CRITICAL" {
			v2 = "HIGH"
		}
		fmt.Fprintf(buf, `"cvssMetricV2":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:P/I:P/A:P","baseScore":%.1f},"baseSeverity":"%s","exploitabilityScore":10.0,"impactScore":6.4}]`, score, v2)
	default:
		fmt.Fprintf(buf, `"cvssMetricV40":[{"source":"cna@vendor.example","type":"Secondary","cvssData":{"version":"4.0","vectorString":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N","baseScore":%.1f,"baseSeverity":"%s"}}]`, score, sev)
	}
	fmt.Fprintf(buf, `},"weaknesses":[{"source":"nvd@nist.gov","type":"Primary","description":[{"lang":"en","value":"%s"}]}],`+
		`"references":[{"url":"https://vendor.example/advisories/%d","source":"cve@mitre.org","tags":["Vendor Advisory"]}]}}`, cwes[rng.IntN(len(cwes))], i)
}

// kevDoc generates a KEV catalogue: the first three named CVEs and every 100th generated one.
func (s *Sim) kevDoc() []byte {
	var vulns []map[string]any
	add := func(id string, n int) {
		vulns = append(vulns, map[string]any{"cveID": id, "vendorProject": "Vendor", "product": fmt.Sprintf("Product %d", n),
			"vulnerabilityName": "Vendor Product " + id + " Vulnerability", "dateAdded": time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n%60).Format(time.DateOnly),
			"shortDescription": "A vulnerability exploited in the wild.", "requiredAction": "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
			"dueDate": time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n%60).Format(time.DateOnly), "knownRansomwareCampaignUse": []string{"Unknown", "Known"}[n%2],
			"notes": "https://nvd.nist.gov/vuln/detail/" + id, "cwes": []string{"CWE-78"}})
	}
	for i, id := range s.opt.Named[:min(3, len(s.opt.Named))] {
		add(id, i)
	}
	for i := 0; i < s.opt.CVEs; i += 100 {
		add(CVEID(i), i)
	}
	b, _ := json.Marshal(map[string]any{"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.12.01",
		"dateReleased": "2026-12-01T15:02:11.1234Z", "count": len(vulns), "vulnerabilities": vulns})
	return b
}

// stixUUID is a deterministic UUID for the n-th object of kind.
func stixUUID(kind string, n int) string {
	h := sha256.Sum256([]byte(kind + strconv.Itoa(n)))
	x := hex.EncodeToString(h[:16])
	return kind + "--" + x[:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32]
}

func (s *Sim) attackIndex(r *http.Request) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := "http://" + r.Host
	type version struct {
		Version  string `json:"version"`
		URL      string `json:"url"`
		Modified string `json:"modified"`
	}
	var vs []version
	for i, v := range s.attackVer {
		vs = append(vs, version{Version: v, URL: base + "/attack/enterprise-attack-" + v + ".json",
			Modified: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i, 0).Format("2006-01-02T15:04:05.000Z")})
	}
	b, _ := json.Marshal(map[string]any{"id": "bb8c95c0-4e8f-491e-a3c9-8b4207e43041", "name": "MITRE ATT&CK", "collections": []any{
		map[string]any{"id": "x-mitre-collection--1f5f1533-f617-4ca8-9ab4-6a02367fa019", "name": "Enterprise ATT&CK", "versions": vs},
		map[string]any{"id": "x-mitre-collection--dac0d2d7-8653-445c-9bff-82f934c1e858", "name": "Mobile ATT&CK", "versions": []version{}},
	}})
	return b
}

// attackBundle generates version v's bundle: techniques (every fifth a sub-technique of the
// one before, the last revoked, the one before deprecated), groups and mitigations, and
// "uses", "mitigates" and "subtechnique-of" relationships; the x-mitre-collection lists each
// object's modified time.
func (s *Sim) attackBundle(v string) ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vi := -1
	for i, x := range s.attackVer {
		if x == v {
			vi = i + 1
		}
	}
	if vi < 0 {
		return nil, http.StatusNotFound
	}
	t0 := time.Date(2024, 4, 1, 12, 0, 0, 0, time.UTC)
	var objs []map[string]any
	var contents []map[string]string
	add := func(o map[string]any) {
		o["spec_version"] = "2.1"
		if _, ok := o["created"]; !ok {
			o["created"] = t0.Format("2006-01-02T15:04:05.000Z")
		}
		if _, ok := o["modified"]; !ok {
			o["modified"] = t0.Format("2006-01-02T15:04:05.000Z")
		}
		objs = append(objs, o)
		contents = append(contents, map[string]string{"object_ref": o["id"].(string), "object_modified": o["modified"].(string)})
	}
	ref := func(kind, path, id string) []map[string]string {
		return []map[string]string{{"source_name": "mitre-attack", "external_id": id, "url": "https://attack.mitre.org/" + path + "/" + strings.ReplaceAll(id, ".", "/")}}
	}
	n := s.opt.Techniques
	parent := ""
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("T%04d", 1000+i)
		sub := i%5 == 4 && parent != ""
		if sub {
			id = fmt.Sprintf("T%04d.001", 1000+i-1)
		}
		o := map[string]any{"type": "attack-pattern", "id": stixUUID("attack-pattern", i), "name": fmt.Sprintf("Technique %d", i),
			"description": fmt.Sprintf("Adversaries may use technique %d.", i), "external_references": ref("attack-pattern", "techniques", id),
			"kill_chain_phases": []map[string]string{{"kill_chain_name": "mitre-attack", "phase_name": []string{"execution", "persistence", "discovery"}[i%3]}},
			"x_mitre_platforms": []string{"Windows", "Linux"}, "x_mitre_is_subtechnique": sub}
		if m, ok := s.attackMod[fmt.Sprintf("Technique %d", i)]; ok && vi >= m {
			o["description"] = fmt.Sprintf("Adversaries may use technique %d (revised in %s).", i, s.attackVer[m-1])
			o["modified"] = t0.AddDate(0, m, 0).Format("2006-01-02T15:04:05.000Z")
		}
		switch i {
		case n - 1:
			o["revoked"] = true
		case n - 2:
			o["x_mitre_deprecated"] = true
		}
		add(o)
		if sub {
			add(map[string]any{"type": "relationship", "id": stixUUID("relationship", 3*n+i), "relationship_type": "subtechnique-of",
				"source_ref": stixUUID("attack-pattern", i), "target_ref": stixUUID("attack-pattern", i-1)})
		}
		parent = id
	}
	for g := 0; g < max(n/3, 1); g++ {
		add(map[string]any{"type": "intrusion-set", "id": stixUUID("intrusion-set", g), "name": fmt.Sprintf("Group %d", g),
			"aliases": []string{fmt.Sprintf("Group %d", g), fmt.Sprintf("Bear %d", g)}, "external_references": ref("intrusion-set", "groups", fmt.Sprintf("G%04d", g+1))})
		add(map[string]any{"type": "course-of-action", "id": stixUUID("course-of-action", g), "name": fmt.Sprintf("Mitigation %d", g),
			"description": "Configure systems so that the technique fails.", "external_references": ref("course-of-action", "mitigations", fmt.Sprintf("M%04d", 1000+g))})
		for k := 0; k < 3; k++ {
			t := (g*3 + k) % n
			add(map[string]any{"type": "relationship", "id": stixUUID("relationship", g*3+k), "relationship_type": "uses",
				"source_ref": stixUUID("intrusion-set", g), "target_ref": stixUUID("attack-pattern", t), "description": fmt.Sprintf("Group %d uses technique %d.", g, t)})
		}
		add(map[string]any{"type": "relationship", "id": stixUUID("relationship", 2*n+g), "relationship_type": "mitigates",
			"source_ref": stixUUID("course-of-action", g), "target_ref": stixUUID("attack-pattern", g%n)})
	}
	coll := map[string]any{"type": "x-mitre-collection", "id": "x-mitre-collection--1f5f1533-f617-4ca8-9ab4-6a02367fa019", "spec_version": "2.1",
		"name": "Enterprise ATT&CK", "x_mitre_version": v, "created": t0.Format("2006-01-02T15:04:05.000Z"),
		"modified": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, vi-1, 0).Format("2006-01-02T15:04:05.000Z"), "x_mitre_contents": contents}
	b, _ := json.Marshal(map[string]any{"type": "bundle", "id": stixUUID("bundle", vi), "objects": append([]map[string]any{coll}, objs...)})
	return b, http.StatusOK
}

func (s *Sim) oscal() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	fams := []string{"ac", "au", "cm", "ia", "ir", "sc", "si", "ra"}
	titles := []string{"Access Control", "Audit and Accountability", "Configuration Management", "Identification and Authentication",
		"Incident Response", "System and Communications Protection", "System and Information Integrity", "Risk Assessment"}
	var groups []any
	for f := 0; f < s.opt.Families; f++ {
		fam := fams[f%len(fams)]
		if f >= len(fams) {
			fam += strconv.Itoa(f / len(fams))
		}
		n := s.opt.ControlsPerFamily
		if f == 0 {
			n += s.oscalExtra
		}
		var controls []any
		for c := 1; c <= n; c++ {
			id := fmt.Sprintf("%s-%d", fam, c)
			label := strings.ToUpper(id)
			ctl := map[string]any{"id": id, "class": "SP800-53", "title": fmt.Sprintf("%s Control %d", titles[f%len(titles)], c),
				"props": []map[string]string{{"name": "label", "value": label}, {"name": "sort-id", "value": fmt.Sprintf("%s-%02d", fam, c)}},
				"parts": []any{
					map[string]any{"id": id + "_smt", "name": "statement", "parts": []any{
						map[string]any{"id": id + "_smt.a", "name": "item", "props": []map[string]string{{"name": "label", "value": "a."}}, "prose": "Develop and document " + label + "."},
						map[string]any{"id": id + "_smt.b", "name": "item", "props": []map[string]string{{"name": "label", "value": "b."}}, "prose": "Review " + label + " yearly."}}},
					map[string]any{"id": id + "_gdn", "name": "guidance", "prose": "Guidance for " + label + "."}},
				"controls": []any{map[string]any{"id": id + ".1", "class": "SP800-53-enhancement", "title": "Automated " + label,
					"props": []map[string]string{{"name": "label", "value": label + "(1)"}}}}}
			if c == n && f == s.opt.Families-1 {
				ctl["props"] = append(ctl["props"].([]map[string]string), map[string]string{"name": "status", "value": "withdrawn"})
			}
			controls = append(controls, ctl)
		}
		groups = append(groups, map[string]any{"id": fam, "class": "family", "title": titles[f%len(titles)], "controls": controls})
	}
	b, _ := json.Marshal(map[string]any{"catalog": map[string]any{"uuid": "3a6a7ea5-1b1c-4a0e-9c2e-64f1b6a7a1ee", "metadata": map[string]any{
		"title": "NIST SP 800-53 Rev. 5 (simulated)", "last-modified": s.oscalMod.Format(time.RFC3339Nano), "version": s.oscalVer, "oscal-version": "1.1.3"},
		"groups": groups, "back-matter": map[string]any{"resources": []any{}}}})
	return b
}

// QueryCount is how many NVD queries were asked.
func (s *Sim) QueryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Queries)
}

// Windows returns the distinct lastMod windows ("start/end") asked for since the since-th
// query, sorted.
func (s *Sim) Windows(since int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, raw := range s.Queries[since:] {
		q, _ := url.ParseQuery(raw)
		if q.Get("lastModStartDate") != "" {
			seen[q.Get("lastModStartDate")+"/"+q.Get("lastModEndDate")] = true
		}
	}
	out := make([]string, 0, len(seen))
	for w := range seen {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}
