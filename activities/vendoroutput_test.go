package activities_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/store"
)

// hostBody is a detection answer for one host with the given DETECTION elements.
func hostBody(detections ...string) string {
	return `<?xml version="1.0" encoding="UTF-8" ?>
<!-- This report was generated with an evaluation version of Qualys //--> 
<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2026-11-25T10:00:00Z</DATETIME><HOST_LIST><HOST><ID>10000001</ID><IP>10.1.0.1</IP>
<DETECTION_LIST><DETECTION>` + strings.Join(detections, "</DETECTION><DETECTION>") + `</DETECTION></DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>
<!-- CONFIDENTIAL AND PROPRIETARY INFORMATION. //--> `
}

func qdet(qid, status string) string {
	return "<QID>" + qid + "</QID><TYPE>Confirmed</TYPE><SEVERITY>3</SEVERITY><PORT>443</PORT><PROTOCOL>tcp</PROTOCOL><SSL>0</SSL>" +
		"<RESULTS><![CDATA[x]]></RESULTS><STATUS>" + status + "</STATUS><LAST_FOUND_DATETIME>2026-11-20T10:00:00Z</LAST_FOUND_DATETIME>"
}

func findingByQID(t *testing.T, f *connFixture, rec store.Record, qid string) store.Finding {
	t.Helper()
	list, _, err := f.st.Connectors.ListFindings(context.Background(), store.FindingFilter{RecordID: &rec.ID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list {
		if x.VendorID == qid {
			return x
		}
	}
	t.Fatalf("no finding for QID %s", qid)
	return store.Finding{}
}

// A detection that Qualys reports Fixed is not present: the reimport closes its finding
// (mitigated), and when Qualys re-opens it the finding comes back with status Re-Opened.
func TestQualysFixedClosesAndReOpenedReturns(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 1, HostsPerGroup: 1, DetectionsPerHost: 1})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Qualys, sim.URL, map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true})
	if _, err := f.discover(); err != nil {
		t.Fatal(err)
	}
	rec := f.mapRecord("1", "Web")
	det := "/api/2.0/fo/asset/host/vm/detection/"
	sim.Faults.Add(simfault.Fault{Path: det, Body: hostBody(qdet("10000", "Active"), qdet("10001", "New"))})
	wantCounts(t, f.mustSync(rec).Counts, map[string]int64{"created": 2, "total": 2})

	sim.Faults.Add(simfault.Fault{Path: det, Body: hostBody(qdet("10000", "Fixed"), qdet("10001", "Active"))})
	wantCounts(t, f.mustSync(rec).Counts, map[string]int64{"inactivated": 1, "total": 1, "updated": 1})
	if x := findingByQID(t, f, rec, "10000"); x.Active || x.Status != scanner.StatusMitigated {
		t.Fatalf("fixed finding = %+v", x)
	}

	sim.Faults.Add(simfault.Fault{Path: det, Body: hostBody(qdet("10000", "Re-Opened"), qdet("10001", "Active"))})
	wantCounts(t, f.mustSync(rec).Counts, map[string]int64{"reactivated": 1, "total": 2})
	if x := findingByQID(t, f, rec, "10000"); !x.Active || x.Status != scanner.StatusOpen || x.VendorStatus != "Re-Opened" {
		t.Fatalf("re-opened finding = %+v", x)
	}
}

// Knowledge-base entries with an empty title or an unknown severity are stored and listed in
// the record's notes; the sync succeeds.
func TestQualysIncompleteKnowledgeBase(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 2, AssetGroups: 1, HostsPerGroup: 2, DetectionsPerHost: 2})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Qualys, sim.URL, map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true})
	if _, err := f.discover(); err != nil {
		t.Fatal(err)
	}
	rec := f.mapRecord("1", "Web")
	sim.SetKBEntry(qualyssim.QID(0), qualyssim.KBEntry{Title: "", Severity: "3"})
	sim.SetKBEntry(qualyssim.QID(1), qualyssim.KBEntry{Title: "Odd", Severity: "9"})
	out := f.mustSync(rec)
	wantCounts(t, out.Counts, map[string]int64{"created": 4, "total": 4})
	notes := strings.Join(out.Notes, "\n")
	if out.NotesTotal != 2 || !strings.Contains(notes, "VULN[QID=10000]/TITLE: empty") || !strings.Contains(notes, `unknown severity "9"`) {
		t.Fatalf("notes = %d %q", out.NotesTotal, notes)
	}
	if x := findingByQID(t, f, rec, "10000"); x.Title != "QID 10000" {
		t.Fatalf("title = %q", x.Title)
	}
	// The finding keeps the detection's own severity; the KB's readable text is stored.
	if x := findingByQID(t, f, rec, "10001"); x.Title != "Odd" || x.Severity == "" || strings.Contains(x.Description, "<P>") ||
		!strings.Contains(x.Description, `The check runs "show version".`) || !strings.Contains(x.SolutionHTML, "href=") {
		t.Fatalf("finding = %+v", x)
	}
}

// An asset removed between the site's listing and the reading of its findings is skipped and
// noted; the rest of the site is imported, and the asset's findings follow the missing rule.
func TestNexposeVanishedAssetIsSkipped(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Seed: 3, Sites: 1, AssetsPerSite: 3, VulnsPerAsset: 2})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Nexpose, sim.URL, map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true})
	if _, err := f.discover(); err != nil {
		t.Fatal(err)
	}
	rec := f.mapRecord("1", "DC")
	first := f.mustSync(rec)
	perAsset := first.Counts["total"] / 3
	open := (first.Counts["total"] - first.Counts["excepted"]) / 3
	gone := nexposesim.AssetID(1, 1)
	sim.Vanish(gone)
	out := f.mustSync(rec)
	wantCounts(t, out.Counts, map[string]int64{"total": 2 * perAsset, "inactivated": open, "unchanged": 2 * perAsset})
	if out.NotesTotal != 1 || !strings.Contains(out.Notes[0], "asset 100002 of site 1 was removed") {
		t.Fatalf("notes = %v", out.Notes)
	}
}
