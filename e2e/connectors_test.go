package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/workflows"
)

type connectorView struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Config map[string]any `json:"config"`
}

type recordView struct {
	ID            string  `json:"id"`
	VendorID      string  `json:"vendor_id"`
	Name          string  `json:"name"`
	State         string  `json:"state"`
	ProductID     *string `json:"product_id"`
	ProductName   string  `json:"product_name"`
	LastSyncError string  `json:"last_sync_error"`
}

type findingView struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	Active   bool   `json:"active"`
	Solution string `json:"solution"`
	TestID   string `json:"test_id"`
}

// Connectors through the API and a real Temporal: create (password write-only), Discover,
// map and ignore records, Sync with reimport across scans, the Operations page, the product
// hierarchy and finding history, overlap rules, a record that fails without losing the
// others, and the password kept out of responses and Temporal history.
func TestQualysConnectorThroughAPI(t *testing.T) {
	const password = "qualys-s3cret-pw"
	sim := qualyssim.New(qualyssim.Options{Seed: 21, AssetGroups: 3, HostsPerGroup: 6, DetectionsPerHost: 4, Password: password, Username: "api-user"})
	defer sim.Close()
	s := newStack(t, stackOptions{})

	spec := map[string]any{"tool_type": "qualys", "name": "Qualys EU", "base_url": sim.URL,
		"config": map[string]any{"username": "api-user", "password": password, "allow_plaintext_http": true, "page_size": 4}}
	// Bad specs are refused with the field named.
	for _, tc := range []struct {
		mutate func(map[string]any) map[string]any
		field  string
	}{
		{func(m map[string]any) map[string]any { m["tool_type"] = "nessus"; return m }, "tool_type"},
		{func(m map[string]any) map[string]any {
			m["config"] = map[string]any{"username": "api-user", "password": password}
			return m
		}, "base_url"},
		{func(m map[string]any) map[string]any {
			m["config"] = map[string]any{"username": "api-user", "allow_plaintext_http": true}
			return m
		}, "config.password"},
		{func(m map[string]any) map[string]any { m["sync_schedule"] = "every day"; return m }, "sync_schedule"},
	} {
		bad := map[string]any{}
		for k, v := range spec {
			bad[k] = v
		}
		r := s.do("POST", "/api/v1/connectors", tc.mutate(bad))
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
			t.Fatalf("bad spec (%s): %d %s", tc.field, r.status, r.body)
		}
	}
	var conn connectorView
	r := s.must(http.StatusCreated, "POST", "/api/v1/connectors", spec, &conn)
	if strings.Contains(string(r.body), password) || conn.Config["password_set"] != true {
		t.Fatalf("create answered %s", r.body)
	}
	base := "/api/v1/connectors/" + conn.ID
	var probe struct {
		OK        bool   `json:"ok"`
		ErrorKind string `json:"error_kind"`
		Message   string `json:"message"`
	}
	s.must(http.StatusOK, "POST", base+"/test-connection", nil, &probe)
	if !probe.OK {
		t.Fatalf("connection test: %+v", probe)
	}
	sim.Faults.Add(simfault.Fault{Path: "/api/2.0/fo/asset/group/", Status: 409, Code: "1965", Text: "This API cannot be run again for another 30 seconds.", WaitSeconds: 30})
	s.must(http.StatusOK, "POST", base+"/test-connection", nil, &probe)
	if probe.OK || probe.ErrorKind != "rate_limited" || !strings.Contains(probe.Message, "1965") {
		t.Fatalf("connection test while rate limited: %+v", probe)
	}

	var disc triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", map[string]any{"trigger": "manual", "triggered_by": "alice"}, &disc)
	if disc.WorkflowID != workflows.ConnectorWorkflowID(conn.ID, "discover") {
		t.Fatalf("discover workflow ID = %s", disc.WorkflowID)
	}
	run := s.waitRun(disc.RunID, 60*time.Second)
	if run.Status != "succeeded" || run.Counts["found"] != 3 || run.Counts["created"] != 3 || run.Trigger != "manual" || !strings.Contains(run.TriggeredBy, "alice") {
		t.Fatalf("discover run: %+v", run)
	}
	var recs struct {
		Items []recordView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/records?state=unmapped", nil, &recs)
	if len(recs.Items) != 3 {
		t.Fatalf("unmapped records: %+v", recs)
	}
	byVendor := map[string]recordView{}
	for _, rec := range recs.Items {
		byVendor[rec.VendorID] = rec
	}
	var mapped recordView
	s.must(http.StatusOK, "POST", base+"/records/"+byVendor["1"].ID+"/map", map[string]any{"product_name": "Payments"}, &mapped)
	if mapped.State != "mapped" || mapped.ProductName != "Payments" || mapped.ProductID == nil {
		t.Fatalf("mapped: %+v", mapped)
	}
	s.must(http.StatusOK, "POST", base+"/records/"+byVendor["3"].ID+"/map", map[string]any{"product_id": *mapped.ProductID}, nil)
	s.must(http.StatusOK, "POST", base+"/records/"+byVendor["2"].ID+"/ignore", nil, nil)
	if r := s.do("POST", base+"/records/"+byVendor["2"].ID+"/map", map[string]any{"product_id": *mapped.ProductID, "product_name": "x"}); r.status != http.StatusBadRequest {
		t.Fatalf("map with both product_id and product_name: %d %s", r.status, r.body)
	}

	// A slow first page holds the sync: a second sync is refused, a discover may run.
	sim.Faults.Add(simfault.Fault{Path: "/api/2.0/fo/asset/host/vm/detection/", Delay: 2 * time.Second})
	var syncRun triggered
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &syncRun)
	busy := s.do("POST", base+"/sync", nil)
	if busy.status != http.StatusConflict || !strings.Contains(string(busy.body), `"code":"busy"`) {
		t.Fatalf("second sync: %d %s", busy.status, busy.body)
	}
	var disc2 triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", nil, &disc2)
	run = s.waitRun(syncRun.RunID, 60*time.Second)
	if run.Status != "succeeded" || run.Counts["records"] != 2 || run.Counts["created"] != 48 || run.Counts["records_synced"] != 2 {
		t.Fatalf("sync run: %+v", run)
	}
	s.waitRun(disc2.RunID, 60*time.Second)

	// The product hierarchy: Product -> "Global Connectors" -> one test for the connector.
	var engs struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/engagements?product_id="+*mapped.ProductID, nil, &engs)
	if len(engs.Items) != 1 || engs.Items[0].Name != "Global Connectors" {
		t.Fatalf("engagements: %+v", engs)
	}
	var tests struct {
		Items []struct {
			ID       string `json:"id"`
			TestType string `json:"test_type"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/tests?limit=1&engagement_id="+engs.Items[0].ID, nil, &tests)
	if len(tests.Items) != 1 || tests.Items[0].TestType != "Qualys VM" {
		t.Fatalf("tests: %+v", tests)
	}
	if r := s.do("GET", "/api/v1/tests?cursor=bm90LWEtY3Vyc29y", nil); r.status != http.StatusBadRequest {
		t.Fatalf("a forged cursor: %d %s", r.status, r.body)
	}

	// Findings page through with a cursor.
	seen := 0
	next := ""
	for page := 0; ; page++ {
		var fp struct {
			Items      []findingView `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		q := "/api/v1/findings?active=true&limit=20&product_id=" + *mapped.ProductID
		if next != "" {
			q += "&cursor=" + next
		}
		s.must(http.StatusOK, "GET", q, nil, &fp)
		seen += len(fp.Items)
		if fp.NextCursor == "" {
			break
		}
		next = fp.NextCursor
		if page > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if want := qualysOpen(sim, 1, 3); seen != want || want >= 48 {
		t.Fatalf("paged through %d active findings, want %d (48 less the ignored ones)", seen, want)
	}

	// The next scan: 10% gone, 10% changed, 10% new, in both records.
	sim.SetGeneration(1)
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &syncRun)
	run = s.waitRun(syncRun.RunID, 60*time.Second)
	if run.Status != "succeeded" || run.Counts["inactivated"] == 0 || run.Counts["created"] != 12 ||
		run.Counts["total"] != run.Counts["created"]+run.Counts["updated"]+run.Counts["unchanged"]+run.Counts["reactivated"] {
		t.Fatalf("second sync: %+v", run)
	}
	var inactive struct {
		Items []findingView `json:"items"`
	}
	// Missing from the scan: mitigated. Ignored detections are inactive too, but risk accepted.
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/findings?status=mitigated&limit=200&test_id=%s", tests.Items[0].ID), nil, &inactive)
	if int64(len(inactive.Items)) != run.Counts["inactivated"] {
		t.Fatalf("%d mitigated findings, run says %d", len(inactive.Items), run.Counts["inactivated"])
	}
	var accepted struct {
		Items []findingView `json:"items"`
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/findings?status=risk_accepted&limit=200&test_id=%s", tests.Items[0].ID), nil, &accepted)
	if len(accepted.Items) == 0 || accepted.Items[0].Active {
		t.Fatalf("risk-accepted findings: %+v", accepted.Items)
	}
	var one findingView
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/findings/%d", inactive.Items[0].ID), nil, &one)
	if one.Active || !strings.HasPrefix(one.Solution, "Patch") {
		t.Fatalf("finding: %+v", one)
	}
	var hist struct {
		Items []struct {
			Action string `json:"action"`
			RunID  string `json:"run_id"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/findings/%d/history", one.ID), nil, &hist)
	if len(hist.Items) != 2 || hist.Items[0].Action != "inactivated" || hist.Items[0].RunID != syncRun.RunID || hist.Items[1].Action != "created" {
		t.Fatalf("history: %+v", hist)
	}
	// Open findings by severity over time: none two days ago; today, exactly the active ones.
	var trend struct {
		Items []struct {
			Day    string           `json:"day"`
			Counts map[string]int64 `json:"counts"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/findings/trend?days=3", nil, &trend)
	var active struct {
		Items []findingView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/findings?active=true&limit=200", nil, &active)
	bySeverity := map[string]int64{"Critical": 0, "High": 0, "Medium": 0, "Low": 0, "Info": 0}
	for _, f := range active.Items {
		bySeverity[f.Severity]++
	}
	if len(trend.Items) != 3 || trend.Items[2].Day != time.Now().UTC().Format(time.DateOnly) ||
		!reflect.DeepEqual(trend.Items[2].Counts, bySeverity) || trend.Items[0].Counts["High"]+trend.Items[0].Counts["Medium"] != 0 {
		t.Fatalf("trend %+v; active by severity %v", trend.Items, bySeverity)
	}
	if r := s.do("GET", "/api/v1/findings/trend?days=0", nil); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "days") {
		t.Fatalf("days=0: %d %s", r.status, r.body)
	}
	var imports struct {
		Items []struct {
			Counts map[string]int64 `json:"counts"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/tests/"+tests.Items[0].ID+"/imports", nil, &imports)
	if len(imports.Items) != 4 {
		t.Fatalf("imports: %+v", imports)
	}

	// One record's vendor data is broken: that record fails, the other is applied.
	sim.SetGeneration(2)
	sim.Faults.Add(simfault.Fault{Path: "/api/2.0/fo/asset/host/vm/detection/", Body: "<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID>"})
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &syncRun)
	run = s.waitRun(syncRun.RunID, 60*time.Second)
	if run.Status != "failed" || run.Counts["records_failed"] != 1 || run.Counts["records_synced"] != 1 || run.Counts["reactivated"] == 0 ||
		!strings.Contains(run.Error, `"Asset Group 1"`) || !strings.Contains(run.Error, "truncated") {
		t.Fatalf("partly failed sync: %+v", run)
	}
	if recs, ok := run.Details["records"].([]any); !ok || len(recs) != 2 {
		t.Fatalf("run details: %+v", run.Details)
	}
	var rec1 recordView
	s.must(http.StatusOK, "GET", base+"/records/"+byVendor["1"].ID, nil, &rec1)
	if !strings.Contains(rec1.LastSyncError, "truncated") {
		t.Fatalf("record 1 after a failed sync: %+v", rec1)
	}

	// The Operations page lists every run of the connector.
	var ops struct {
		Items []runView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/operations?limit=50", nil, &ops)
	if len(ops.Items) != 5 {
		t.Fatalf("operations: %d runs", len(ops.Items))
	}
	for _, op := range ops.Items {
		if op.EndedAt == nil || op.DurationMS == nil || op.Counts == nil {
			t.Fatalf("operation without end or duration: %+v", op)
		}
	}
	s.must(http.StatusOK, "GET", base+"/operations?operation=discover", nil, &ops)
	if len(ops.Items) != 2 {
		t.Fatalf("discover operations: %d", len(ops.Items))
	}

	// The password never left Postgres sealed: not in responses, Temporal history or logs.
	r = s.must(http.StatusOK, "GET", base, nil, nil)
	if strings.Contains(string(r.body), password) {
		t.Fatal("the password is in GET /connectors/{id}")
	}
	assertHistoryFree(t, s, syncRun.WorkflowID, "", password)
	if strings.Contains(s.workerLog.String(), password) || strings.Contains(s.apiLog.String(), password) {
		t.Fatal("the password is in a log")
	}

	// Update without the password keeps it; a new server needs it again.
	upd := map[string]any{"tool_type": "qualys", "name": "Qualys EU", "base_url": sim.URL, "sync_schedule": "@every 1h",
		"config": map[string]any{"username": "api-user", "allow_plaintext_http": true}}
	s.must(http.StatusOK, "PUT", base, upd, nil)
	upd["base_url"] = "https://qualysapi.qg2.apps.qualys.eu"
	if r := s.do("PUT", base, upd); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "config.password") {
		t.Fatalf("new server without password: %d %s", r.status, r.body)
	}
	s.must(http.StatusNoContent, "DELETE", base, nil, nil)
	s.must(http.StatusNotFound, "GET", base, nil, nil)
}

// qualysOpen counts the open detections (imported by default and not ignored) of the
// simulator's asset groups in its current generation.
func qualysOpen(sim *qualyssim.Server, groups ...int) int {
	n := 0
	for _, g := range groups {
		for h := 0; h < sim.Options().HostsPerGroup; h++ {
			for _, d := range sim.HostDetections(qualyssim.HostID(g, h)) {
				if d.Imported() && !d.Ignored {
					n++
				}
			}
		}
	}
	return n
}

func TestNexposeConnectorThroughAPI(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Seed: 4, Sites: 2, AssetsPerSite: 3, VulnsPerAsset: 3})
	defer sim.Close()
	s := newStack(t, stackOptions{})
	var conn connectorView
	s.must(http.StatusCreated, "POST", "/api/v1/connectors", map[string]any{"tool_type": "nexpose", "name": "InsightVM", "base_url": sim.URL,
		"config": map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true, "page_size": 2}}, &conn)
	base := "/api/v1/connectors/" + conn.ID
	var tr triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", nil, &tr)
	if run := s.waitRun(tr.RunID, 60*time.Second); run.Status != "succeeded" || run.Counts["created"] != 2 {
		t.Fatalf("discover: %+v", run)
	}
	var recs struct {
		Items []recordView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/records", nil, &recs)
	s.must(http.StatusOK, "POST", base+"/records/"+recs.Items[0].ID+"/map", map[string]any{"product_name": "Datacenter"}, nil)
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &tr)
	// Site 1's 3 assets: 3 findings each, one with two keyed results, one under an
	// exception, and an invulnerable one.
	if run := s.waitRun(tr.RunID, 60*time.Second); run.Status != "succeeded" || run.Counts["created"] != 15 || run.Counts["excepted"] != 3 {
		t.Fatalf("sync: %+v", run)
	}
	var fp struct {
		Items []findingView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/findings?severity=High", nil, &fp)
	for _, f := range fp.Items {
		if f.Severity != "High" {
			t.Fatalf("severity filter: %+v", f)
		}
	}
	// Bad credentials fail the connection test and the sync with a clear, final error.
	s.must(http.StatusOK, "PUT", base, map[string]any{"tool_type": "nexpose", "name": "InsightVM", "base_url": sim.URL,
		"config": map[string]any{"username": "sim", "password": "wrong", "allow_plaintext_http": true}}, nil)
	var probe struct {
		OK        bool   `json:"ok"`
		ErrorKind string `json:"error_kind"`
	}
	s.must(http.StatusOK, "POST", base+"/test-connection", nil, &probe)
	if probe.OK || probe.ErrorKind != "bad_credentials" {
		t.Fatalf("connection test with a wrong password: %+v", probe)
	}
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &tr)
	if run := s.waitRun(tr.RunID, 60*time.Second); run.Status != "failed" || !strings.Contains(run.Error, "HTTP 401") || !strings.Contains(run.Error, "Nexpose") {
		t.Fatalf("bad credentials: %+v", run)
	}
}

// A connector's Discover schedule starts scheduled runs under the operation's key; a run
// that finds the key busy is recorded as skipped; the histories replay with the current code;
// deleting the connector deletes its schedules.
func TestConnectorScheduleSkipAndReplay(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 9, AssetGroups: 2, HostsPerGroup: 3, DetectionsPerHost: 2})
	defer sim.Close()
	s := newStack(t, stackOptions{})
	var conn connectorView
	s.must(http.StatusCreated, "POST", "/api/v1/connectors", map[string]any{"tool_type": "qualys", "name": "Scheduled", "base_url": sim.URL,
		"discover_schedule": "@every 1s",
		"config":            map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true}}, &conn)
	base := "/api/v1/connectors/" + conn.ID
	find := func(pred func(runView) bool, what string) runView {
		var found runView
		testenv.Eventually(t, 45*time.Second, func() error {
			var ops struct {
				Items []runView `json:"items"`
			}
			s.must(http.StatusOK, "GET", base+"/operations?operation=discover&limit=200", nil, &ops)
			for _, r := range ops.Items {
				if pred(r) {
					found = r
					return nil
				}
			}
			return errors.New("no " + what + " run yet")
		})
		return s.waitRun(found.ID, 30*time.Second)
	}
	scheduled := find(func(r runView) bool { return r.Trigger == "scheduled" && r.Status == "succeeded" }, "scheduled")
	if scheduled.WorkflowID != workflows.ConnectorWorkflowID(conn.ID, "discover") || scheduled.Counts["found"] != 2 {
		t.Fatalf("scheduled discover: %+v", scheduled)
	}
	// A slow manual discover holds the key: the schedule's next runs are skipped.
	sim.Faults.Add(simfault.Fault{Path: "/api/2.0/fo/asset/group/", Delay: 3 * time.Second})
	var manual triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", nil, &manual)
	skipped := find(func(r runView) bool { return r.Status == "skipped" }, "skipped")
	if !strings.Contains(skipped.Error, "busy") {
		t.Fatalf("skipped run: %+v", skipped)
	}
	s.waitRun(manual.RunID, 30*time.Second)

	var recs struct {
		Items []recordView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/records", nil, &recs)
	s.must(http.StatusOK, "POST", base+"/records/"+recs.Items[0].ID+"/map", map[string]any{"product_name": "Replayed"}, nil)
	var tr triggered
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &tr)
	synced := s.waitRun(tr.RunID, 30*time.Second)

	replayRuns(t, s, scheduled, skipped, synced)

	ctx := ctxTimeout(t, time.Minute)
	s.must(http.StatusNoContent, "DELETE", base, nil, nil)
	_, err := s.client.ScheduleClient().GetHandle(ctx, workflows.ConnectorScheduleID(conn.ID, "discover")).Describe(ctx)
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("the discover schedule outlived its connector: %v", err)
	}
}

// The real worker binary is killed with SIGKILL while a sync is reading its second page; a
// second worker finishes the sync. The findings and counts are those of one clean sync, with
// one import for the run.
func TestWorkerKilledMidSync(t *testing.T) {
	bin := buildWorker(t)
	sim := qualyssim.New(qualyssim.Options{Seed: 13, AssetGroups: 1, HostsPerGroup: 9, DetectionsPerHost: 3})
	defer sim.Close()
	s := newStack(t, stackOptions{noWorker: true})
	var conn connectorView
	s.must(http.StatusCreated, "POST", "/api/v1/connectors", map[string]any{"tool_type": "qualys", "name": "Crash", "base_url": sim.URL,
		"config": map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true, "page_size": 3}}, &conn)
	base := "/api/v1/connectors/" + conn.ID
	w1 := s.startProcess(bin, "worker-1")
	var tr triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", nil, &tr)
	s.waitRun(tr.RunID, 60*time.Second)
	var recs struct {
		Items []recordView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/records", nil, &recs)
	s.must(http.StatusOK, "POST", base+"/records/"+recs.Items[0].ID+"/map", map[string]any{"product_name": "Crash"}, nil)

	// The second detection page hangs; the worker dies while it waits, with page 1 staged.
	sim.Faults.Add(simfault.Fault{Path: "/api/2.0/fo/asset/host/vm/detection/", After: 1, Delay: time.Minute})
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &tr)
	testenv.Eventually(t, 30*time.Second, func() error {
		n := 0
		for _, r := range sim.Faults.Requests() {
			if strings.Contains(r, "/vm/detection/") {
				n++
			}
		}
		if n < 2 {
			return errors.New("the sync has not asked for page 2 yet")
		}
		return nil
	})
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()
	s.startProcess(bin, "worker-2")
	run := s.waitRun(tr.RunID, 90*time.Second)
	if run.Status != "succeeded" || run.Counts["created"] != 27 || run.Counts["total"] != 27 || run.Counts["records_synced"] != 1 {
		t.Fatalf("sync after the crash: %+v", run)
	}
	var fp struct {
		Items []findingView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/findings?limit=200", nil, &fp)
	if len(fp.Items) != 27 {
		t.Fatalf("%d findings after the crash, want 27", len(fp.Items))
	}
	n, err := s.store.DB.NewSelect().Table("test_imports").Where("run_id = ?", tr.RunID).Count(ctxTimeout(t, 10*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("imports of the run: %d, %v", n, err)
	}
}
