package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
)

type connFixture struct {
	t     *testing.T
	st    *store.Store
	acts  *activities.Connectors
	conn  *store.Connector
	suite testsuite.WorkflowTestSuite
	mu    sync.Mutex
	waits []time.Duration
}

func newConnFixture(t *testing.T, toolType, baseURL string, cfg map[string]any) *connFixture {
	t.Helper()
	keys, _, err := secrets.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	f := &connFixture{t: t, st: store.New(testenv.DB(t))}
	f.acts = &activities.Connectors{Store: f.st, Keyring: keys, Sleep: func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		f.waits = append(f.waits, d)
		f.mu.Unlock()
		return ctx.Err()
	}}
	raw, _ := json.Marshal(cfg)
	c, err := connectortype.Decode(toolType, baseURL, raw, true)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if c.Password, err = keys.Seal(c.Password); err != nil {
		t.Fatal(err)
	}
	sealed, _ := json.Marshal(c)
	now := time.Now().UTC()
	f.conn = &store.Connector{ID: uuid.New(), ToolType: toolType, Name: toolType + " " + t.Name(), BaseURL: baseURL, Config: sealed,
		Timezone: "UTC", Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := f.st.Connectors.Insert(context.Background(), f.conn); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *connFixture) newRun(kind string) uuid.UUID {
	f.t.Helper()
	r := &store.Run{ID: uuid.New(), Kind: kind, ConnectorID: &f.conn.ID, Trigger: "manual", Status: "running",
		StartedAt: time.Now(), WorkflowID: "connector/" + f.conn.ID.String() + "/sync", Counts: map[string]int64{}, Details: json.RawMessage(`{}`)}
	if err := f.st.Runs.RecordStart(context.Background(), r); err != nil {
		f.t.Fatal(err)
	}
	return r.ID
}

func (f *connFixture) discover() (map[string]int64, error) {
	f.t.Helper()
	env := f.suite.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	val, err := env.ExecuteActivity(f.acts.DiscoverConnector, activities.ConnectorInput{RunID: f.newRun(store.KindConnectorDiscover).String(), ConnectorID: f.conn.ID.String()})
	if err != nil {
		return nil, err
	}
	var out activities.DiscoverOutput
	if err := val.Get(&out); err != nil {
		f.t.Fatal(err)
	}
	return out.Counts, nil
}

func (f *connFixture) records() map[string]store.Record {
	f.t.Helper()
	recs, _, err := f.st.Connectors.ListRecords(context.Background(), store.RecordFilter{ConnectorID: f.conn.ID, Limit: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]store.Record{}
	for _, r := range recs {
		out[r.VendorID] = r
	}
	return out
}

func (f *connFixture) mapRecord(vendorID, product string) store.Record {
	f.t.Helper()
	ctx := context.Background()
	rec, ok := f.records()[vendorID]
	if !ok {
		f.t.Fatalf("no record for vendor ID %s", vendorID)
	}
	p, err := f.st.Connectors.EnsureProduct(ctx, product, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.Connectors.SetRecordState(ctx, f.conn.ID, rec.ID, store.RecordMapped, &p.ID, time.Now()); err != nil {
		f.t.Fatal(err)
	}
	return rec
}

func (f *connFixture) sync(runID uuid.UUID, rec store.Record) (activities.RecordOutput, error) {
	f.t.Helper()
	env := f.suite.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	val, err := env.ExecuteActivity(f.acts.SyncRecord, activities.RecordInput{RunID: runID.String(), ConnectorID: f.conn.ID.String(),
		RecordID: rec.ID.String(), StartedAt: time.Now().UTC()})
	if err != nil {
		return activities.RecordOutput{}, err
	}
	var out activities.RecordOutput
	if err := val.Get(&out); err != nil {
		f.t.Fatal(err)
	}
	return out, nil
}

func (f *connFixture) mustSync(rec store.Record) activities.RecordOutput {
	f.t.Helper()
	out, err := f.sync(f.newRun(store.KindConnectorSync), rec)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return out
}

// state returns the record's findings as identity -> "active|hash".
func (f *connFixture) state(rec store.Record) map[string]string {
	f.t.Helper()
	var rows []struct {
		Identity    string
		Active      bool
		ContentHash string
	}
	if err := f.st.DB.NewSelect().Table("findings").Column("identity", "active", "content_hash").
		Where("record_id = ?", rec.ID).Scan(context.Background(), &rows); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Identity] = fmt.Sprint(r.Active, "|", r.ContentHash)
	}
	return out
}

// expect computes the counts a qualys generation should produce over the previous one.
func qualysExpect(sim *qualyssim.Server, group int, gen, prevGen int) map[string]int64 {
	opts := sim.Options()
	key := func(d qualyssim.Detection) string { return fmt.Sprint(d.QID, d.Port) }
	want := map[string]int64{}
	for h := 0; h < opts.HostsPerGroup; h++ {
		id := qualyssim.HostID(group, h)
		sim.SetGeneration(prevGen)
		prev := map[string]qualyssim.Detection{}
		for _, d := range sim.HostDetections(id) {
			if d.Imported() {
				prev[key(d)] = d
			}
		}
		sim.SetGeneration(gen)
		for _, d := range sim.HostDetections(id) {
			if !d.Imported() {
				continue
			}
			want["total"]++
			if d.Ignored {
				want["excepted"]++
			}
			p, ok := prev[key(d)]
			switch {
			case !ok:
				want["created"]++ // or reactivated, decided by the caller
			case p.Changed != d.Changed || p.Severity != d.Severity:
				want["updated"]++
			default:
				want["unchanged"]++
			}
			delete(prev, key(d))
		}
		for _, d := range prev {
			if !d.Ignored { // ignored findings are inactive already
				want["inactivated"]++
			}
		}
	}
	return want
}

func TestQualysDiscoverAndReimport(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 7, AssetGroups: 3, HostsPerGroup: 12, DetectionsPerHost: 6})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Qualys, sim.URL, map[string]any{"username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "page_size": 5})

	counts, err := f.discover()
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, counts, map[string]int64{"found": 3, "created": 3, "renamed": 0, "missing": 0})
	counts, err = f.discover()
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, counts, map[string]int64{"found": 3, "created": 0, "renamed": 0, "missing": 0})
	sim.Rename(2, "Renamed group")
	sim.Remove(3, true)
	counts, err = f.discover()
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, counts, map[string]int64{"found": 2, "created": 0, "renamed": 1, "missing": 1})
	recs := f.records()
	if len(recs) != 3 || recs["2"].Name != "Renamed group" || !recs["3"].VendorMissing || recs["1"].State != store.RecordUnmapped {
		t.Fatalf("records after rename and removal: %+v", recs)
	}
	sim.Remove(3, false)
	counts, _ = f.discover()
	wantCounts(t, counts, map[string]int64{"returned": 1, "missing": 0})
	if sim.RequestedWith.Load() == 0 {
		t.Error("the client sent no X-Requested-With header")
	}

	rec := f.mapRecord("1", "Web shop")
	first := f.mustSync(rec)
	wantCounts(t, first.Counts, map[string]int64{"total": 72, "created": 72, "updated": 0, "inactivated": 0, "unchanged": 0})
	// The engagement and test were created once, under the product.
	tests, _, err := f.st.Connectors.ListTests(context.Background(), store.TestFilter{ConnectorID: &f.conn.ID})
	if err != nil || len(tests) != 1 || tests[0].TestType != "Qualys VM" {
		t.Fatalf("tests = %+v, %v", tests, err)
	}
	// Titles, solutions and CVEs come from the knowledge base.
	// The simulator's QID 10000 is on port 443 of every host.
	fs := []store.Finding{findingByQID(t, f, rec, "10000")}
	if !strings.HasPrefix(fs[0].Title, "Simulated vulnerability") || len(fs[0].CVEs) != 1 ||
		!strings.HasPrefix(fs[0].Solution, "Patch") || fs[0].Port == nil || *fs[0].Port != 443 || fs[0].Host == "" || fs[0].VendorSeverity == "" {
		t.Fatalf("finding = %+v", fs)
	}
	// Each finding is linked to the shared asset of its Qualys host.
	var linked, assets int
	if err := f.st.DB.NewRaw("SELECT count(*) FILTER (WHERE asset_id IS NOT NULL), count(DISTINCT asset_id) FROM findings WHERE record_id = ?", rec.ID).
		Scan(context.Background(), &linked, &assets); err != nil || linked != 72 || assets != 12 {
		t.Fatalf("%d findings linked to %d assets, want 72 and 12 (%v)", linked, assets, err)
	}

	// The same data again changes nothing.
	again := f.mustSync(rec)
	wantCounts(t, again.Counts, map[string]int64{"total": 72, "created": 0, "updated": 0, "inactivated": 0, "unchanged": 72})

	// Generation 1: 10% gone, 10% changed, 10% new.
	want := qualysExpect(sim, 1, 1, 0)
	before := f.state(rec)
	second := f.mustSync(rec)
	wantCounts(t, second.Counts, map[string]int64{"total": want["total"], "created": want["created"], "updated": want["updated"],
		"inactivated": want["inactivated"], "unchanged": want["unchanged"], "reactivated": 0})
	if want["inactivated"] == 0 || want["updated"] == 0 {
		t.Fatalf("the simulator's generation 1 should drop and change findings: %v", want)
	}
	after := f.state(rec)
	if len(after) != len(before)+int(want["created"]) {
		t.Fatalf("findings: %d before, %d after, %d created", len(before), len(after), want["created"])
	}

	// Generation 2 is the base data again: the gone findings come back (reactivated), the new
	// ones go.
	sim.SetGeneration(2)
	third := f.mustSync(rec)
	wantCounts(t, third.Counts, map[string]int64{"reactivated": want["inactivated"], "inactivated": want["created"],
		"updated": want["updated"], "created": 0, "total": 72})

	// A finding's history lists what each import did.
	var gone struct{ ID int64 }
	if err := f.st.DB.NewSelect().Table("finding_actions").ColumnExpr("finding_id AS id").Where("action = 'reactivated'").
		Limit(1).Scan(context.Background(), &gone); err != nil {
		t.Fatal(err)
	}
	hist, err := f.st.Connectors.FindingHistory(context.Background(), gone.ID)
	if err != nil || len(hist) != 3 || hist[0].Action != "reactivated" || hist[1].Action != "inactivated" || hist[2].Action != "created" {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	imports, err := f.st.Connectors.ListImports(context.Background(), tests[0].ID, 10)
	if err != nil || len(imports) != 4 {
		t.Fatalf("imports = %d, %v", len(imports), err)
	}
}

func TestQualysSyncRetriesAreIdempotent(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 3, AssetGroups: 1, HostsPerGroup: 8, DetectionsPerHost: 4})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Qualys, sim.URL, map[string]any{"username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "page_size": 3})
	if _, err := f.discover(); err != nil {
		t.Fatal(err)
	}
	rec := f.mapRecord("1", "Retries")
	f.mustSync(rec)
	sim.SetGeneration(1)
	run := f.newRun(store.KindConnectorSync)

	// An attempt that dies while it stages (the body is cut on the second page) applies nothing.
	before := f.state(rec)
	sim.Faults.Add(simfault.Fault{Path: "/api/2.0/fo/asset/host/vm/detection/", TruncateAt: 900})
	_, err := f.sync(run, rec)
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "Qualys") {
		t.Fatalf("truncated page: err = %v", err)
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != "Vendor.bad_response" {
		t.Fatalf("truncated page: want a final Vendor.bad_response, got %v", err)
	}
	if got := f.state(rec); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatal("a failed reimport changed the record's findings")
	}

	// Two attempts of one run at once (a zombie and its retry): one applies, the other
	// reports the same import.
	var wg sync.WaitGroup
	outs := make([]activities.RecordOutput, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = f.sync(run, rec)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("concurrent attempts: %v, %v", errs[0], errs[1])
	}
	if outs[0].ImportID != outs[1].ImportID || outs[0].Replayed == outs[1].Replayed || fmt.Sprint(outs[0].Counts) != fmt.Sprint(outs[1].Counts) {
		t.Fatalf("concurrent attempts: %+v / %+v", outs[0], outs[1])
	}
	// A later retry of the same run (the worker died after the commit) changes nothing.
	third, err := f.sync(run, rec)
	if err != nil || !third.Replayed || third.ImportID != outs[0].ImportID {
		t.Fatalf("retry after commit: %+v, %v", third, err)
	}
	imports, _ := f.st.DB.NewSelect().Table("test_imports").Where("run_id = ?", run).Count(context.Background())
	if imports != 1 {
		t.Fatalf("%d imports for one run, want 1", imports)
	}
}

func TestQualysFaults(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 5, AssetGroups: 1, HostsPerGroup: 6, DetectionsPerHost: 3})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Qualys, sim.URL, map[string]any{"username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "page_size": 2, "max_wait_seconds": 60})
	if _, err := f.discover(); err != nil {
		t.Fatal(err)
	}
	rec := f.mapRecord("1", "Faults")
	det := "/api/2.0/fo/asset/host/vm/detection/"

	// 409 with 1965 and 1960 waits as advised, 5xx backs off; then the sync succeeds.
	sim.Faults.Add(
		simfault.Fault{Path: det, Status: 409, Code: "1965", Text: "This API cannot be run again for another 7 seconds.", WaitSeconds: 7},
		simfault.Fault{Path: det, Status: 409, Code: "1960", Text: "User has reached the maximum number of concurrent API calls.", WaitSeconds: 3},
		simfault.Fault{Path: det, Status: 503, Text: "Service Unavailable"},
	)
	out := f.mustSync(rec)
	wantCounts(t, out.Counts, map[string]int64{"created": 18})
	f.mu.Lock()
	waits := fmt.Sprint(f.waits)
	f.mu.Unlock()
	if !strings.Contains(waits, "7s") || !strings.Contains(waits, "3s") {
		t.Fatalf("waits = %s, want the advised 7s and 3s", waits)
	}

	cases := []struct {
		name  string
		fault simfault.Fault
		typ   string
		msg   []string
	}{
		{"other 409", simfault.Fault{Path: det, Status: 409, Code: "1999", Text: "Some other conflict"}, "Vendor.rejected", []string{"1999", "Some other conflict"}},
		{"bad request", simfault.Fault{Path: det, Status: 400, Code: "1905", Text: "parameter ag_ids has invalid value"}, "Vendor.rejected", []string{"HTTP 400", "1905"}},
		{"forbidden", simfault.Fault{Path: det, Status: 403, Text: "Access denied"}, "Vendor.forbidden", []string{"HTTP 403"}},
		{"account locked", simfault.Fault{Path: det, Status: 403, Code: "2002", Text: "This account is locked."}, "Vendor.bad_credentials", []string{"HTTP 403", "2002", "This account is locked.", "unlock"}},
		{"account expired with 200", simfault.Fault{Path: det, Body: "<SIMPLE_RETURN><RESPONSE><DATETIME>2020-11-23T18:29:09Z</DATETIME><CODE>2001</CODE><TEXT>This account has expired.</TEXT></RESPONSE></SIMPLE_RETURN>"},
			"Vendor.bad_credentials", []string{"HTTP 200", "2001", "This account has expired."}},
		{"no API access", simfault.Fault{Path: det, Status: 401, Code: "2011", Text: "API access is disabled for this user"}, "Vendor.bad_credentials", []string{"2011", "API access permission in its role"}},
		{"unknown type", simfault.Fault{Path: det, Body: detectionBody("<QID>10001</QID><TYPE>Suspected</TYPE><SEVERITY>3</SEVERITY>")}, "Vendor.bad_response",
			[]string{"DETECTION[QID=10001]/TYPE", `unknown type "Suspected"`}},
		{"unknown status", simfault.Fault{Path: det, Body: detectionBody("<QID>10001</QID><TYPE>Confirmed</TYPE><SEVERITY>3</SEVERITY><STATUS>Maybe</STATUS>")}, "Vendor.bad_response",
			[]string{"DETECTION[QID=10001]/STATUS", `unknown status "Maybe"`}},
		{"wait too long", simfault.Fault{Path: det, Status: 409, Code: "1965", Text: "This API cannot be run again for another 2 hours", WaitSeconds: 7200}, "Vendor.rate_limited", []string{"longer than"}},
		{"unknown severity", simfault.Fault{Path: det, Body: detectionBody("<QID>10001</QID><TYPE>Confirmed</TYPE><SEVERITY>9</SEVERITY>")}, "Vendor.bad_response",
			[]string{"page 1", "SEVERITY", `unknown severity "9"`}},
		{"missing QID", simfault.Fault{Path: det, Body: detectionBody("<SEVERITY>3</SEVERITY>")}, "Vendor.bad_response", []string{"DETECTION/QID", "missing"}},
		{"malformed", simfault.Fault{Path: det, Body: "<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID></HOS></HOST_LIST>"}, "Vendor.bad_response", []string{"malformed XML"}},
		{"huge field", simfault.Fault{Path: det, Body: detectionBody("<QID>1</QID><TYPE>Confirmed</TYPE><SEVERITY>3</SEVERITY><RESULTS>" + strings.Repeat("z", 9<<20) + "</RESULTS>")}, "Vendor.bad_response", []string{"larger than"}},
		{"simple return with 200", simfault.Fault{Path: det, Body: "<SIMPLE_RETURN><RESPONSE><DATETIME>2026-11-25T10:00:00Z</DATETIME><CODE>1920</CODE><TEXT>Operation not allowed</TEXT></RESPONSE></SIMPLE_RETURN>"}, "Vendor.rejected", []string{"1920", "Operation not allowed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state(rec)
			sim.Faults.Add(tc.fault)
			_, err := f.sync(f.newRun(store.KindConnectorSync), rec)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != tc.typ {
				t.Fatalf("err = %v, want type %s", err, tc.typ)
			}
			for _, m := range append(tc.msg, "Qualys", "asset group 1") {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if tc.typ != "Vendor.rate_limited" && !app.NonRetryable() {
				t.Errorf("%s should not be retried", tc.typ)
			}
			if got := f.state(rec); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatal("a failed reimport changed the record's findings")
			}
			var recNow store.Record
			recNow = f.records()["1"]
			if recNow.LastSyncStatus != "failed" || recNow.LastSyncError == "" {
				t.Errorf("record's last sync = %q %q", recNow.LastSyncStatus, recNow.LastSyncError)
			}
			if sim.Faults.Pending() != 0 {
				t.Fatalf("fault not consumed")
			}
		})
	}

	// Bad credentials: final, and the password is not in the message.
	bad := newConnFixture(t, connectortype.Qualys, sim.URL, map[string]any{"username": "sim", "password": "wrong-s3cret",
		"allow_plaintext_http": true})
	_, err := bad.discover()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != "Vendor.bad_credentials" || !app.NonRetryable() || strings.Contains(err.Error(), "wrong-s3cret") {
		t.Fatalf("bad credentials: %v", err)
	}
}

func detectionBody(detection string) string {
	return `<?xml version="1.0" encoding="UTF-8" ?>
<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2026-11-25T10:00:00Z</DATETIME><HOST_LIST><HOST><ID>10000001</ID><IP>10.1.0.1</IP>
<DETECTION_LIST><DETECTION>` + detection + `<PORT>443</PORT><PROTOCOL>tcp</PROTOCOL></DETECTION></DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`
}

func TestNexposeDiscoverAndReimport(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Seed: 11, Sites: 3, AssetsPerSite: 7, VulnsPerAsset: 5})
	defer sim.Close()
	f := newConnFixture(t, connectortype.Nexpose, sim.URL, map[string]any{"username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "page_size": 2})
	counts, err := f.discover()
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, counts, map[string]int64{"found": 3, "created": 3})
	rec := f.mapRecord("2", "Datacenter")

	sim.Faults.Add(simfault.Fault{Path: "/api/3/sites/2/assets", Status: 429, WaitSeconds: 4},
		simfault.Fault{Path: "/api/3/assets/", Status: 500})
	// expect counts what the simulator serves for site 2 in generation gen: findings (one per
	// result) by asset and vulnerability, and how many of them are open.
	type vulnCount struct {
		all, open int64
		changed   bool
	}
	expect := func(gen int) map[string]vulnCount {
		sim.SetGeneration(gen)
		defer sim.SetGeneration(0)
		m := map[string]vulnCount{}
		for i := 0; i < 7; i++ {
			for _, v := range sim.AssetVulns(nexposesim.AssetID(2, i)) {
				all, open := v.Findings()
				m[fmt.Sprint(i, v.ID)] = vulnCount{int64(all), int64(open), v.Changed}
			}
		}
		return m
	}
	gen0, gen1 := expect(0), expect(1)
	var all0, open0 int64
	for _, c := range gen0 {
		all0 += c.all
		open0 += c.open
	}
	out := f.mustSync(rec)
	wantCounts(t, out.Counts, map[string]int64{"created": all0, "total": all0, "excepted": all0 - open0})
	if all0-open0 < 7 || all0 <= 35 {
		t.Fatalf("the simulator should serve exceptions, invulnerable findings and keyed results: %d findings, %d open", all0, open0)
	}
	f.mu.Lock()
	waits := fmt.Sprint(f.waits)
	f.mu.Unlock()
	if !strings.Contains(waits, "4s") {
		t.Errorf("waits = %s, want Retry-After's 4s", waits)
	}
	fs, _, err := f.st.Connectors.ListFindings(context.Background(), store.FindingFilter{RecordID: &rec.ID, Limit: 1})
	if err != nil || len(fs) != 1 || fs[0].Title == "" || !strings.Contains(fs[0].VendorSeverity, "(") || fs[0].Port == nil ||
		!strings.HasPrefix(fs[0].Solution, "Upgrade for sim-vuln-") || !strings.Contains(fs[0].Solution, "on asset "+fs[0].AssetVendorID) ||
		fs[0].LastSeen == nil || !fs[0].LastSeen.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) || strings.Contains(fs[0].Evidence, "<") {
		t.Fatalf("finding = %+v, %v", fs, err)
	}
	// Exceptions and invulnerable findings are kept, marked and never active.
	for status, want := range map[string]bool{scanner.StatusRiskAccepted: false, scanner.StatusNotVulnerable: false, scanner.StatusOpen: true} {
		list, _, err := f.st.Connectors.ListFindings(context.Background(), store.FindingFilter{RecordID: &rec.ID, Status: status, Limit: 200})
		if err != nil || len(list) == 0 {
			t.Fatalf("no %s findings: %v", status, err)
		}
		for _, x := range list {
			if x.Active != want {
				t.Fatalf("%s finding %s active = %v", status, x.Identity, x.Active)
			}
		}
	}

	var gone, changed, added int64
	for k, c := range gen1 {
		if _, ok := gen0[k]; !ok {
			added += c.all
		} else if c.changed {
			changed += c.all
		}
	}
	for k, c := range gen0 {
		if _, ok := gen1[k]; !ok {
			gone += c.open // only active findings are inactivated
		}
	}
	sim.SetGeneration(1)
	second := f.mustSync(rec)
	wantCounts(t, second.Counts, map[string]int64{"created": added, "inactivated": gone, "updated": changed})

	// An unknown severity fails the record and keeps its findings.
	before := f.state(rec)
	sim.SetSeverity("sim-vuln-100", "Apocalyptic")
	_, err = f.sync(f.newRun(store.KindConnectorSync), rec)
	if err == nil || !strings.Contains(err.Error(), "Nexpose") || !strings.Contains(err.Error(), `unknown severity "Apocalyptic"`) {
		t.Fatalf("unknown severity: %v", err)
	}
	if fmt.Sprint(f.state(rec)) != fmt.Sprint(before) {
		t.Fatal("a failed reimport changed the record's findings")
	}
	sim.SetSeverity("sim-vuln-100", "Severe")

	// A truncated JSON page fails with the page named.
	sim.Faults.Add(simfault.Fault{Path: "/api/3/sites/2/assets", TruncateAt: 60})
	_, err = f.sync(f.newRun(store.KindConnectorSync), rec)
	if err == nil || !strings.Contains(err.Error(), "page 1") || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated page: %v", err)
	}
}

// A retried Discover (same run) reports what one clean run would.
func TestDiscoveryCountsSurviveRetries(t *testing.T) {
	f := newConnFixture(t, connectortype.Qualys, "https://qualysapi.qualys.com", map[string]any{"username": "u", "password": "p"})
	ctx := context.Background()
	found := []scanner.Product{{ID: "1", Name: "A", Kind: "asset_group"}, {ID: "2", Name: "B", Kind: "asset_group"}}
	run := uuid.New()
	first, err := f.st.Connectors.ApplyDiscovery(ctx, f.conn.ID, run, found, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.st.Connectors.ApplyDiscovery(ctx, f.conn.ID, run, found, time.Now())
	if err != nil || first != again || first.Created != 2 {
		t.Fatalf("first %+v, retry %+v, %v", first, again, err)
	}
	next := uuid.New()
	renamed := []scanner.Product{{ID: "1", Name: "A2", Kind: "asset_group"}}
	c1, _ := f.st.Connectors.ApplyDiscovery(ctx, f.conn.ID, next, renamed, time.Now())
	c2, err := f.st.Connectors.ApplyDiscovery(ctx, f.conn.ID, next, renamed, time.Now())
	if err != nil || c1 != c2 || c1.Renamed != 1 || c1.Missing != 1 || c1.Created != 0 {
		t.Fatalf("rename run: %+v, retry %+v, %v", c1, c2, err)
	}
}
