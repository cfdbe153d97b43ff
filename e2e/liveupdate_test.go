package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-io/tributary/internal/feedsim"
)

// kevFeed serves a KEV catalogue with an ETag, answering 304 to a matching If-None-Match.
type kevFeed struct {
	mu   sync.Mutex
	doc  []byte
	etag string
	hits []string
}

func (f *kevFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits = append(f.hits, r.Header.Get("If-None-Match"))
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(f.doc)
}

func (f *kevFeed) set(doc []byte, etag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doc, f.etag = doc, etag
}

// The Live Update Service with the KEV catalogue: the catalogue's vulnerabilities of listed
// CVEs show it and filter on it; an unchanged feed (304) is a run with nothing to do; check
// mode changes nothing; a new version counts what it adds and revokes; a bad feed changes
// nothing; an admin rolls back to the previous version.
func TestLiveUpdateKEV(t *testing.T) {
	s := newStack(t, stackOptions{})
	doc, err := os.ReadFile("../feeds/testdata/kev.json")
	if err != nil {
		t.Fatal(err)
	}
	feed := &kevFeed{}
	feed.set(doc, `"v1"`)
	srv := httptest.NewServer(feed)
	defer srv.Close()

	// The catalogue: NeXpose vulnerabilities, one of them CVE-2023-48795.
	var f fileView
	s.send(s.token, "POST", "/api/v1/files?name=nx.xml", "application/xml", bytes.NewReader(xmlFixture(t, "nexpose_export_2.xml"))).decode(t, &f)
	var imp taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "xml_vulnerabilities", "name": "nx", "config": map[string]any{
		"file_id": f.ID, "preset": "nexpose_xml_2_vulnerabilities"}}, &imp)
	run := s.runTask
	run(imp, "succeeded")

	var check, apply taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "kev check", "config": map[string]any{
		"url": srv.URL + "/kev.json", "allow_plaintext_http": true, "mode": "check"}}, &check)
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "kev", "config": map[string]any{
		"url": srv.URL + "/kev.json", "allow_plaintext_http": true}}, &apply)
	if r := run(check, "succeeded"); r.Counts["added"] != 3 {
		t.Fatalf("check: %+v", r.Counts)
	}
	type vulnPage struct {
		Items []struct {
			VendorID       string         `json:"vendor_id"`
			KnownExploited map[string]any `json:"known_exploited"`
		} `json:"items"`
	}
	var vp vulnPage
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?known_exploited=true", nil, &vp)
	if len(vp.Items) != 0 {
		t.Fatalf("check mode changed the catalogue: %+v", vp)
	}
	if r := run(apply, "succeeded"); r.Counts["added"] != 3 || r.Details["version"] != "2026.11.30" {
		t.Fatalf("apply: %+v", r)
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?known_exploited=true", nil, &vp)
	if len(vp.Items) != 1 || vp.Items[0].VendorID != "ssh-cve-2023-48795" || vp.Items[0].KnownExploited["date_added"] != "2026-10-01" ||
		vp.Items[0].KnownExploited["due_date"] != "2026-10-22" || vp.Items[0].KnownExploited["known_ransomware_use"] != false {
		t.Fatalf("known exploited: %+v", vp)
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?known_exploited=false", nil, &vp)
	if len(vp.Items) != 2 {
		t.Fatalf("not known exploited: %+v", vp)
	}
	// Its occurrences show it too, on their asset's listing.
	var assets struct {
		Items []assetView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets?source=xml", nil, &assets)
	var occs struct {
		Items []struct {
			VendorID       string `json:"vendor_id"`
			KnownExploited bool   `json:"known_exploited"`
		} `json:"items"`
	}
	known := 0
	for _, a := range assets.Items {
		s.must(http.StatusOK, "GET", "/api/v1/assets/"+a.ID+"/occurrences?known_exploited=true", nil, &occs)
		for _, o := range occs.Items {
			if !o.KnownExploited || o.VendorID != "ssh-cve-2023-48795" {
				t.Fatalf("occurrence: %+v", o)
			}
			known++
		}
	}
	if known != 2 {
		t.Fatalf("%d known-exploited occurrences, want 2 (two nodes run the vulnerable OpenSSH)", known)
	}
	// Unchanged: the conditional request answers 304.
	if r := run(apply, "succeeded"); r.Details["not_modified"] != true || r.Counts["unchanged"] != 3 {
		t.Fatalf("304: %+v", r)
	}
	// A new version: one CVE revoked, one changed, one added.
	v2 := strings.Replace(string(doc), `"catalogVersion": "2026.11.30"`, `"catalogVersion": "2026.12.01"`, 1)
	v2 = strings.Replace(v2, "CVE-2021-44228", "CVE-2026-2001", 1)
	v2 = strings.Replace(v2, `"dueDate": "2026-10-22"`, `"dueDate": "2026-10-29"`, 1)
	feed.set([]byte(v2), `"v2"`)
	if r := run(apply, "succeeded"); r.Counts["added"] != 1 || r.Counts["revoked"] != 1 || r.Counts["changed"] != 1 || r.Counts["unchanged"] != 1 {
		t.Fatalf("v2: %+v", r.Counts)
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?known_exploited=true", nil, &vp)
	if len(vp.Items) != 1 || vp.Items[0].KnownExploited["due_date"] != "2026-10-29" {
		t.Fatalf("after v2: %+v", vp)
	}
	// A cut feed changes nothing.
	feed.set([]byte(v2[:len(v2)/2]), `"v3"`)
	if r := run(apply, "failed"); !strings.Contains(r.Error, "nothing was changed") {
		t.Fatalf("cut feed: %+v", r)
	}
	// Roll back to 2026.11.30.
	var back struct {
		Version string `json:"version"`
		Current bool   `json:"current"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/content/kev/rollback", nil, &back)
	if back.Version != "2026.11.30" || !back.Current {
		t.Fatalf("rollback: %+v", back)
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?known_exploited=true", nil, &vp)
	if len(vp.Items) != 1 || vp.Items[0].KnownExploited["due_date"] != "2026-10-22" {
		t.Fatalf("after the rollback: %+v", vp)
	}
	var versions struct {
		Items []struct {
			Version      string  `json:"version"`
			Current      bool    `json:"current"`
			RolledBackAt *string `json:"rolled_back_at"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/versions?source=kev", nil, &versions)
	if len(versions.Items) != 2 || versions.Items[0].Version != "2026.12.01" || versions.Items[0].RolledBackAt == nil || !versions.Items[1].Current {
		t.Fatalf("versions: %+v", versions)
	}
	if r := s.do("POST", "/api/v1/content/kev/rollback", nil); r.status != http.StatusConflict {
		t.Fatalf("no earlier version: %d %s", r.status, r.body)
	}

	// Offline: the same format from an uploaded file; the same file again changes nothing.
	var up fileView
	s.send(s.token, "POST", "/api/v1/files?name=kev.json", "application/octet-stream", strings.NewReader(v2)).decode(t, &up)
	var offline taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "kev offline", "config": map[string]any{
		"file_id": up.ID}}, &offline)
	if r := run(offline, "succeeded"); r.Details["version"] != "2026.12.01" || r.Counts["changed"] != 1 || r.Details["url"] != "file kev.json" {
		t.Fatalf("offline: %+v", r)
	}
	if r := run(offline, "succeeded"); r.Details["not_modified"] != true {
		t.Fatalf("offline again: %+v", r)
	}
}

// The NVD, ATT&CK and OSCAL feeds through the API, against the simulated publishers: the
// catalogue's vulnerabilities show the NVD's score for their CVEs; threats and controls are
// listed, searched and read with their relationships; a customer's copy survives the feed's
// next version; a rollback restores the previous version; bad configurations are refused
// field by field.
func TestLiveUpdateContentThroughAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	sim := feedsim.New(feedsim.Options{Seed: 5, CVEs: 300, Named: []string{"CVE-2023-48795"}, Techniques: 9})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	run := s.runTask
	var f fileView
	s.send(s.token, "POST", "/api/v1/files?name=nx.xml", "application/xml", bytes.NewReader(xmlFixture(t, "nexpose_export_2.xml"))).decode(t, &f)
	var imp taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "xml_vulnerabilities", "name": "nx", "config": map[string]any{
		"file_id": f.ID, "preset": "nexpose_xml_2_vulnerabilities"}}, &imp)
	run(imp, "succeeded")

	// Configurations are checked field by field.
	for field, cfg := range map[string]map[string]any{
		"config.checksum_url":     {"source": "nvd", "url": srv.URL + feedsim.NVDPath, "allow_plaintext_http": true, "checksum_url": srv.URL + "/x.sha256"},
		"config.collection":       {"source": "oscal", "collection": "Enterprise ATT&CK"},
		"config.results_per_page": {"source": "nvd", "results_per_page": 5000},
		"config.source":           {"source": "cpe"},
	} {
		r := s.do("POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "bad " + field, "config": cfg})
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), field) {
			t.Errorf("%s: %d %s", field, r.status, r.body)
		}
	}

	var nvd, attack, oscal taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "NVD", "config": map[string]any{
		"source": "nvd", "url": srv.URL + feedsim.NVDPath, "allow_plaintext_http": true, "api_key": "nvd-key-e2e", "results_per_page": 100}}, &nvd)
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "ATT&CK", "config": map[string]any{
		"source": "attack", "url": srv.URL + feedsim.ATTACKIndexPath, "allow_plaintext_http": true, "collection": "Enterprise ATT&CK"}}, &attack)
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "SP 800-53", "config": map[string]any{
		"source": "oscal", "url": srv.URL + feedsim.OSCALPath, "allow_plaintext_http": true, "checksum_url": srv.URL + feedsim.OSCALChecksumPath}}, &oscal)
	if r := run(nvd, "succeeded"); r.Counts["added"] != 301 || r.Details["requests"] != float64(4) {
		t.Fatalf("nvd: %+v", r)
	}
	if strings.Contains(string(s.do("GET", "/api/v1/tasks/"+nvd.ID, nil).body), "nvd-key-e2e") {
		t.Fatal("the API key is shown")
	}
	var vp struct {
		Items []struct {
			VendorID string `json:"vendor_id"`
			NVD      *struct {
				CVEID    string   `json:"cve_id"`
				Score    *float64 `json:"score"`
				Severity string   `json:"severity"`
			} `json:"nvd"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?cve=CVE-2023-48795", nil, &vp)
	if len(vp.Items) != 1 || vp.Items[0].NVD == nil || vp.Items[0].NVD.CVEID != "CVE-2023-48795" || vp.Items[0].NVD.Score == nil {
		t.Fatalf("NVD on the catalogue: %+v", vp)
	}
	run(attack, "succeeded")
	if r := run(oscal, "succeeded"); r.Details["checksum_verified"] != true {
		t.Fatalf("oscal: %+v", r)
	}

	type item struct {
		ID            int64          `json:"id"`
		ItemID        string         `json:"item_id"`
		Origin        string         `json:"origin"`
		Name          string         `json:"name"`
		Description   string         `json:"description"`
		State         string         `json:"state"`
		Data          map[string]any `json:"data"`
		Relationships []struct {
			Type       string `json:"type"`
			ExternalID string `json:"external_id"`
			Direction  string `json:"direction"`
		} `json:"relationships"`
	}
	var items struct {
		Items      []item `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?source=attack&external_id=t1000", nil, &items)
	if len(items.Items) != 1 || items.Items[0].Name != "Technique 0" {
		t.Fatalf("T1000: %+v", items)
	}
	var t0 item
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/content/items/%d", items.Items[0].ID), nil, &t0)
	kinds := map[string]bool{}
	for _, r := range t0.Relationships {
		kinds[r.Type+" "+r.Direction] = true
	}
	if !kinds["uses in"] || !kinds["mitigates in"] || t0.Data["url"] != "https://attack.mitre.org/techniques/T1000" {
		t.Fatalf("T1000 relationships: %+v", t0)
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?source=attack&kind=intrusion-set&q=bear%201", nil, &items)
	if len(items.Items) != 1 || items.Items[0].Name != "Group 1" {
		t.Fatalf("a group by its alias: %+v", items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?source=attack&state=revoked", nil, &items)
	if len(items.Items) != 1 {
		t.Fatalf("revoked: %+v", items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?source=oscal&q=review%20AC-2&limit=2", nil, &items)
	if len(items.Items) != 1 || items.Items[0].ItemID != "ac-2" {
		t.Fatalf("search controls: %+v", items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?source=oscal&kind=control&limit=5", nil, &items)
	if len(items.Items) != 5 || items.NextCursor == "" {
		t.Fatalf("paging: %+v", items)
	}

	// A customer's copy of technique 2 survives MITRE's next version.
	s.must(http.StatusOK, "GET", "/api/v1/content/items?source=attack&external_id=T1002", nil, &items)
	var cp item
	s.must(http.StatusCreated, "POST", fmt.Sprintf("/api/v1/content/items/%d/copy", items.Items[0].ID), map[string]any{"name": "Our T1002"}, &cp)
	if cp.Origin != "customer" || cp.Name != "Our T1002" {
		t.Fatalf("copy: %+v", cp)
	}
	s.must(http.StatusConflict, "POST", fmt.Sprintf("/api/v1/content/items/%d/copy", items.Items[0].ID), nil, nil)
	s.must(http.StatusBadRequest, "POST", fmt.Sprintf("/api/v1/content/items/%d/copy", items.Items[0].ID), map[string]any{"name": ""}, nil)
	sim.PublishATTACK("18.1", "Technique 2")
	if r := run(attack, "succeeded"); r.Counts["changed"] != 1 || r.Details["version"] != "18.1" {
		t.Fatalf("18.1: %+v", r)
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?external_id=T1002", nil, &items)
	descs := map[string]string{}
	for _, it := range items.Items {
		descs[it.Origin] = it.Description
	}
	if len(items.Items) != 2 || !strings.Contains(descs["attack"], "revised in 18.1") || strings.Contains(descs["customer"], "revised") {
		t.Fatalf("after 18.1: %+v", items)
	}
	// Roll ATT&CK back to 18.0: MITRE's technique is as it was; the copy stays.
	var back struct {
		Version string `json:"version"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/content/attack/rollback", nil, &back)
	s.must(http.StatusOK, "GET", "/api/v1/content/items?external_id=T1002&origin=attack", nil, &items)
	if back.Version != "18.0" || len(items.Items) != 1 || strings.Contains(items.Items[0].Description, "revised") {
		t.Fatalf("rollback: %+v %+v", back, items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/items?origin=customer", nil, &items)
	if len(items.Items) != 1 {
		t.Fatalf("the customer's copy after the rollback: %+v", items)
	}
	var versions struct {
		Items []struct {
			Source    string  `json:"source"`
			Version   string  `json:"version"`
			Watermark *string `json:"watermark"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/content/versions?source=nvd", nil, &versions)
	if len(versions.Items) != 1 || versions.Items[0].Watermark == nil {
		t.Fatalf("nvd versions: %+v", versions)
	}
	s.must(http.StatusBadRequest, "GET", "/api/v1/content/items?source=cpe", nil, nil)
	s.must(http.StatusNotFound, "GET", "/api/v1/content/items/999999999", nil, nil)
}
