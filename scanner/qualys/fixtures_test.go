package qualys_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/qualys"
)

// fixtureClient answers every request with one status and body.
func fixtureClient(t testing.TB, status int, body []byte, types ...string) *qualys.Client {
	t.Helper()
	c, err := qualys.New(qualys.Options{BaseURL: "https://qualysapi.qg9.apps.qualys.example", Username: "u", Password: "p",
		HTTPClient:     &http.Client{Transport: simfault.Answers(func(*http.Request) (int, []byte) { return status, body })},
		DetectionTypes: types, MaxRetries: -1, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func detections(t *testing.T, c *qualys.Client) map[string]scanner.Detection {
	t.Helper()
	got := map[string]scanner.Detection{}
	if err := c.Detections(context.Background(), "7", func(d scanner.Detection) error {
		if _, dup := got[d.VendorID]; dup {
			t.Fatalf("QID %s twice", d.VendorID)
		}
		got[d.VendorID] = d
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// What real detection answers hold: no PORT, TYPE Potential and Info, STATUS New, Re-Opened
// and Fixed, HTML entities inside RESULTS CDATA, whitespace around CDATA, QDS, UNIQUE_VULN_ID,
// LAST_FIXED_DATETIME, TIMES_FOUND, IS_IGNORED, keep-alive and trailing comments.
func TestDetectionFixtureQuirks(t *testing.T) {
	got := detections(t, fixtureClient(t, 200, fixture(t, "detections_quirks.xml")))
	if _, ok := got["45038"]; ok {
		t.Error("information gathered (TYPE Info) imported by default")
	}
	if _, ok := got["86476"]; ok {
		t.Error("STATUS Fixed imported: the reimport must close it instead")
	}
	if len(got) != 4 {
		t.Fatalf("detections = %d, want 4: %v", len(got), got)
	}
	noPort := got["11"]
	if noPort.HasPort || noPort.Protocol != "" || !strings.HasSuffix(noPort.Identity, ":port=-:proto=:ssl=0") || noPort.Type != scanner.TypeConfirmed {
		t.Errorf("no-port detection = %+v", noPort)
	}
	if noPort.TimesFound == nil || *noPort.TimesFound != 40 || noPort.AssetVendorID != "70001" || noPort.Host != "web01.corp.example" {
		t.Errorf("no-port detection = %+v", noPort)
	}
	web := got["11827"]
	wantEvidence := "Report-To: {\"group\":\"cf-nel\",\"max_age\":604800}\n;; ->>HEADER<<- opcode: QUERY & more"
	if web.Evidence != wantEvidence {
		t.Errorf("evidence = %q, want the entities decoded: %q", web.Evidence, wantEvidence)
	}
	if web.UniqueID != "880011" || web.QDS == nil || *web.QDS != 35 || web.VendorStatus != "New" || web.Status != scanner.StatusOpen {
		t.Errorf("detection 11827 = %+v", web)
	}
	re := got["38739"]
	if re.Type != scanner.TypePotential || re.VendorStatus != qualys.StatusReOpened || re.Status != scanner.StatusOpen ||
		!re.LastFixed.Equal(time.Date(2026, 6, 14, 6, 52, 57, 0, time.UTC)) || re.Evidence != "Type\tName\ncipher\t3des-cbc" {
		t.Errorf("re-opened detection = %+v", re)
	}
	if ign := got["105500"]; ign.Status != scanner.StatusRiskAccepted {
		t.Errorf("IS_IGNORED detection status = %q, want risk_accepted", ign.Status)
	}
	// Asked for, information gathered comes too (and the client asks Qualys with show_igs).
	withInfo := detections(t, fixtureClient(t, 200, fixture(t, "detections_quirks.xml"), "confirmed", "potential", "info"))
	if d, ok := withInfo["45038"]; !ok || d.Type != scanner.TypeInfo {
		t.Errorf("info detection with info enabled = %+v, %v", d, ok)
	}
	confirmedOnly := detections(t, fixtureClient(t, 200, fixture(t, "detections_quirks.xml"), "confirmed"))
	if _, ok := confirmedOnly["38739"]; ok || len(confirmedOnly) != 3 {
		t.Errorf("confirmed only = %v", confirmedOnly)
	}
}

func TestEmptyDetectionAnswer(t *testing.T) {
	if got := detections(t, fixtureClient(t, 200, fixture(t, "detections_empty.xml"))); len(got) != 0 {
		t.Fatalf("detections = %v", got)
	}
}

// Qualys answers some account problems with HTTP 200 and a SIMPLE_RETURN: the code and text
// stay in the error, and account codes are bad credentials.
func TestSimpleReturnKeepsTheVendorsWords(t *testing.T) {
	c := fixtureClient(t, 200, fixture(t, "simple_return_2001.xml"))
	err := c.Probe(context.Background())
	var se *scanner.Error
	if !errors.As(err, &se) || se.Kind != scanner.KindBadCredentials || se.Code != "2001" || !strings.Contains(se.Message, "This account has expired.") {
		t.Fatalf("probe = %#v", err)
	}
	for _, want := range []string{"Qualys", "connection test", "HTTP 200", "code 2001", "This account has expired."} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	err = fixtureClient(t, 400, fixture(t, "simple_return_1905_nodecl.xml")).Detections(context.Background(), "7", func(scanner.Detection) error { return nil })
	if !errors.As(err, &se) || se.Kind != scanner.KindRejected || se.Code != "1905" || !strings.Contains(se.Message, "parameter ids has invalid value") {
		t.Fatalf("detections = %#v", err)
	}
	err = fixtureClient(t, 401, []byte("<SIMPLE_RETURN><RESPONSE><CODE>2000</CODE><TEXT>Bad Login/Password</TEXT></RESPONSE></SIMPLE_RETURN>")).Probe(context.Background())
	if !errors.As(err, &se) || se.Kind != scanner.KindBadCredentials || !strings.Contains(se.Message, "API access permission in its role") {
		t.Fatalf("bad login = %v", err)
	}
}

// A knowledge-base entry with an empty TITLE or an unknown SEVERITY_LEVEL is stored with what
// is usable and noted; HTML becomes readable text, and sanitised HTML is kept.
func TestKnowledgeBaseFixture(t *testing.T) {
	c := fixtureClient(t, 200, fixture(t, "kb_quirks.xml"))
	var notes scanner.Notes
	got := map[string]scanner.Definition{}
	if err := c.KnowledgeBase(context.Background(), []string{"10186", "11827", "38739"}, func(d scanner.Definition) error {
		got[d.VendorID] = d
		return nil
	}, &notes); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("definitions = %v", got)
	}
	if d := got["10186"]; d.Title != "QID 10186" || d.Severity != scanner.SeverityLow {
		t.Errorf("empty title = %+v", d)
	}
	if d := got["38739"]; d.Severity != "" || d.VendorSeverity != "9" || d.Title != "Deprecated SSH Cryptographic Settings" {
		t.Errorf("unknown severity = %+v", d)
	}
	if notes.Total != 2 || !strings.Contains(strings.Join(notes.Items, "\n"), "VULN[QID=10186]/TITLE") ||
		!strings.Contains(strings.Join(notes.Items, "\n"), `VULN[QID=38739]/SEVERITY_LEVEL: unknown severity "9"`) {
		t.Errorf("notes = %+v", notes)
	}
	d := got["11827"]
	wantDesc := "The header is missing.\n\nQID Detection Logic (Unauthenticated):\nThe check sends \"GET /\" and reads the answer.\n\nConsequence: A browser may sniff content."
	if d.Description != wantDesc {
		t.Errorf("description = %q\nwant %q", d.Description, wantDesc)
	}
	if d.Solution != "Set the header.\nRefer to the advisory (https://vendor.example/advisory/1)." {
		t.Errorf("solution = %q", d.Solution)
	}
	if strings.Contains(d.SolutionHTML, "script") || !strings.Contains(d.SolutionHTML, `href="https://vendor.example/advisory/1"`) ||
		!strings.Contains(strings.ToLower(d.DescriptionHTML), "<p>") {
		t.Errorf("HTML = %q / %q", d.DescriptionHTML, d.SolutionHTML)
	}
	if strings.Join(d.CVEs, ",") != "CVE-2026-10227,CVE-2026-10228" {
		t.Errorf("CVEs = %v", d.CVEs)
	}
}

// An unknown TYPE or STATUS fails the page with a message naming the element.
func TestUnknownTypeAndStatus(t *testing.T) {
	body := string(fixture(t, "detections_quirks.xml"))
	for _, tc := range []struct{ from, to, want string }{
		{"<TYPE>Potential</TYPE>", "<TYPE>Suspected</TYPE>", `HOST[ID=70001]/DETECTION[QID=38739]/TYPE: unknown type "Suspected"`},
		{"<STATUS>New</STATUS>", "<STATUS>Pending</STATUS>", `HOST[ID=70001]/DETECTION[QID=11827]/STATUS: unknown status "Pending"`},
		{`<QDS severity="LOW">35</QDS>`, "<QDS>high</QDS>", `DETECTION[QID=11827]/QDS`},
	} {
		c := fixtureClient(t, 200, []byte(strings.Replace(body, tc.from, tc.to, 1)))
		err := c.Detections(context.Background(), "7", func(scanner.Detection) error { return nil })
		if scanner.KindOf(err) != scanner.KindBadResponse || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "page 1") {
			t.Errorf("%s: %v", tc.to, err)
		}
	}
}

// The host list: names and addresses as Modulo builds them, groups, last scan, and the
// truncation WARNING followed to the next page (here the same server answers it again, which
// the client refuses as a loop).
func TestHostListFixture(t *testing.T) {
	c := fixtureClient(t, 200, fixture(t, "host_list.xml"))
	var got []scanner.Host
	err := c.Hosts(context.Background(), scanner.Filter{}, func(h scanner.Host) error { got = append(got, h); return nil })
	if len(got) < 2 {
		t.Fatalf("hosts = %+v, %v", got, err)
	}
	h := got[0]
	if h.VendorID != "70001" || h.DNS != "web01.corp.example" || h.NetBIOS != "WEB01" || h.Name() != "WEB01 (192.0.2.10)" ||
		h.Address() != "web01.corp.example" || strings.Join(h.Groups, ",") != "7,12" || h.OS != "Linux 5.4" ||
		!h.LastScan.Equal(time.Date(2026, 11, 29, 22, 0, 5, 0, time.UTC)) {
		t.Errorf("host = %+v", h)
	}
	if bare := got[1]; bare.Name() != "192.0.2.11" || bare.Address() != "192.0.2.11" {
		t.Errorf("host without names = %+v (%s)", bare, bare.Name())
	}
	// The second page is the same document: its WARNING points at a page already read.
	if scanner.KindOf(err) != scanner.KindBadResponse || !strings.Contains(err.Error(), "already read") {
		t.Errorf("err = %v", err)
	}
}
