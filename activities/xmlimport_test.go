package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
)

type xmlFixture struct {
	*scanFixture
	acts *activities.XMLImports
}

func newXMLFixture(t *testing.T) *xmlFixture {
	f := newScanFixture(t)
	return &xmlFixture{scanFixture: f, acts: &activities.XMLImports{Store: f.st, Keyring: f.keys, HeartbeatEvery: 10 * time.Millisecond, DropDir: t.TempDir()}}
}

// upload stores content as a file and returns its ID.
func (f *xmlFixture) upload(name string, content []byte) uuid.UUID {
	f.t.Helper()
	file, _, err := f.st.Files.Put(context.Background(), &store.File{Name: name, CreatedBy: "test", CreatedAt: time.Now()}, bytes.NewReader(content), 1<<30)
	if err != nil {
		f.t.Fatal(err)
	}
	return file.ID
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "tasktype", "testdata", "xml", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *xmlFixture) runXML(tk *store.Task, runID uuid.UUID) (map[string]int64, activities.XMLImportDetails, error) {
	f.t.Helper()
	return execTask[activities.XMLImportDetails](f.t, f.st, f.acts, f.acts.ImportXMLFile, runID, tk.ID)
}

func (f *xmlFixture) mustXML(tk *store.Task) (map[string]int64, activities.XMLImportDetails) {
	f.t.Helper()
	counts, det, err := f.runXML(tk, f.newRun(tk))
	if err != nil {
		f.t.Fatalf("run %s: %v", tk.Type, err)
	}
	return counts, det
}

// setFile points the task at another file.
func (f *xmlFixture) setFile(tk *store.Task, id uuid.UUID) {
	f.t.Helper()
	var cfg map[string]any
	_ = json.Unmarshal(tk.Config, &cfg)
	cfg["file_id"] = id.String()
	tk.Config, _ = json.Marshal(cfg)
	if _, err := f.st.DB.NewUpdate().Table("integration_tasks").Set("config = ?", string(tk.Config)).Where("id = ?", tk.ID).Exec(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *xmlFixture) scalar(q string, args ...any) int64 {
	f.t.Helper()
	var n int64
	if err := f.st.DB.NewRaw(q, args...).Scan(context.Background(), &n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestXMLImportNexposePresets(t *testing.T) {
	f := newXMLFixture(t)
	doc := fixture(t, "nexpose_export_2.xml")
	file := f.upload("nexpose.xml", doc)
	assets := f.task("xml_assets", map[string]any{"file_id": file, "preset": "nexpose_xml_2_assets", "asset_source": "nexpose-hq"})
	counts, det := f.mustXML(assets)
	wantCounts(t, counts, map[string]int64{"records": 2, "created": 2, "failed": 0})
	if det.File == nil || det.File.ID != file || det.File.Source != "upload" || len(det.File.SHA256) != 64 {
		t.Errorf("details name the file: %+v", det.File)
	}
	if got := f.scalar("SELECT count(*) FROM assets WHERE identity_key = 'xml:nexpose-hq:1001' AND name = 'web01.corp.example' AND relevance = 5 AND source = 'xml'"); got != 1 {
		t.Errorf("asset 1001 as mapped: %d", got)
	}
	counts, _ = f.mustXML(assets)
	wantCounts(t, counts, map[string]int64{"records": 2, "created": 0, "updated": 0, "unchanged": 2})

	vulns := f.task("xml_vulnerabilities", map[string]any{"file_id": file, "preset": "nexpose_xml_2_vulnerabilities", "asset_source": "nexpose-hq"})
	counts, _ = f.mustXML(vulns)
	wantCounts(t, counts, map[string]int64{"records": 4, "created": 4, "catalog_created": 3, "assets_created": 0, "failed": 0, "skipped": 0})
	if got := f.scalar(`SELECT count(*) FROM vulnerability_occurrences o JOIN assets a ON a.id = o.asset_id
		WHERE o.task_id = ? AND a.identity_key IN ('xml:nexpose-hq:1001', 'xml:nexpose-hq:10.0.0.6')`, vulns.ID); got != 4 {
		t.Errorf("occurrences on the assets of the asset import: %d", got)
	}
	if got := f.scalar(`SELECT count(*) FROM vulnerabilities WHERE source = 'xml' AND scope = 'nexpose-hq' AND vendor_id = 'ssh-cve-2023-48795'
		AND level = 3 AND cves = '{CVE-2023-48795,CVE-2023-51385}'`); got != 1 {
		t.Errorf("catalogue entry: %d", got)
	}
	if got := f.scalar(`SELECT count(*) FROM vulnerability_occurrences WHERE task_id = ? AND port = 443 AND protocol = 'tcp'`, vulns.ID); got != 1 {
		t.Errorf("service occurrence with its port: %d", got)
	}
	counts, _ = f.mustXML(vulns)
	wantCounts(t, counts, map[string]int64{"created": 0, "updated": 0, "unchanged": 4, "closed": 0})

	// The next report lacks one test: its occurrence closes; the report after brings it back.
	less := bytes.Replace(doc, []byte(`<test id="GENERIC-WEAK-PASSWORD"`), []byte(`<removed id="GENERIC-WEAK-PASSWORD"`), 1)
	less = bytes.Replace(less, []byte(`Weak credentials may be accepted.</Paragraph></test>`), []byte(`Weak credentials may be accepted.</Paragraph></removed>`), 1)
	f.setFile(vulns, f.upload("nexpose-2.xml", less))
	counts, _ = f.mustXML(vulns)
	wantCounts(t, counts, map[string]int64{"records": 3, "unchanged": 3, "closed": 1})
	f.setFile(vulns, file)
	counts, _ = f.mustXML(vulns)
	wantCounts(t, counts, map[string]int64{"records": 4, "reopened": 1, "unchanged": 3})
}

func TestXMLImportQualysReports(t *testing.T) {
	f := newXMLFixture(t)
	adr := f.upload("adr.xml", fixture(t, "qualys_asset_data_report.xml"))
	vulns := f.task("xml_vulnerabilities", map[string]any{"file_id": adr, "preset": "qualys_asset_data_report_vulnerabilities", "asset_source": "qualys-eu"})
	counts, det := f.mustXML(vulns)
	// Ig (information gathered) is not imported by default; Fixed closes by absence.
	wantCounts(t, counts, map[string]int64{"records": 5, "created": 3, "skipped": 2, "failed": 0, "assets_created": 2, "catalog_created": 2})
	if len(det.Issues) != 2 || det.Issues[0].Outcome != store.IssueSkipped || det.Issues[0].Number != 3 || det.Issues[0].Field != "detection_type" {
		t.Errorf("skips listed with record and reason: %+v", det.Issues)
	}
	// ISO-8859-1 was converted: the title reads in UTF-8.
	if got := f.scalar(`SELECT count(*) FROM vulnerabilities WHERE scope = 'qualys-eu' AND title = 'Microsoft Windows Security Update for October 2026 é Café'`); got != 1 {
		t.Error("the Latin-1 title was not stored as UTF-8")
	}
	if got := f.scalar(`SELECT count(*) FROM assets WHERE identity_key = 'xml:qualys-eu:10.1.0.10' AND name = 'files.corp.example'`); got != 1 {
		t.Error("the asset of an unknown host is created from the record's host data")
	}

	// The scan report matches its hosts to existing assets by IP (the assets above).
	scan := f.upload("scan.xml", fixture(t, "qualys_scan.xml"))
	byIP := f.task("xml_vulnerabilities", map[string]any{"file_id": scan, "preset": "qualys_scan_vulnerabilities", "asset_source": "qualys-scan",
		"match_assets_by": "ip", "unknown_assets": "skip"})
	counts, det = f.mustXML(byIP)
	wantCounts(t, counts, map[string]int64{"records": 4, "created": 0, "skipped": 4, "assets_created": 0})
	if len(det.Issues) != 4 || !strings.Contains(det.Issues[0].Message, "no asset has the ip 192.0.2.10") || det.Issues[0].Line == 0 {
		t.Errorf("unknown hosts skipped with a reason: %+v", det.Issues)
	}
	adrAssets := f.task("xml_assets", map[string]any{"file_id": scan, "preset": "qualys_scan_assets", "asset_source": "qualys-scan"})
	wantCounts(t, must2(f.mustXML(adrAssets)), map[string]int64{"created": 2})
	counts, _ = f.mustXML(byIP)
	wantCounts(t, counts, map[string]int64{"records": 4, "created": 4, "skipped": 0})
}

func must2[A, B any](a A, _ B) A { return a }

// eventsFile writes an event export of the customer's own tool.
func eventsFile(rows ...string) []byte {
	return []byte(`<?xml version="1.0"?><export><generated at="2026-11-30"/><items>` + strings.Join(rows, "") + `</items></export>`)
}

func eventRow(key, title, sev string) string {
	return `<item ref="` + key + `"><summary>` + title + `</summary><sev>` + sev + `</sev><owner>alice</owner><host>files.corp.example</host></item>`
}

var eventMapping = map[string]any{"record": "/export/items/item", "fields": []map[string]any{
	{"target": "key", "xpath": "@ref"},
	{"target": "title", "xpath": "summary"},
	{"target": "severity", "xpath": "sev", "value_map": map[string]string{"Severe": "5", "Moderate": "3", "Minor": "1"}},
	{"target": "responsible", "xpath": "owner"},
	{"target": "asset", "xpath": "host"},
}}

func TestXMLImportEventsKeyedAndThreshold(t *testing.T) {
	f := newXMLFixture(t)
	first := f.upload("events-1.xml", eventsFile(eventRow("A-1", "Patch the file server", "Severe"), eventRow("A-2", "Rotate keys", "Moderate"),
		eventRow("A-3", "Bad one", "Catastrophic")))
	tk := f.task("xml_events", map[string]any{"file_id": first, "mapping": eventMapping, "max_failed_records": 5, "max_failed_percent": 50})
	counts, det := f.mustXML(tk)
	wantCounts(t, counts, map[string]int64{"records": 3, "created": 2, "failed": 1, "assets_unmatched": 2})
	var failed []store.RecordIssue
	for _, is := range det.Issues {
		if is.Outcome == store.IssueFailed {
			failed = append(failed, is)
		}
	}
	if len(failed) != 1 || failed[0].Number != 3 || failed[0].Field != "severity" || failed[0].Line != 1 || !strings.Contains(failed[0].Message, "Catastrophic") {
		t.Errorf("failed record listed: %+v", det.Issues)
	}
	if got := f.scalar("SELECT count(*) FROM events WHERE source_task_id = ? AND severity = 5 AND responsible = 'alice'", tk.ID); got != 1 {
		t.Errorf("events as mapped: %d", got)
	}
	// Same file again: nothing changes.
	counts, _ = f.mustXML(tk)
	wantCounts(t, counts, map[string]int64{"created": 0, "updated": 0, "unchanged": 2, "failed": 1})

	// An asset appears; a changed record updates its event, with history.
	assets := f.task("xml_assets", map[string]any{"file_id": f.upload("a.xml", fixture(t, "qualys_asset_data_report.xml")), "preset": "qualys_asset_data_report_assets"})
	f.mustXML(assets)
	f.setFile(tk, f.upload("events-2.xml", eventsFile(eventRow("A-1", "Patch the file server now", "Severe"), eventRow("A-2", "Rotate keys", "Moderate"))))
	counts, _ = f.mustXML(tk)
	wantCounts(t, counts, map[string]int64{"records": 2, "updated": 1, "unchanged": 1, "created": 0, "assets_unmatched": 0})
	if got := f.scalar(`SELECT count(*) FROM event_history h JOIN events e ON e.id = h.event_id WHERE e.source_key = 'A-1' AND h.action = 'updated'
		AND h.changes->'title'->>1 = 'Patch the file server now' AND h.actor_kind = 'task'`); got != 1 {
		t.Error("the update is in the event's history")
	}
	if got := f.scalar(`SELECT count(*) FROM event_assets ea JOIN events e ON e.id = ea.event_id WHERE e.source_key = 'A-1'`); got != 1 {
		t.Error("the updated event is associated with the asset it names")
	}

	// Over the threshold: the run fails, nothing is applied, the failures are listed.
	before := f.scalar("SELECT count(*) FROM events")
	f.setFile(tk, f.upload("events-3.xml", eventsFile(eventRow("B-1", "x", "Bad"), eventRow("B-2", "y", "Worse"), eventRow("B-3", "z", "Minor"))))
	runID := f.newRun(tk)
	_, det, err := f.runXML(tk, runID)
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != activities.ErrTypeTooManyFailed || !strings.Contains(err.Error(), "2 of 3 records failed") {
		t.Fatalf("threshold: %v", err)
	}
	if f.scalar("SELECT count(*) FROM events") != before {
		t.Error("a failed run changed events")
	}
	issues, _ := f.st.RecordIssues(context.Background(), runID, store.IssueFailed, 0, 100)
	if len(issues) != 2 || len(det.Issues) != 2 {
		t.Errorf("failures of a failed run: %+v / %+v", issues, det.Issues)
	}
}

func TestXMLImportEventsAlwaysNew(t *testing.T) {
	f := newXMLFixture(t)
	file := f.upload("events.xml", eventsFile(eventRow("", "One", "Minor"), eventRow("", "Two", "Minor")))
	m := map[string]any{"record": eventMapping["record"], "fields": eventMapping["fields"].([]map[string]any)[1:]}
	tk := f.task("xml_events", map[string]any{"file_id": file, "mapping": m, "event_match": "always_new"})
	wantCounts(t, must2(f.mustXML(tk)), map[string]int64{"created": 2})
	counts, det := f.mustXML(tk)
	wantCounts(t, counts, map[string]int64{"records": 2, "unchanged": 2, "created": 0})
	if !strings.Contains(det.NoFile, "imported this file") {
		t.Errorf("details say why: %+v", det)
	}
}

func TestXMLImportSourcesAndBadFiles(t *testing.T) {
	f := newXMLFixture(t)
	doc := fixture(t, "qualys_scan.xml")
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/reports/scan.xml":
			_, _ = w.Write(doc)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tk := f.task("xml_assets", map[string]any{"url": srv.URL + "/reports/scan.xml?sig=secret", "url_token": "tok-123", "allow_plaintext_http": true, "preset": "qualys_scan_assets"})
	counts, det := f.mustXML(tk)
	wantCounts(t, counts, map[string]int64{"created": 2})
	if auth != "Bearer tok-123" || det.File == nil || det.File.Source != "url" || strings.Contains(det.File.URL, "secret") || det.File.Name != "scan.xml" {
		t.Errorf("URL source: auth %q, details %+v", auth, det.File)
	}
	down := f.task("xml_assets", map[string]any{"url": srv.URL + "/down", "allow_plaintext_http": true, "preset": "qualys_scan_assets"})
	_, _, err := f.runXML(down, f.newRun(down))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.NonRetryable() || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503 is retried: %v", err)
	}

	// Drop directory: the oldest file is imported and moved aside; a bad file goes to failed/.
	dir := filepath.Join(f.acts.DropDir, "qualys")
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, "a.xml"), doc, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "b.xml"), doc[:len(doc)/2], 0o644)
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(filepath.Join(dir, "a.xml"), old, old)
	drop := f.task("xml_assets", map[string]any{"drop_glob": "qualys/*.xml", "preset": "qualys_scan_assets", "asset_source": "dropped"})
	counts, det = f.mustXML(drop)
	wantCounts(t, counts, map[string]int64{"created": 2})
	if det.File == nil || det.File.Path != "qualys/a.xml" || !strings.HasPrefix(det.MovedTo, "qualys/processed/") {
		t.Errorf("drop details: %+v", det)
	}
	_, det, err = f.runXML(drop, f.newRun(drop))
	if !errors.As(err, &ae) || ae.Type() != activities.ErrTypeBadFile || !strings.Contains(err.Error(), "file b.xml") || !strings.Contains(err.Error(), "line") {
		t.Errorf("truncated file: %v", err)
	}
	if !strings.HasPrefix(det.MovedTo, "qualys/failed/") {
		t.Errorf("bad file moved to failed: %+v", det)
	}
	counts, det = f.mustXML(drop)
	if counts["records"] != 0 || !strings.Contains(det.NoFile, "no file") {
		t.Errorf("empty drop directory: %v %+v", counts, det)
	}

	// A record path that selects nothing fails the run, naming the path.
	wrong := f.task("xml_assets", map[string]any{"file_id": f.upload("scan.xml", doc), "mapping": map[string]any{"record": "/SCAN/HOST",
		"fields": []map[string]any{{"target": "id", "xpath": "@value"}, {"target": "name", "xpath": "@value"}}}})
	_, _, err = f.runXML(wrong, f.newRun(wrong))
	if !errors.As(err, &ae) || ae.Type() != activities.ErrTypeBadFile || !strings.Contains(err.Error(), "no element at the mapping's record path /SCAN/HOST") {
		t.Errorf("a record path that selects nothing: %v", err)
	}
}

func TestXMLImportRetryReplays(t *testing.T) {
	f := newXMLFixture(t)
	tk := f.task("xml_vulnerabilities", map[string]any{"file_id": f.upload("n.xml", fixture(t, "nexpose_export_2.xml")), "preset": "nexpose_xml_2_vulnerabilities"})
	runID := f.newRun(tk)
	first, _, err := f.runXML(tk, runID)
	if err != nil {
		t.Fatal(err)
	}
	again, det, err := f.runXML(tk, runID)
	if err != nil || !det.Replayed {
		t.Fatalf("replay: %v %+v", err, det)
	}
	wantCounts(t, again, first)
	if got := f.scalar("SELECT count(*) FROM vulnerability_occurrences WHERE task_id = ?", tk.ID); got != 4 {
		t.Errorf("a replayed attempt changed the occurrences: %d", got)
	}
}
