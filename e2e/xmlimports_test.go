package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/store"
)

func xmlFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "tasktype", "testdata", "xml", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The XML file imports as a new user runs them from the README: upload a NeXpose XML export
// and a Qualys scan report, run the preset tasks, read the assets, vulnerabilities and
// occurrences they created; write a mapping for an event file of their own, preview it,
// import it, and read each record's outcome. Every answer is contract-checked.
func TestXMLImportsThroughAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	op := s.newToken("xml-operator", auth.Operator)
	upload := func(name string, body []byte) string {
		r := s.send(op, "POST", "/api/v1/files?name="+name, "application/xml", bytes.NewReader(body))
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("upload %s: %d %s", name, r.status, r.body)
		}
		var f fileView
		r.decode(t, &f)
		return f.ID
	}
	create := func(typ, name string, cfg map[string]any) taskView {
		var task taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": typ, "name": name, "config": cfg, "max_attempts": 2}, &task)
		return task
	}
	run := s.runTask

	// The presets are listed with the mapping they expand to.
	var presets struct {
		Items []struct {
			Name, Kind string
			Mapping    map[string]any
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/xml-imports/presets", nil, &presets)
	if len(presets.Items) != 6 || presets.Items[0].Mapping["record"] == nil {
		t.Fatalf("presets: %+v", presets)
	}

	nexpose := upload("nexpose.xml", xmlFixture(t, "nexpose_export_2.xml"))
	scan := upload("scan.xml", xmlFixture(t, "qualys_scan.xml"))

	// A mapping that does not compile, a second source and an unknown preset are named.
	r := s.do("POST", "/api/v1/tasks", map[string]any{"type": "xml_assets", "name": "bad", "config": map[string]any{
		"file_id": nexpose, "url": "https://x.example/a.xml", "mapping": map[string]any{"record": "nodes/node", "fields": []map[string]any{
			{"target": "id", "xpath": "@address"}, {"target": "name", "xpath": "concat(@a"}}}}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "config.mapping.record") ||
		!strings.Contains(string(r.body), "config.mapping.fields[1].xpath") || !strings.Contains(string(r.body), "config.file_id") {
		t.Fatalf("bad mapping: %d %s", r.status, r.body)
	}
	r = s.do("POST", "/api/v1/tasks", map[string]any{"type": "xml_vulnerabilities", "name": "bad", "config": map[string]any{"file_id": nexpose, "preset": "qualys_scan_assets"}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "config.preset") {
		t.Fatalf("preset of another kind: %d %s", r.status, r.body)
	}

	nxAssets := create("xml_assets", "NeXpose export assets", map[string]any{"file_id": nexpose, "preset": "nexpose_xml_2_assets", "asset_source": "nexpose-hq"})
	if nxAssets.Config["preset_mapping"] == nil {
		t.Fatalf("the task shows the mapping its preset expands to: %v", nxAssets.Config)
	}
	nxVulns := create("xml_vulnerabilities", "NeXpose export vulnerabilities", map[string]any{"file_id": nexpose, "preset": "nexpose_xml_2_vulnerabilities", "asset_source": "nexpose-hq"})
	scanVulns := create("xml_vulnerabilities", "Qualys scan vulnerabilities", map[string]any{"file_id": scan, "preset": "qualys_scan_vulnerabilities", "asset_source": "qualys-dmz"})
	if got := run(nxAssets, "succeeded").Counts; got["created"] != 2 || got["records"] != 2 {
		t.Fatalf("asset counts %v", got)
	}
	if got := run(nxVulns, "succeeded"); got.Counts["created"] != 4 || got.Details["file"].(map[string]any)["id"] != nexpose {
		t.Fatalf("vulnerability run %+v", got)
	}
	if got := run(scanVulns, "succeeded").Counts; got["created"] != 4 || got["assets_created"] != 2 {
		t.Fatalf("scan counts %v", got)
	}
	if got := run(nxVulns, "succeeded").Counts; got["unchanged"] != 4 || got["created"] != 0 {
		t.Fatalf("the same file again changes nothing: %v", got)
	}
	var assets struct {
		Items []assetView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets?source=xml&limit=50", nil, &assets)
	if len(assets.Items) != 4 {
		t.Fatalf("assets: %+v", assets.Items)
	}
	var web01 assetView
	for _, a := range assets.Items {
		if a.Name == "web01.corp.example" {
			web01 = a
		}
	}
	if web01.ID == "" || web01.OpenOccurrences != 3 {
		t.Fatalf("web01 with its occurrences: %+v", assets.Items)
	}
	var occs struct {
		Items []occurrenceView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets/"+web01.ID+"/occurrences", nil, &occs)
	if len(occs.Items) != 3 || occs.Items[0].Title == "" {
		t.Fatalf("occurrences: %+v", occs.Items)
	}
	var vulns struct {
		Items []map[string]any `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/vulnerabilities?source=xml&cve=CVE-2023-48795", nil, &vulns)
	if len(vulns.Items) != 1 {
		t.Fatalf("catalogue by CVE: %+v", vulns.Items)
	}

	// The user's own event file: preview a mapping, then import it.
	events := upload("tickets.xml", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>
<tickets exported="2026-11-30">
  <ticket id="T-1" prio="High"><subject>Patch web01</subject><host>web01.corp.example</host><owner>Zo`+"\xeb"+`</owner></ticket>
  <ticket id="T-2" prio="Low"><subject>Review firewall rules</subject><owner>sam</owner></ticket>
  <ticket id="T-3" prio="Urgent"><subject></subject><owner>sam</owner></ticket>
</tickets>`))
	mapping := map[string]any{"record": "/tickets/ticket", "fields": []map[string]any{
		{"target": "key", "xpath": "@id"},
		{"target": "title", "xpath": "normalize-space(subject)"},
		{"target": "urgency", "xpath": "@prio", "value_map": map[string]string{"Low": "1", "Medium": "3", "High": "4", "Urgent": "5"}},
		{"target": "responsible", "xpath": "owner"},
		{"target": "asset", "xpath": "host"},
	}}
	var preview struct {
		Records []struct {
			Number int                 `json:"number"`
			Line   int                 `json:"line"`
			Values map[string]any      `json:"values"`
			Errors []previewFieldError `json:"errors"`
		} `json:"records"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/xml-imports/preview", map[string]any{"file_id": events, "kind": "events", "mapping": mapping}, &preview)
	if len(preview.Records) != 3 || preview.Records[0].Values["responsible"] != "Zoë" || preview.Records[0].Values["urgency"] != float64(4) ||
		len(preview.Records[2].Errors) != 1 || preview.Records[2].Errors[0].Target != "title" || preview.Records[2].Line != 5 {
		t.Fatalf("preview: %+v", preview.Records)
	}
	evTask := create("xml_events", "Ticket export", map[string]any{"file_id": events, "mapping": mapping, "max_failed_percent": 50})
	// The task's own preview reads its file and mapping.
	s.must(http.StatusOK, "POST", "/api/v1/xml-imports/preview", map[string]any{"task_id": evTask.ID, "limit": 1}, &preview)
	if len(preview.Records) != 1 {
		t.Fatalf("task preview: %+v", preview.Records)
	}
	er := run(evTask, "succeeded")
	if er.Counts["created"] != 2 || er.Counts["failed"] != 1 {
		t.Fatalf("event counts %v", er.Counts)
	}
	var issues struct {
		Items []struct {
			Number  int    `json:"number"`
			Line    int    `json:"line"`
			Outcome string `json:"outcome"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/runs/"+er.ID+"/record-issues?outcome=failed", nil, &issues)
	if len(issues.Items) != 1 || issues.Items[0].Number != 3 || issues.Items[0].Line != 5 || issues.Items[0].Field != "title" {
		t.Fatalf("record issues: %+v", issues.Items)
	}
	var evs struct {
		Items []map[string]any `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/events?asset_id="+web01.ID, nil, &evs)
	if len(evs.Items) != 1 || evs.Items[0]["title"] != "Patch web01" || evs.Items[0]["urgency"] != float64(4) || evs.Items[0]["source_key"] != "T-1" {
		t.Fatalf("imported event on its asset: %+v", evs.Items)
	}
	if r := s.do("GET", "/api/v1/runs/"+er.ID+"/record-issues?outcome=bogus", nil); r.status != http.StatusBadRequest {
		t.Fatalf("bad outcome: %d", r.status)
	}
	// A file that is not XML fails the run with the file's name and line; nothing changes.
	broken := upload("broken.xml", []byte("<tickets>\n<ticket id=\"T-9\"><subject>x</subject>\n</tickets>"))
	bad := create("xml_events", "Broken export", map[string]any{"file_id": broken, "mapping": mapping})
	fr := run(bad, "failed")
	if !strings.Contains(fr.Error, "broken.xml") || !strings.Contains(fr.Error, "line") {
		t.Fatalf("broken file: %q", fr.Error)
	}
}

type previewFieldError struct {
	Target  string `json:"target"`
	Message string `json:"message"`
}

// The worker process is killed with SIGKILL in the middle of an XML import: once while the
// file is being fetched, once after the apply committed and before the run was recorded. A
// fresh worker finishes each run; the catalogue, assets and occurrences are what one clean
// run leaves (checked against a stack that ran without a crash).
func TestXMLImportSurvivesWorkerKills(t *testing.T) {
	bin := buildWorker(t)
	doc := xmlFixture(t, "nexpose_export_2.xml")
	type outcome struct {
		counts map[string]int64
		state  string
	}
	scenario := func(kill string) outcome {
		started := make(chan struct{}, 10)
		release := make(chan struct{})
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			started <- struct{}{}
			if kill == "during fetch" && n == 1 {
				w.Header().Set("Content-Length", fmt.Sprint(len(doc)))
				_, _ = w.Write(doc[:len(doc)/2])
				w.(http.Flusher).Flush()
				select { // the first attempt dies with its worker
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			_, _ = w.Write(doc)
		}))
		defer srv.Close()
		defer close(release)
		s := newStack(t, stackOptions{noWorker: kill != ""})
		var w *exec.Cmd
		if kill != "" {
			w = s.startProcess(bin, "worker-1")
		}
		var task taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "xml_vulnerabilities", "name": "nexpose url", "max_attempts": 3,
			"config": map[string]any{"url": srv.URL + "/export.xml", "allow_plaintext_http": true, "preset": "nexpose_xml_2_vulnerabilities"}}, &task)
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		switch kill {
		case "during fetch":
			<-started
			killProcess(t, w)
		case "after apply":
			// Once the file is being fetched (the attempt is recorded), hold the run's row.
			<-started
			killAfterApply(t, s, tr.RunID, "xml_imports", w)
		}
		if kill != "" {
			s.startProcess(bin, "worker-2")
		}
		run := s.waitRun(tr.RunID, 120*time.Second)
		if run.Status != store.StatusSucceeded || (kill != "" && run.Attempt < 2) || (run.Details["replayed"] == true) != (kill == "after apply") {
			t.Fatalf("%s: run %+v (the server answered %d requests for the file)", kill, run, calls.Load())
		}
		var state string
		if err := s.store.DB.NewRaw(`SELECT string_agg(x, ' ' ORDER BY x) FROM (
			SELECT o.identity || '/' || o.status || '/' || a.identity_key || '/' || v.vendor_id || '/' || v.title AS x
			FROM vulnerability_occurrences o JOIN assets a ON a.id = o.asset_id JOIN vulnerabilities v ON v.id = o.vulnerability_id
			UNION ALL SELECT 'files:' || count(*) FROM import_files UNION ALL SELECT 'chunks:' || count(*) FROM import_file_chunks
			UNION ALL SELECT 'imports:' || count(*) FROM xml_imports UNION ALL SELECT 'assets:' || count(*) FROM assets) s`).Scan(context.Background(), &state); err != nil {
			t.Fatal(err)
		}
		delete(run.Counts, "replayed")
		return outcome{counts: run.Counts, state: state}
	}
	clean := scenario("")
	if clean.counts["created"] != 4 {
		t.Fatalf("the clean run: %v", clean.counts)
	}
	for _, kill := range []string{"during fetch", "after apply"} {
		if got := scenario(kill); fmt.Sprint(got.counts) != fmt.Sprint(clean.counts) || got.state != clean.state {
			t.Fatalf("killed %s:\n%+v\na clean run:\n%+v", kill, got, clean)
		}
	}
}
