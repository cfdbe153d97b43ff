package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
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
	run := func(task taskView, want string) runView {
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		r := s.waitRun(tr.RunID, 60*time.Second)
		if r.Status != want {
			t.Fatalf("%s: %+v", task.Name, r)
		}
		return r
	}
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
