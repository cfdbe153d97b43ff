package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
)

type assetView struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Source          string   `json:"source"`
	VendorID        string   `json:"vendor_id"`
	Relevance       int      `json:"relevance"`
	Criticality     *int     `json:"criticality"`
	EditedFields    []string `json:"edited_fields"`
	Sources         []string `json:"sources"`
	OpenOccurrences int64    `json:"open_occurrences"`
	RiskScore       int64    `json:"risk_score"`
	ActiveFindings  int64    `json:"active_findings"`
}

type occurrenceView struct {
	ID              int64  `json:"id"`
	AssetID         string `json:"asset_id"`
	VulnerabilityID int64  `json:"vulnerability_id"`
	Status          string `json:"status"`
	RiskScore       int64  `json:"risk_score"`
	Title           string `json:"title"`
}

// The four scanner import tasks as a new user runs them from the README: create each against
// the simulators, test its connection, run it, and read assets, the catalogue and
// occurrences through the API (every answer contract-checked), with the password kept out of
// responses and Temporal history.
func TestScannerImportsThroughAPI(t *testing.T) {
	const password = "qualys-Secret-4711"
	qs := qualyssim.New(qualyssim.Options{Seed: 3, AssetGroups: 2, HostsPerGroup: 6, DetectionsPerHost: 3, Username: "api-user", Password: password})
	defer qs.Close()
	ns := nexposesim.New(nexposesim.Options{Seed: 3, Sites: 2, AssetsPerSite: 3, VulnsPerAsset: 2})
	defer ns.Close()
	s := newStack(t, stackOptions{})

	create := func(typ string, cfg map[string]any) taskView {
		var task taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": typ, "name": typ, "config": cfg, "max_attempts": 2}, &task)
		if task.Config["password_set"] != true || strings.Contains(fmt.Sprint(task.Config), password) {
			t.Fatalf("task config: %v", task.Config)
		}
		return task
	}
	run := func(task taskView) runView {
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", map[string]any{"trigger": "manual"}, &tr)
		if tr.WorkflowID != "task-type/"+task.Type {
			t.Fatalf("workflow ID %q", tr.WorkflowID)
		}
		r := s.waitRun(tr.RunID, 60*time.Second)
		if r.Status != "succeeded" {
			t.Fatalf("%s run: %+v", task.Type, r)
		}
		return r
	}
	qcfg := map[string]any{"base_url": qs.URL, "username": "api-user", "password": password, "allow_plaintext_http": true, "page_size": 4}

	// A password is required; bad IP ranges and groups are named.
	r := s.do("POST", "/api/v1/tasks", map[string]any{"type": "qualys_assets", "name": "x", "config": map[string]any{
		"base_url": qs.URL, "username": "u", "allow_plaintext_http": true, "ip_ranges": []string{"10.0.0.300/8"}, "groups": []string{"g1"}}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "config.ip_ranges[0]") || !strings.Contains(string(r.body), "config.groups[0]") {
		t.Fatalf("bad config: %d %s", r.status, string(r.body))
	}
	r = s.do("POST", "/api/v1/tasks", map[string]any{"type": "qualys_assets", "name": "x", "config": map[string]any{
		"base_url": qs.URL, "username": "u", "allow_plaintext_http": true}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "config.password") {
		t.Fatalf("no password: %d %s", r.status, string(r.body))
	}

	qa := create("qualys_assets", qcfg)
	var probe struct {
		OK        bool   `json:"ok"`
		ErrorKind string `json:"error_kind"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/tasks/"+qa.ID+"/test-connection", nil, &probe)
	if !probe.OK {
		t.Fatalf("test-connection: %+v", probe)
	}
	if run := run(qa); run.Counts["created"] != 12 {
		t.Fatalf("qualys assets: %+v", run)
	}
	qv := create("qualys_vulnerabilities", qcfg)
	vrun := run(qv)
	if vrun.Counts["created"] == 0 || vrun.Counts["assets_created"] != 0 || vrun.Counts["catalog_created"] != 3 {
		t.Fatalf("qualys vulnerabilities: %+v", vrun)
	}

	var assets struct {
		Items      []assetView `json:"items"`
		NextCursor string      `json:"next_cursor"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets?source=qualys&limit=5", nil, &assets)
	if len(assets.Items) != 5 || assets.NextCursor == "" {
		t.Fatalf("assets page: %+v", assets)
	}
	a := assets.Items[0]
	if a.OpenOccurrences == 0 || a.RiskScore == 0 || len(a.Sources) == 0 {
		t.Fatalf("asset: %+v", a)
	}
	// An admin's edit is kept by the next import.
	var edited assetView
	s.must(http.StatusOK, "PATCH", "/api/v1/assets/"+a.ID, map[string]any{"name": "Payments DB", "relevance": 5, "criticality": 90}, &edited)
	if edited.Name != "Payments DB" || edited.Relevance != 5 || edited.RiskScore != a.RiskScore/3*5 || strings.Join(edited.EditedFields, ",") != "criticality,name,relevance" {
		t.Fatalf("edited asset: %+v (before %+v)", edited, a)
	}
	if r := s.do("PATCH", "/api/v1/assets/"+a.ID, map[string]any{"relevance": 9}); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "relevance") {
		t.Fatalf("bad relevance: %d %s", r.status, string(r.body))
	}
	run(qa)
	var again assetView
	s.must(http.StatusOK, "GET", "/api/v1/assets/"+a.ID, nil, &again)
	if again.Name != "Payments DB" || again.Relevance != 5 {
		t.Fatalf("the import overwrote an admin's edit: %+v", again)
	}
	var occ struct {
		Items []occurrenceView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets/"+a.ID+"/occurrences?status=open", nil, &occ)
	if int64(len(occ.Items)) != again.OpenOccurrences || occ.Items[0].Title == "" || occ.Items[0].RiskScore == 0 {
		t.Fatalf("occurrences: %+v", occ)
	}
	var vuln struct {
		ID          int64    `json:"id"`
		Title       string   `json:"title"`
		Level       *int     `json:"level"`
		CVEs        []string `json:"cves"`
		Description string   `json:"description"`
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/vulnerabilities/%d", occ.Items[0].VulnerabilityID), nil, &vuln)
	if vuln.Title == "" || vuln.Level == nil || len(vuln.CVEs) != 1 || strings.Contains(vuln.Description, "<P>") {
		t.Fatalf("vulnerability: %+v", vuln)
	}
	var cat struct {
		Items []struct {
			ID       int64  `json:"id"`
			VendorID string `json:"vendor_id"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?source=qualys&cve="+vuln.CVEs[0], nil, &cat)
	if len(cat.Items) != 1 || cat.Items[0].ID != vuln.ID {
		t.Fatalf("catalogue by CVE: %+v", cat)
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/vulnerabilities/%d/occurrences", vuln.ID), nil, &occ)
	if len(occ.Items) == 0 {
		t.Fatal("no occurrences of the vulnerability")
	}
	for _, bad := range []string{"/api/v1/assets?source=mainframe", "/api/v1/assets?min_criticality=101", "/api/v1/vulnerabilities/abc",
		"/api/v1/assets/" + a.ID + "/occurrences?status=lost", "/api/v1/vulnerabilities?colour=red"} {
		if r := s.do("GET", bad, nil); r.status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", bad, r.status, string(r.body))
		}
	}
	if r := s.do("GET", "/api/v1/vulnerabilities/999999", nil); r.status != http.StatusNotFound {
		t.Fatalf("missing vulnerability: %d", r.status)
	}

	// NeXpose: assets by site, then vulnerabilities of the whole console.
	ncfg := map[string]any{"base_url": ns.URL, "username": "sim", "password": "sim-password", "allow_plaintext_http": true}
	na := create("nexpose_assets", map[string]any{"base_url": ns.URL, "username": "sim", "password": "sim-password", "allow_plaintext_http": true, "groups": []string{"1"}})
	if run := run(na); run.Counts["created"] != 3 {
		t.Fatalf("nexpose assets: %+v", run)
	}
	nv := create("nexpose_vulnerabilities", ncfg)
	nrun := run(nv)
	if nrun.Counts["assets_created"] != 3 || nrun.Counts["excepted"] == 0 || nrun.Counts["created"] == 0 {
		t.Fatalf("nexpose vulnerabilities: %+v", nrun)
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets?source=nexpose", nil, &assets)
	if len(assets.Items) != 6 {
		t.Fatalf("nexpose assets: %+v", assets.Items)
	}
	// The password never reached Temporal or the logs.
	for _, task := range []taskView{qa, qv} {
		assertHistoryFree(t, s, "task-type/"+task.Type, "", password)
	}
	if strings.Contains(s.workerLog.String(), password) || strings.Contains(s.apiLog.String(), password) {
		t.Fatal("the password is in the logs")
	}
}
