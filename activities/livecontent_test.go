package activities_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/feedsim"
	"github.com/tributary-io/tributary/store"
)

type liveFixture struct {
	*scanFixture
	acts *activities.LiveUpdates
	sim  *feedsim.Sim
	url  string
}

func newLiveFixture(t *testing.T, opt feedsim.Options) *liveFixture {
	f := newScanFixture(t)
	sim := feedsim.New(opt)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &liveFixture{scanFixture: f, acts: &activities.LiveUpdates{Store: f.st, Keyring: f.keys}, sim: sim, url: srv.URL}
}

func (f *liveFixture) update(tk *store.Task) (map[string]int64, activities.LiveUpdateDetails, error) {
	f.t.Helper()
	return execTask[activities.LiveUpdateDetails](f.t, f.st, f.acts, f.acts.UpdateContent, f.newRun(tk), tk.ID)
}

func (f *liveFixture) mustUpdate(tk *store.Task) (map[string]int64, activities.LiveUpdateDetails) {
	f.t.Helper()
	c, d, err := f.update(tk)
	if err != nil {
		f.t.Fatalf("update %s: %v (%+v)", tk.Name, err, d)
	}
	return c, d
}

func (f *liveFixture) item(source, origin, itemID string) store.ContentItem {
	f.t.Helper()
	var it store.ContentItem
	if err := f.st.DB.NewSelect().Model(&it).Where("source = ? AND origin = ? AND item_id = ? AND to_version IS NULL", source, origin, itemID).
		Scan(context.Background()); err != nil {
		f.t.Fatalf("%s %s: %v", source, itemID, err)
	}
	return it
}

func (f *liveFixture) current(source string) int64 {
	return f.scalar("SELECT count(*) FROM content_items WHERE source = ? AND to_version IS NULL AND origin = ?", source, source)
}

func (f *liveFixture) scalar(q string, args ...any) int64 {
	f.t.Helper()
	var n int64
	if err := f.st.DB.NewRaw(q, args...).Scan(context.Background(), &n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// The NVD: a first load pages through every CVE within the rate limit (throttled requests
// wait and ask again); a delta asks only for the CVEs modified since the watermark, in windows
// of at most 120 days; a cut page and server errors are retried; check mode stores nothing; a
// rollback restores the previous version exactly.
func TestLiveUpdateNVD(t *testing.T) {
	f := newLiveFixture(t, feedsim.Options{Seed: 7, CVEs: 2500, Limit: 3, Window: 300 * time.Millisecond})
	nvd := f.task("live_update", map[string]any{"source": "nvd", "url": f.url + feedsim.NVDPath, "allow_plaintext_http": true,
		"results_per_page": 400, "requests_per_window": 10, "window_seconds": 1})
	// The task allows 10 requests a second, the NVD 3 in 300 ms: some are throttled.
	f.sim.Fail(feedsim.NVDPath, http.StatusServiceUnavailable, 1)
	counts, det := f.mustUpdate(nvd)
	if counts["added"] != 2500 || det.Requests < 8 || det.ServerRetries != 1 || det.Since != "" || det.Until == "" {
		t.Fatalf("first load: %+v %+v", counts, det)
	}
	if f.current("nvd") != 2500 || f.scalar("SELECT count(*) FROM content_staging") != 0 {
		t.Fatalf("stored %d", f.current("nvd"))
	}
	first := f.item("nvd", "nvd", feedsim.CVEID(42))
	if first.Score == nil || first.Severity == "" || !strings.Contains(first.Description, feedsim.CVEID(42)) {
		t.Fatalf("CVE: %+v", first)
	}

	// Nothing modified since: no new version.
	if counts, det := f.mustUpdate(nvd); !det.NotModified || counts["added"] != 0 || det.Since == "" {
		t.Fatalf("no change: %+v %+v", counts, det)
	}
	// A delta: 30 CVEs modified, 5 of them rejected; check mode first.
	f.sim.Modify(100, 30, time.Now(), false)
	f.sim.Modify(200, 5, time.Now(), true)
	check := f.task("live_update", map[string]any{"source": "nvd", "url": f.url + feedsim.NVDPath, "allow_plaintext_http": true, "mode": "check",
		"requests_per_window": 10, "window_seconds": 1})
	if counts, _ := f.mustUpdate(check); counts["changed"] != 35 || counts["revoked"] != 5 {
		t.Fatalf("check: %+v", counts)
	}
	if it := f.item("nvd", "nvd", feedsim.CVEID(200)); it.State != "active" || f.scalar("SELECT count(*) FROM content_staging") != 0 {
		t.Fatalf("check mode changed %+v", it)
	}
	requests := f.sim.Requests
	counts, det = f.mustUpdate(nvd)
	if counts["changed"] != 35 || counts["revoked"] != 5 || counts["added"] != 0 || f.sim.Requests-requests != 1 {
		t.Fatalf("delta: %+v %+v (%d requests)", counts, det, f.sim.Requests-requests)
	}
	if it := f.item("nvd", "nvd", feedsim.CVEID(200)); it.State != "rejected" {
		t.Fatalf("rejected: %+v", it)
	}
	if it := f.item("nvd", "nvd", feedsim.CVEID(110)); !strings.Contains(it.Description, "Updated") {
		t.Fatalf("changed: %+v", it)
	}
	if n := f.scalar("SELECT count(*) FROM content_items WHERE source = 'nvd'"); n != 2535 {
		t.Fatalf("%d rows: a delta writes only the changed CVEs", n)
	}

	// A watermark 300 days old: three windows of at most 120 days.
	if _, err := f.st.DB.NewRaw("UPDATE content_versions SET watermark = watermark - interval '300 days' WHERE source = 'nvd' AND current").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.sim.Fail(feedsim.NVDPath, 0, 1) // a cut page: the activity fails, retryable
	if _, det, err := f.update(nvd); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("cut page: %v %+v", err, det)
	}
	before := f.sim.QueryCount()
	counts, det = f.mustUpdate(nvd)
	if w := f.sim.Windows(before); len(w) != 3 || counts["unchanged"] < 1000 || counts["changed"] != 0 {
		t.Fatalf("windows %v, want 3 of at most 120 days; %+v", w, counts)
	}
	if det.ThrottleWaits == 0 && f.sim.Throttled == 0 {
		t.Logf("no request was throttled")
	}

	// Roll back: the delta's items are gone and the first load's are current again.
	if _, err := f.st.RollbackContent(context.Background(), "nvd"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.RollbackContent(context.Background(), "nvd"); err != nil {
		t.Fatal(err)
	}
	if it := f.item("nvd", "nvd", feedsim.CVEID(200)); it.State == "rejected" {
		t.Fatalf("after the rollback: %+v", it)
	}
	if f.current("nvd") != 2500 || f.scalar("SELECT count(*) FROM content_items WHERE source = 'nvd'") != 2500 {
		t.Fatalf("after the rollback: %d current, %d rows", f.current("nvd"), f.scalar("SELECT count(*) FROM content_items WHERE source = 'nvd'"))
	}
	if got := f.item("nvd", "nvd", feedsim.CVEID(42)); got.Hash != first.Hash {
		t.Fatal("the first load's items are not current again")
	}
}

// A retried NVD load resumes at the page its last heartbeat reported, and its result equals
// one clean run's: a page staged after the last heartbeat is staged again, and counted once.
func TestLiveUpdateNVDResumes(t *testing.T) {
	f := newLiveFixture(t, feedsim.Options{Seed: 3, CVEs: 1000, Limit: 100, Window: time.Second})
	nvd := f.task("live_update", map[string]any{"source": "nvd", "url": f.url + feedsim.NVDPath, "allow_plaintext_http": true,
		"results_per_page": 200, "requests_per_window": 100})
	runID := f.newRun(nvd)
	// The first attempt staged pages 0-3, reported startIndex 600 (page 3 not yet), then died.
	var st []store.StagedItem
	for i := 0; i < 800; i++ {
		st = append(st, store.StagedItem{ItemID: feedsim.CVEID(i), Kind: "cve", ExternalID: feedsim.CVEID(i), Name: "stale", State: "active", Data: []byte(`{}`)})
	}
	if err := f.st.StageItems(context.Background(), runID, st); err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	env.SetHeartbeatDetails(activities.LiveUpdateProgress{Phase: "paging", Until: time.Now().UTC().Format(time.RFC3339Nano), Windows: 1, StartIndex: 600, Staged: 600})
	val, err := env.ExecuteActivity(f.acts.UpdateContent, activities.TaskInput{RunID: runID.String(), TaskID: nvd.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	var out activities.TaskOutput
	_ = val.Get(&out)
	if out.Counts["added"] != 1000 || f.sim.Requests != 2 {
		t.Fatalf("resumed: %+v after %d requests (want 2: startIndex 600 and 800)", out.Counts, f.sim.Requests)
	}
	if it := f.item("nvd", "nvd", feedsim.CVEID(5)); it.Name != "stale" {
		t.Fatalf("the resumed run re-fetched page 0: %+v", it)
	}
	var items int
	if err := f.st.DB.NewRaw("SELECT items FROM content_versions WHERE run_id = ?", runID).Scan(context.Background(), &items); err != nil || items != 1000 {
		t.Fatalf("the version holds %d items (%v), want 1000", items, err)
	}
}

// ATT&CK: the newest version of the collection from the index, threats with their
// relationships, revoked and deprecated ones marked; an unchanged version is a run with
// nothing to do; a customer's copy is never overwritten; a version that goes backwards and a
// cut bundle change nothing; a technique dropped from a version is kept as withdrawn.
func TestLiveUpdateATTACK(t *testing.T) {
	f := newLiveFixture(t, feedsim.Options{Seed: 1, Techniques: 12})
	tk := f.task("live_update", map[string]any{"source": "attack", "url": f.url + feedsim.ATTACKIndexPath, "allow_plaintext_http": true,
		"collection": "Enterprise ATT&CK"})
	counts, det := f.mustUpdate(tk)
	if det.Version != "18.0" || det.Collection != "Enterprise ATT&CK" || counts["added"] < 30 {
		t.Fatalf("first: %+v %+v", counts, det)
	}
	if n := f.scalar("SELECT count(*) FROM content_items WHERE kind = 'attack-pattern' AND state = 'revoked'"); n != 1 {
		t.Fatalf("%d revoked", n)
	}
	if n := f.scalar("SELECT count(*) FROM content_items WHERE kind = 'attack-pattern' AND state = 'deprecated'"); n != 1 {
		t.Fatalf("%d deprecated", n)
	}
	t0 := f.item("attack", "attack", stixID(f, "T1000"))
	rels, err := f.st.ItemRelationships(context.Background(), "attack", "attack", t0.ItemID, 10)
	if err != nil || len(rels) < 2 {
		t.Fatalf("relationships of T1000: %+v %v", rels, err)
	}
	// The same version again: nothing to do.
	if _, det := f.mustUpdate(tk); !det.NotModified {
		t.Fatalf("same version: %+v", det)
	}
	// A customer copies technique 3, then MITRE revises it.
	t3 := f.item("attack", "attack", stixID(f, "T1003"))
	name := "Our technique 3"
	cp, err := f.st.CopyContentItem(context.Background(), t3.ID, &name, nil)
	if err != nil || cp.Origin != "customer" {
		t.Fatalf("copy: %+v %v", cp, err)
	}
	f.sim.PublishATTACK("18.1", "Technique 3")
	counts, det = f.mustUpdate(tk)
	if det.Version != "18.1" || counts["changed"] != 1 || counts["added"] != 0 {
		t.Fatalf("18.1: %+v %+v", counts, det)
	}
	if it := f.item("attack", "attack", t3.ItemID); !strings.Contains(it.Description, "revised in 18.1") {
		t.Fatalf("MITRE's: %+v", it)
	}
	if it := f.item("attack", "customer", t3.ItemID); it.Name != name || strings.Contains(it.Description, "revised") {
		t.Fatalf("the customer's copy was overwritten: %+v", it)
	}
	// A cut bundle, then an index whose newest version is older than the current one.
	f.sim.PublishATTACK("18.2")
	f.sim.Fail("/attack/enterprise-attack-", 0, 1)
	if _, _, err := f.update(tk); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("cut: %v", err)
	}
	direct := f.task("live_update", map[string]any{"source": "attack", "url": f.url + "/attack/enterprise-attack-17.0.json", "allow_plaintext_http": true})
	if _, _, err := f.update(direct); err == nil || !strings.Contains(err.Error(), "older than the current version 18.1") {
		t.Fatalf("backwards: %v", err)
	}
	if f.scalar("SELECT count(*) FROM content_versions WHERE source = 'attack'") != 2 {
		t.Fatal("a failed run stored a version")
	}
}

func stixID(f *liveFixture, external string) string {
	f.t.Helper()
	var id string
	if err := f.st.DB.NewRaw("SELECT item_id FROM content_items WHERE source = 'attack' AND external_id = ? AND to_version IS NULL AND origin = 'attack'", external).
		Scan(context.Background(), &id); err != nil {
		f.t.Fatalf("%s: %v", external, err)
	}
	return id
}

// OSCAL: controls and enhancements with their statements; the publisher's checksum is
// verified (a mismatch applies nothing); a new version adds controls; an older release is
// refused; offline from an uploaded file.
func TestLiveUpdateOSCAL(t *testing.T) {
	f := newLiveFixture(t, feedsim.Options{Families: 3, ControlsPerFamily: 4})
	tk := f.task("live_update", map[string]any{"source": "oscal", "url": f.url + feedsim.OSCALPath, "allow_plaintext_http": true,
		"checksum_url": f.url + feedsim.OSCALChecksumPath})
	counts, det := f.mustUpdate(tk)
	if counts["added"] != 3+12+12 || !det.ChecksumVerified || det.Version != "5.1.0" {
		t.Fatalf("first: %+v %+v", counts, det)
	}
	ac1 := f.item("oscal", "oscal", "ac-1")
	if ac1.ExternalID != "AC-1" || ac1.Description != "a. Develop and document AC-1.\nb. Review AC-1 yearly." || ac1.Kind != "control" {
		t.Fatalf("ac-1: %+v", ac1)
	}
	if it := f.item("oscal", "oscal", "cm-4"); it.State != "withdrawn" {
		t.Fatalf("withdrawn control: %+v", it)
	}
	f.sim.PublishOSCAL("5.2.0", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 2)
	f.sim.BadChecksum(true)
	if _, _, err := f.update(tk); err == nil || !strings.Contains(err.Error(), "does not match the publisher's") {
		t.Fatalf("checksum: %v", err)
	}
	f.sim.BadChecksum(false)
	counts, _ = f.mustUpdate(tk)
	if counts["added"] != 4 || counts["unchanged"] != 27 {
		t.Fatalf("5.2.0: %+v", counts)
	}
	f.sim.PublishOSCAL("5.0.0", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	if _, _, err := f.update(tk); err == nil || !strings.Contains(err.Error(), "older than the current version 5.2.0") {
		t.Fatalf("backwards: %v", err)
	}
	// Offline: 5.2.0 uploaded is the current version's file: nothing to do.
	f.sim.PublishOSCAL("5.2.0", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 2)
	resp, err := http.Get(f.url + feedsim.OSCALPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	file, _, err := f.st.Files.Put(context.Background(), &store.File{Name: "catalog.json", CreatedBy: "test", CreatedAt: time.Now()}, resp.Body, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	off := f.task("live_update", map[string]any{"source": "oscal", "file_id": file.ID})
	if _, det := f.mustUpdate(off); !det.NotModified {
		t.Fatalf("offline: %+v", det)
	}
	_ = uuid.Nil
}
