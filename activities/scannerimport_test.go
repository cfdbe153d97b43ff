package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

type scanFixture struct {
	t     *testing.T
	st    *store.Store
	keys  *secrets.Keyring
	acts  *activities.ScannerImports
	suite testsuite.WorkflowTestSuite
}

func newScanFixture(t *testing.T) *scanFixture {
	t.Helper()
	keys, _, err := secrets.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(testenv.DB(t))
	return &scanFixture{t: t, st: st, keys: keys, acts: &activities.ScannerImports{Store: st, Keyring: keys, HeartbeatEvery: 10 * time.Millisecond,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}}
}

// task stores a task of typ with cfg (as the API would receive it), sealed.
func (f *scanFixture) task(typ string, cfg map[string]any) *store.Task {
	f.t.Helper()
	b, _ := json.Marshal(cfg)
	c, err := tasktype.Decode(typ, b)
	if err != nil {
		f.t.Fatalf("config: %v", err)
	}
	if err := tasktype.SealSecrets(c, f.keys.Seal); err != nil {
		f.t.Fatal(err)
	}
	sealed, _ := json.Marshal(c)
	tk := &store.Task{ID: uuid.New(), Type: typ, Name: typ + " " + f.t.Name() + " " + uuid.NewString()[:8], Config: sealed, Timezone: "UTC", Enabled: true,
		OverlapPolicy: "skip", MaxDurationSeconds: 3600, MaxAttempts: 3, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.st.Tasks.Insert(context.Background(), tk); err != nil {
		f.t.Fatal(err)
	}
	return tk
}

func (f *scanFixture) newRun(tk *store.Task) uuid.UUID {
	f.t.Helper()
	r := &store.Run{ID: uuid.New(), Kind: "task", TaskID: &tk.ID, TaskType: &tk.Type, Trigger: "manual", Status: "running",
		StartedAt: time.Now(), WorkflowID: "task-type/" + tk.Type, Counts: map[string]int64{}, Details: json.RawMessage(`{}`)}
	if err := f.st.Runs.RecordStart(context.Background(), r); err != nil {
		f.t.Fatal(err)
	}
	return r.ID
}

func (f *scanFixture) run(tk *store.Task, runID uuid.UUID) (map[string]int64, activities.ScannerImportDetails, error) {
	f.t.Helper()
	act := f.acts.ImportScannerAssets
	if strings.HasSuffix(tk.Type, "_vulnerabilities") {
		act = f.acts.ImportScannerVulnerabilities
	}
	return execTask[activities.ScannerImportDetails](f.t, f.st, f.acts, act, runID, tk.ID)
}

func (f *scanFixture) mustRun(tk *store.Task) map[string]int64 {
	f.t.Helper()
	counts, _, err := f.run(tk, f.newRun(tk))
	if err != nil {
		f.t.Fatalf("run %s: %v", tk.Type, err)
	}
	return counts
}

func (f *scanFixture) assets(source string) map[string]store.Asset {
	f.t.Helper()
	out := map[string]store.Asset{}
	cursor := ""
	for {
		list, next, err := f.st.Directory.ListAssets(context.Background(), store.AssetFilter{Source: source, Limit: 200, Cursor: cursor})
		if err != nil {
			f.t.Fatal(err)
		}
		for _, a := range list {
			out[a.VendorID] = a
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

func (f *scanFixture) occurrences(tk *store.Task) []store.Occurrence {
	f.t.Helper()
	var out []store.Occurrence
	cursor := ""
	for {
		list, next, err := f.st.Directory.ListOccurrences(context.Background(), store.OccurrenceFilter{TaskID: &tk.ID, Limit: 200, Cursor: cursor})
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, list...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// Import Assets from Qualys: hosts become assets keyed by the Qualys host ID, named as
// Modulo names them; the filter narrows the import; an admin's edit survives a re-import;
// hosts gone from the list are marked under the removal guard.
func TestQualysAssetImport(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 5, AssetGroups: 3, HostsPerGroup: 8, DetectionsPerHost: 2})
	defer sim.Close()
	f := newScanFixture(t)
	cfg := map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password", "allow_plaintext_http": true,
		"page_size": 5, "groups": []string{"1", "2"}, "default_responsible": "secops", "default_criticality": 40, "max_removal_percent": 50}
	tk := f.task(tasktype.QualysAssets, cfg)
	wantCounts(t, f.mustRun(tk), map[string]int64{"created": 16, "updated": 0, "unchanged": 0, "removed": 0})
	got := f.assets("qualys")
	if len(got) != 16 {
		t.Fatalf("assets = %d, want 16", len(got))
	}
	for h := 0; h < 4; h++ {
		id := qualyssim.HostID(1, h)
		a := got[fmt.Sprint(id)]
		var want string
		switch h % 4 {
		case 2: // no NetBIOS: DNS
			want = fmt.Sprintf("host-%d.example.test", id)
		default: // NetBIOS (IP)
			want = fmt.Sprintf("HOST-%d (%s)", id, qualyssim.IP(1, h))
		}
		if a.Name != want || a.Responsible != "secops" || a.Criticality == nil || *a.Criticality != 40 || a.Relevance != 3 ||
			!strings.HasPrefix(a.IdentityKey, "qualys:127.0.0.1:") || a.OS != "Linux 5.15" {
			t.Errorf("host %d: asset = %+v, want name %q", h, a, want)
		}
	}
	// Unchanged data changes nothing; an edited name is kept.
	var one store.Asset
	for _, a := range got {
		one = a
		break
	}
	edited := "payments db"
	if err := f.st.Directory.UpdateAsset(context.Background(), one.ID, store.AssetEdit{Name: &edited}, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, f.mustRun(tk), map[string]int64{"created": 0, "updated": 0, "unchanged": 16})
	if a, _ := f.st.Directory.GetAsset(context.Background(), one.ID); a.Name != edited || strings.Join(a.EditedFields, ",") != "name" {
		t.Fatalf("edited asset = %+v", a)
	}
	// A second task with an IP filter sees the same 8 hosts of group 1: it shares their assets.
	tk2 := f.task(tasktype.QualysAssets, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "ip_ranges": []string{"10.1.0.0/24"}, "max_removal_percent": 20})
	wantCounts(t, f.mustRun(tk2), map[string]int64{"created": 0, "unchanged": 8})
	// An asset group deleted in Qualys fails the run with Qualys's own answer.
	sim.Remove(2, true)
	_, _, err := f.run(tk, f.newRun(tk))
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != "Vendor.rejected" || !strings.Contains(err.Error(), "1905") || !strings.Contains(err.Error(), "ag_ids") {
		t.Fatalf("removed group: %v", err)
	}
	sim.Remove(2, false)
	tk3 := f.task(tasktype.QualysAssets, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "groups": []string{"3"}})
	wantCounts(t, f.mustRun(tk3), map[string]int64{"created": 8})
	// With ip_ranges narrowed to nothing of group 3, the guard refuses to remove everything.
	var c3 map[string]any
	_ = json.Unmarshal(tk3.Config, &c3)
	c3["ip_ranges"], c3["password"] = []string{"192.0.2.0/24"}, "sim-password"
	b, _ := json.Marshal(c3)
	cfg3, err := tasktype.Decode(tasktype.QualysAssets, b)
	if err != nil {
		t.Fatal(err)
	}
	_ = tasktype.SealSecrets(cfg3, f.keys.Seal)
	tk3.Config, _ = json.Marshal(cfg3)
	if err := f.st.Tasks.Update(context.Background(), tk3); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		var lines []string
		for id, a := range f.assets("qualys") {
			lines = append(lines, fmt.Sprintln(id, a.Name, a.Status, a.UpdatedAt.UnixNano(), strings.Join(a.Sources, ",")))
		}
		sort.Strings(lines)
		return strings.Join(lines, "")
	}
	before := state()
	_, _, err = f.run(tk3, f.newRun(tk3))
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeRemovalGuard || !strings.Contains(err.Error(), "listed no hosts, but 8 assets") {
		t.Fatalf("empty listing: %v", err)
	}
	if state() != before {
		t.Fatal("a refused import changed assets")
	}
}

// Import Vulnerabilities from Qualys: the catalogue from the knowledge base, occurrences on
// the hosts' assets (created from the detection's host data when no asset import ran), closed
// when missing, reopened when back, risk score probability x level x relevance; a retried run
// applies once.
func TestQualysVulnerabilityImport(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 8, AssetGroups: 1, HostsPerGroup: 10, DetectionsPerHost: 6})
	defer sim.Close()
	f := newScanFixture(t)
	tk := f.task(tasktype.QualysVulnerabilities, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "page_size": 3, "expire_after_days": 1, "delete_after_days": 2})
	expect := qualysExpect(sim, 1, 0, 0)
	run := f.newRun(tk)
	first, _, err := f.run(tk, run)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, first, map[string]int64{"created": expect["total"], "total": expect["total"], "excepted": expect["excepted"],
		"assets_created": 10, "catalog_created": 6, "closed": 0})
	// A retry of the same run reports the same and changes nothing.
	again, _, err := f.run(tk, run)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("retried run = %v, %v; want %v", again, err, first)
	}
	occ := f.occurrences(tk)
	if int64(len(occ)) != expect["total"] {
		t.Fatalf("occurrences = %d", len(occ))
	}
	for _, o := range occ {
		want := int64(0)
		if o.Status == "open" {
			want = int64(o.Probability * *o.Level * 3)
		}
		if o.RiskScore != want || o.Title == "" || o.AssetName == "" {
			t.Fatalf("occurrence %+v: risk %d, want %d", o, o.RiskScore, want)
		}
		if o.DetectionType == scanner.TypePotential && o.Probability != 3 {
			t.Fatalf("potential occurrence probability %d", o.Probability)
		}
	}
	cat, _, err := f.st.Directory.ListVulnerabilities(context.Background(), store.VulnerabilityFilter{Source: "qualys", Limit: 50})
	if err != nil || len(cat) != 6 || cat[0].Level == nil || !strings.Contains(cat[0].Description, `"show version"`) {
		t.Fatalf("catalogue = %+v, %v", cat, err)
	}
	// Assets created from detections are the ones an asset import later updates.
	at := f.task(tasktype.QualysAssets, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password", "allow_plaintext_http": true})
	if c := f.mustRun(at); c["created"] != 0 || c["updated"]+c["unchanged"] != 10 {
		t.Fatalf("asset import after the vulnerability import: %v", c)
	}

	sim.SetGeneration(1)
	gen1 := qualysExpect(sim, 1, 1, 0)
	second := f.mustRun(tk)
	wantCounts(t, second, map[string]int64{"created": gen1["created"], "closed": gen1["inactivated"], "updated": gen1["updated"]})
	sim.SetGeneration(0)
	third := f.mustRun(tk)
	wantCounts(t, third, map[string]int64{"reopened": gen1["inactivated"], "closed": gen1["created"]})
	// Closed for longer than expire_after_days: expired; then deleted, history kept.
	if _, err := f.st.DB.NewRaw("UPDATE vulnerability_occurrences SET closed_at = now() - interval '3 days' WHERE task_id = ? AND status = 'closed'", tk.ID).
		Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	fourth := f.mustRun(tk)
	wantCounts(t, fourth, map[string]int64{"expired": gen1["created"], "deleted": 0})
	if _, err := f.st.DB.NewRaw("UPDATE vulnerability_occurrences SET expired_at = now() - interval '3 days' WHERE task_id = ? AND status = 'expired'", tk.ID).
		Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	fifth := f.mustRun(tk)
	wantCounts(t, fifth, map[string]int64{"deleted": gen1["created"]})
	var hist int
	if err := f.st.DB.NewRaw("SELECT count(DISTINCT occurrence_id) FROM occurrence_history WHERE action = 'deleted'").Scan(context.Background(), &hist); err != nil || int64(hist) != gen1["created"] {
		t.Fatalf("history of deleted occurrences = %d, %v", hist, err)
	}
}

// The NeXpose types: relevance from the risk score, sites as the filter, exceptions and
// invulnerable findings kept and not open, a vanished asset skipped and noted.
func TestNexposeImports(t *testing.T) {
	sim := nexposesim.New(nexposesim.Options{Seed: 4, Sites: 2, AssetsPerSite: 4, VulnsPerAsset: 4})
	defer sim.Close()
	f := newScanFixture(t)
	base := map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password", "allow_plaintext_http": true, "page_size": 3}
	at := f.task(tasktype.NexposeAssets, base)
	wantCounts(t, f.mustRun(at), map[string]int64{"created": 8})
	// Relevance from the risk score at 1000 per point: 1000.5 -> risk 2 -> 1, 3000.5 -> 4 -> 2,
	// 5000.5 -> 6 -> 3, 7000.5 -> 8 -> 4.
	for _, a := range f.assets("nexpose") {
		id, _ := strconv.Atoi(a.VendorID)
		want := []int{1, 2, 3, 4, 5}[(id-1)%100_000%5]
		if a.Relevance != want || a.Source != "nexpose" || a.Name == "" || a.HostAddress == "" {
			t.Fatalf("asset %+v, want relevance %d", a, want)
		}
	}
	vt := f.task(tasktype.NexposeVulnerabilities, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "groups": []string{"1"}})
	var all, open int64
	for i := 0; i < 4; i++ {
		for _, v := range sim.AssetVulns(nexposesim.AssetID(1, i)) {
			a, o := v.Findings()
			all, open = all+int64(a), open+int64(o)
		}
	}
	wantCounts(t, f.mustRun(vt), map[string]int64{"created": all, "excepted": all - open, "assets_created": 0})
	sim.Vanish(nexposesim.AssetID(1, 2))
	counts, det, err := f.run(vt, f.newRun(vt))
	if err != nil || counts["skipped"] != 1 || det.NotesTotal != 1 || !strings.Contains(det.Notes[0], "was removed while it was read") {
		t.Fatalf("vanished asset: %v %+v %v", counts, det, err)
	}
	if counts["closed"] == 0 || counts["closed"] > all/4 {
		t.Fatalf("closed = %d of %d", counts["closed"], all)
	}
}
