package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/slapdtest"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/store"
)

// longReliability says whether the long versions of the reliability tests run
// (TRIBUTARY_RELIABILITY=long; README "Reliability").
func longReliability() bool { return os.Getenv("TRIBUTARY_RELIABILITY") == "long" }

// The tributary-worker process is killed with SIGKILL at random moments during a connector
// sync, for each tool (Qualys VM and NeXpose; a fresh worker started after each kill), and
// the final state is compared with a clean sync of the same vendor data by another connector:
// the same findings (count, and a hash of every finding's identity, status, severity and
// content), one import row per record, one sync run, succeeded. Each kill lands on an
// executing attempt at a random moment (killWorkerRandomly). Short version: 3 kills
// over 20,000 Qualys findings and 1,000 NeXpose assets; long (TRIBUTARY_RELIABILITY=long): 20
// over 100,000 findings and 10,000 assets.
func TestRandomWorkerKillsDuringSync(t *testing.T) {
	// Qualys: asset groups (records) × hosts × 10 detections; NeXpose: sites (records) × assets × 5.
	groups, hosts, sites, assets, kills := 2, 1000, 2, 500, 3
	if longReliability() {
		groups, hosts, sites, assets, kills = 4, 2500, 4, 2500, 20
	}
	if v, err := strconv.Atoi(os.Getenv("TRIBUTARY_KILLS")); err == nil && v > 0 {
		kills = v
	}
	bin := buildWorker(t)
	for _, tool := range []struct {
		name, size string
		sim        func() (url string, stop func())
	}{
		{"qualys", fmt.Sprintf("%d findings", groups*hosts*10), func() (string, func()) {
			sim := qualyssim.New(qualyssim.Options{Seed: 11, AssetGroups: groups, HostsPerGroup: hosts, DetectionsPerHost: 10})
			return sim.URL, sim.Close
		}},
		{"nexpose", fmt.Sprintf("%d assets × 5 vulnerabilities", sites*assets), func() (string, func()) {
			sim := nexposesim.New(nexposesim.Options{Seed: 12, Sites: sites, AssetsPerSite: assets, VulnsPerAsset: 5})
			return sim.URL, sim.Close
		}},
	} {
		t.Run(tool.name, func(t *testing.T) {
			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			t.Logf("seed %d: %d kills, %s", seed, kills, tool.size)
			url, stop := tool.sim()
			defer stop()
			s := newStack(t, killStackOptions)
			// Two connectors on the same vendor data: one synced cleanly, one through the kills.
			w := s.startProcess(bin, "worker-0")
			cleanID, records := mappedConnector(t, s, tool.name, url, "clean")
			crashID, _ := mappedConnector(t, s, tool.name, url, "crashed")
			want, span := cleanSync(t, s, cleanID)
			var tr triggered
			s.must(http.StatusAccepted, "POST", "/api/v1/connectors/"+crashID+"/sync", nil, &tr)
			survived, _ := killWorkerRandomly(t, s, bin, w, tr.RunID, span, kills, rng)
			run := afterKills(t, s, tr.RunID, "/api/v1/runs?kind=connector_sync&connector_id="+crashID, survived, want,
				func() string { return connectorFingerprint(t, s, crashID) })
			t.Logf("| %s connector sync, %s, %d records (clean %s, this one %s) | worker SIGKILL at random moments, fresh worker after each | %d kills tried | %d landed mid-sync; succeeded | findings hash, imports per record, runs: %s |",
				tool.name, tool.size, records, span, time.Duration(*run.DurationMS)*time.Millisecond, kills, survived, want)
		})
	}
}

// mappedConnector creates a connector of the tool on a simulator at url (credentials
// sim/sim-password, 20 attempts per record), discovers it and maps every record to a product
// of its own; it returns the connector's ID and how many records it has.
func mappedConnector(t *testing.T, s *stack, tool, url, name string) (string, int) {
	t.Helper()
	var c connectorView
	s.must(http.StatusCreated, "POST", "/api/v1/connectors", map[string]any{"tool_type": tool, "name": name, "base_url": url,
		"config": map[string]any{"username": "sim", "password": "sim-password", "allow_plaintext_http": true, "page_size": 200, "max_attempts": 20}}, &c)
	base := "/api/v1/connectors/" + c.ID
	var tr triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", nil, &tr)
	if r := s.waitRun(tr.RunID, 2*time.Minute); r.Status != store.StatusSucceeded {
		t.Fatalf("discover %s: %+v", name, r)
	}
	var recs struct {
		Items []recordView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/records?limit=200", nil, &recs)
	for _, r := range recs.Items {
		s.must(http.StatusOK, "POST", base+"/records/"+r.ID+"/map", map[string]any{"product_name": name + " " + r.Name}, nil)
	}
	return c.ID, len(recs.Items)
}

// connectorFingerprint sums up what a connector's syncs stored: how many findings, an MD5 of
// every finding's record, identity, status, severity and content hash, and how many imports.
func connectorFingerprint(t *testing.T, s *stack, connectorID string) string {
	t.Helper()
	var n, imports int
	var sum string
	db := s.store.DB
	if err := db.QueryRowContext(context.Background(), `
		SELECT count(*), md5(COALESCE(string_agg(r.vendor_id || '|' || f.identity || '|' || f.status || '|' || f.severity || '|' || f.content_hash, ','
			ORDER BY r.vendor_id, f.identity), ''))
		FROM findings f JOIN connector_records r ON r.id = f.record_id WHERE r.connector_id = ?`, connectorID).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM test_imports i JOIN connector_records r ON r.id = i.record_id
		WHERE r.connector_id = ?`, connectorID).Scan(&imports); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d findings (md5 %s), %d imports", n, sum, imports)
}

// cleanSync syncs the connector with nothing going wrong and returns its fingerprint and how
// long the sync took: what a sync through faults must end as, and the time it may take.
func cleanSync(t *testing.T, s *stack, connectorID string) (string, time.Duration) {
	t.Helper()
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/connectors/"+connectorID+"/sync", nil, &tr)
	clean := s.waitRun(tr.RunID, 10*time.Minute)
	if clean.Status != store.StatusSucceeded {
		t.Fatalf("clean sync: %+v", clean)
	}
	return connectorFingerprint(t, s, connectorID), time.Duration(*clean.DurationMS) * time.Millisecond
}

// killStackOptions make a stack for random kills: workers started by the test, and retries
// after at most 1s, so that twenty failed attempts do not wait minutes of doubling backoff.
var killStackOptions = stackOptions{noWorker: true, retryMaxInterval: time.Second}

// killWorkerRandomly SIGKILLs the worker process w while the run runID goes on, kills times at
// most, and starts a fresh worker after each. Each kill waits until an activity attempt that
// no kill has hit yet is executing (Temporal says STARTED: after a kill, once the heartbeat
// timeout has failed the dead attempt and the retry's backoff has passed), then a random
// moment within the first half of span (how long a clean run takes), and lands only if an
// attempt is executing then. It returns how many kills landed on an executing attempt, and
// the worker left running.
func killWorkerRandomly(t *testing.T, s *stack, bin string, w *exec.Cmd, runID string, span time.Duration, kills int, rng *rand.Rand) (int, *exec.Cmd) {
	t.Helper()
	// The run's record is written when a worker starts it.
	var rv runView
	testenv.Eventually(t, 2*time.Minute, func() error {
		r := s.do("GET", "/api/v1/runs/"+runID, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("run %s: %d", runID, r.status)
		}
		return json.Unmarshal(r.body, &rv)
	})
	hit := map[string]bool{} // "activity ID#attempt" of the attempts killed
	// unhit says whether the workflow is open and an attempt no kill has hit executes.
	unhit := func() (open, found bool) {
		open, running := executingAttempts(t, s, rv)
		for _, k := range running {
			found = found || !hit[k]
		}
		return open, found
	}
	survived := 0
	for i := 1; i <= kills; i++ {
		open := true
		testenv.Eventually(t, 2*time.Minute, func() error {
			var ok bool
			if open, ok = unhit(); open && !ok {
				return errors.New("no attempt that was not killed executes yet")
			}
			return nil
		})
		if !open {
			break // the run ended before this kill
		}
		time.Sleep(span/20 + time.Duration(rng.Int64N(int64(span*9/20)+1)))
		open, ok := unhit()
		if !open {
			break
		}
		if !ok {
			continue // between two activities: this kill would not land
		}
		if err := w.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = w.Wait()
		// Every attempt executing now (no worker runs) died with the worker.
		_, running := executingAttempts(t, s, rv)
		for _, k := range running {
			hit[k] = true
		}
		survived++
		w = s.startProcess(bin, fmt.Sprintf("worker-%d", i))
	}
	return survived, w
}

// executingAttempts says whether the run's workflow is still open, and which activity
// attempts ("activity ID#attempt") Temporal says are executing.
func executingAttempts(t *testing.T, s *stack, rv runView) (open bool, running []string) {
	t.Helper()
	d, err := s.client.DescribeWorkflowExecution(context.Background(), rv.WorkflowID, rv.WorkflowRunID)
	if err != nil {
		t.Fatalf("describe workflow %s: %v", rv.WorkflowID, err)
	}
	if d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return false, nil
	}
	for _, a := range d.PendingActivities {
		if a.State == enumspb.PENDING_ACTIVITY_STATE_STARTED {
			running = append(running, fmt.Sprintf("%s#%d", a.ActivityId, a.Attempt))
		}
	}
	return true, running
}

// The worker process is SIGKILLed at random moments during a full LDAP import, and the result
// is compared with a clean import of the same directory by another task: the same directory
// objects (count, and a hash of every object's kind, identity, DN, status, names and
// addresses) and the same group memberships, one run, succeeded. Short version: 3 kills over
// 5,000 users; long (TRIBUTARY_RELIABILITY=long): 20 over 50,000.
func TestRandomWorkerKillsDuringLDAPImport(t *testing.T) {
	users, kills := 5000, 3
	if longReliability() {
		users, kills = 50000, 20
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	t.Logf("seed %d: %d kills, %d users", seed, kills, users)
	ldap := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{Users: users, Groups: users / 100,
		Computers: users / 25, MembersPerGroup: 50, NestedGroups: true})})
	bin := buildWorker(t)
	s := newStack(t, killStackOptions)
	w := s.startProcess(bin, "worker-0")
	task := func(name string) string { return ldapImportTask(t, s, ldap, name) }
	fingerprint := func(taskID string) string { return directoryState(t, s, taskID) }
	cleanID, crashID := task("clean"), task("crashed")
	tr := trigger(s, cleanID)
	clean := s.waitRun(tr.RunID, 10*time.Minute)
	if clean.Status != store.StatusSucceeded {
		t.Fatalf("clean import: %+v", clean)
	}
	want, span := fingerprint(cleanID), time.Duration(*clean.DurationMS)*time.Millisecond

	tr = trigger(s, crashID)
	survived, _ := killWorkerRandomly(t, s, bin, w, tr.RunID, span, kills, rng)
	run := afterKills(t, s, tr.RunID, "/api/v1/runs?task_id="+crashID, survived, want, func() string { return fingerprint(crashID) })
	t.Logf("| LDAP import, %d users, %d groups, %d computers (clean %s, this one %s) | worker SIGKILL at random moments, fresh worker after each | %d kills tried | %d landed mid-import; succeeded | %s |",
		users, users/100, users/25, span, time.Duration(*run.DurationMS)*time.Millisecond, kills, survived, want)
}

// afterKills waits for the run that went through survived kills (or crashes) and checks it
// ended as a clean one would: succeeded, with got() equal to the clean run's fingerprint want,
// and as the only run runsPath lists; and that a kill landed at all.
func afterKills(t *testing.T, s *stack, runID, runsPath string, survived int, want string, got func() string) runView {
	t.Helper()
	run := s.waitRun(runID, 20*time.Minute)
	if run.Status != store.StatusSucceeded {
		t.Fatalf("the run after %d kills ended %s: %s", survived, run.Status, run.Error)
	}
	if g := got(); g != want {
		t.Fatalf("after %d kills: %s; a clean run: %s", survived, g, want)
	}
	var runs struct {
		Items []runView `json:"items"`
	}
	s.must(http.StatusOK, "GET", runsPath, nil, &runs)
	if len(runs.Items) != 1 {
		t.Fatalf("%d runs recorded for one run", len(runs.Items))
	}
	if survived == 0 {
		t.Fatalf("no kill landed while the run ran (it took %d ms): the test proved nothing", *run.DurationMS)
	}
	return run
}

// ldapImportTask creates an LDAP import of the whole of ldap's directory named name (25
// attempts: more than the long version's 20 kills), and returns its ID.
func ldapImportTask(t *testing.T, s *stack, ldap *slapdtest.Server, name string) string {
	t.Helper()
	var tv taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "ldap_import", "name": name, "max_attempts": 25,
		"config": map[string]any{"preset": "openldap", "urls": []string{ldap.URL}, "base_dn": slapdtest.Suffix, "bind_dn": slapdtest.ReaderDN,
			"bind_password": slapdtest.ReaderPW, "allow_plaintext_bind": true, "page_size": 500}}, &tv)
	return tv.ID
}

// directoryState sums up what a task's LDAP imports stored: how many directory objects, an
// MD5 of every object's kind, identity, DN, status, names and addresses, and how many group
// memberships resolve to an object.
func directoryState(t *testing.T, s *stack, taskID string) string {
	t.Helper()
	var n, members int
	var sum string
	db := s.store.DB
	if err := db.QueryRowContext(context.Background(), `
		SELECT count(*), md5(COALESCE(string_agg(concat_ws('|', kind, external_id, dn, status, username, email, name, description, fqdn, hostname,
			array_to_string(ip_addresses, ' '), os, os_version), ',' ORDER BY kind, external_id), ''))
		FROM directory_objects WHERE task_id = ?`, taskID).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM directory_members m JOIN directory_objects g ON g.id = m.group_id
		WHERE g.task_id = ? AND m.member_id IS NOT NULL`, taskID).Scan(&members); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d objects (md5 %s), %d resolved memberships", n, sum, members)
}
