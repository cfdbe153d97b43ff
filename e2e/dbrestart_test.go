package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/pgtest"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/slapdtest"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/store"
)

// PostgreSQL goes away under a running system — a fast stop, an immediate (crash-like) stop,
// and pg_ctl restart — each while a run is in flight. While it is away the API answers 503
// with a JSON body and Retry-After (never 500) and /readyz says not ready while /healthz
// stays up; once it is back the API recovers by itself and every run in flight completes:
// its bookkeeping activities retry until the database answers, so the run history ends with
// exactly the runs started, each succeeded once, none left running.
func TestDatabaseRestarts(t *testing.T) {
	pg := pgtest.Start(t)
	s := newStack(t, stackOptions{dbServer: pg.URL})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
		time.Sleep(1500 * time.Millisecond) // in flight while the database goes
		w.WriteHeader(http.StatusOK)
	})
	task := s.createHTTPTask("through database restarts", tg.srv.URL, nil)

	trigger := func() string {
		t.Helper()
		var tr struct {
			RunID string `json:"run_id"`
		}
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		// the run's start is recorded before the database goes
		testenv.Eventually(t, 20*time.Second, func() error {
			if r := s.do("GET", "/api/v1/runs/"+tr.RunID, nil); r.status != http.StatusOK {
				return errStatus(r)
			}
			return nil
		})
		return tr.RunID
	}
	// whileDown checks what every kind of caller sees while the database is away.
	whileDown := func(what string) {
		t.Helper()
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/v1/tasks"}, {"GET", "/api/v1/runs?status=running"}, {"GET", "/api/v1/tasks/" + task.ID},
			{"POST", "/api/v1/tasks/" + task.ID + "/runs"}, {"GET", "/api/v1/findings/trend"},
		} {
			r := s.do(req.method, req.path, nil)
			var body struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if r.status != http.StatusServiceUnavailable || json.Unmarshal(r.body, &body) != nil || body.Error.Code != "unavailable" ||
				r.header.Get("Retry-After") == "" {
				t.Fatalf("%s: %s %s answered %d %s (Retry-After %q), want 503 unavailable", what, req.method, req.path, r.status, r.body, r.header.Get("Retry-After"))
			}
		}
		if r := s.do("GET", "/readyz", nil); r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: /readyz answered %d %s", what, r.status, r.body)
		}
		if r := s.do("GET", "/healthz", nil); r.status != http.StatusOK {
			t.Fatalf("%s: /healthz answered %d", what, r.status)
		}
	}
	recovered := func(what string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() error {
			if r := s.do("GET", "/api/v1/tasks", nil); r.status != http.StatusOK {
				return errStatus(r)
			}
			return nil
		})
	}

	var runs []string
	for _, mode := range []string{"fast", "immediate"} {
		id := trigger()
		runs = append(runs, id)
		if err := pg.Stop(mode); err != nil {
			t.Fatal(err)
		}
		if err := pg.WaitDown(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		whileDown("stop -m " + mode)
		time.Sleep(2 * time.Second) // the HTTP call ends while the database is away
		whileDown("stop -m " + mode + ", run's call over")
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
		recovered("stop -m " + mode)
		rv := s.waitRun(id, 90*time.Second)
		if rv.Status != store.StatusSucceeded {
			t.Fatalf("the run in flight during stop -m %s ended %s: %s", mode, rv.Status, rv.Error)
		}
		t.Logf("| http_call run in flight | pg_ctl stop -m %s, ~4 s down, start | 1 | succeeded after %s | 5 routes 503 + Retry-After, /readyz 503, /healthz 200, recovered |",
			mode, time.Duration(*rv.DurationMS)*time.Millisecond)
	}
	id := trigger()
	runs = append(runs, id)
	if err := pg.Restart("fast"); err != nil {
		t.Fatal(err)
	}
	recovered("restart")
	rv := s.waitRun(id, 90*time.Second)
	if rv.Status != store.StatusSucceeded {
		t.Fatalf("the run in flight during pg_ctl restart ended %s: %s", rv.Status, rv.Error)
	}
	t.Logf("| http_call run in flight | pg_ctl restart -m fast | 1 | succeeded after %s | recovered; runs, statuses and target calls counted |", time.Duration(*rv.DurationMS)*time.Millisecond)

	// Nothing half-applied: exactly the runs started (the triggers refused while the
	// database was away started none), each succeeded, none still running; the target was
	// called once per run.
	var list struct {
		Items []runView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/runs?task_id="+task.ID+"&limit=50", nil, &list)
	if len(list.Items) != len(runs) {
		t.Fatalf("%d runs recorded, %d started: %+v", len(list.Items), len(runs), list.Items)
	}
	for _, r := range list.Items {
		if r.Status != store.StatusSucceeded {
			t.Fatalf("run %s: %s %s", r.ID, r.Status, r.Error)
		}
	}
	if n := tg.calls.Load(); n != int64(len(runs)) {
		t.Fatalf("the target was called %d times for %d runs", n, len(runs))
	}
	if strings.Contains(s.apiLog.String(), "status=500") {
		t.Fatalf("the API logged a 500:\n%s", s.apiLog.String())
	}
}

// PostgreSQL stopped in immediate mode (like a crash) in the middle of a Qualys connector
// sync of 20,000 findings, and started again: the sync's record reimports, each one
// transaction, are rolled back and retried, and the result equals a clean sync of the same
// vendor data by another connector; one sync run, succeeded.
func TestDatabaseCrashDuringSync(t *testing.T) {
	pg := pgtest.Start(t)
	sim := qualyssim.New(qualyssim.Options{Seed: 11, AssetGroups: 2, HostsPerGroup: 1000, DetectionsPerHost: 10})
	defer sim.Close()
	s := newStack(t, stackOptions{dbServer: pg.URL})
	cleanID, _ := mappedConnector(t, s, "qualys", sim.URL, "clean")
	crashID, _ := mappedConnector(t, s, "qualys", sim.URL, "crashed")
	want, span := cleanSync(t, s, cleanID)
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/connectors/"+crashID+"/sync", nil, &tr)
	run := crashDatabaseMidRun(t, s, pg, tr.RunID, "/api/v1/runs?kind=connector_sync&connector_id="+crashID, span, want,
		func() string { return connectorFingerprint(t, s, crashID) })
	t.Logf("| Qualys connector sync, 20000 findings | pg_ctl stop -m immediate at a third of a clean sync's %s, 3 s down, start | 1 | succeeded after %s | findings hash, imports per record, runs: %s |",
		span, time.Duration(*run.DurationMS)*time.Millisecond, want)
}

// PostgreSQL stopped in immediate mode (like a crash) in the middle of a full LDAP import of
// 5,000 users, and started again: the import's staged apply is rolled back and retried, and
// the result equals a clean import of the same directory by another task (objects hash,
// resolved memberships); one run, succeeded.
func TestDatabaseCrashDuringLDAPImport(t *testing.T) {
	pg := pgtest.Start(t)
	ldap := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{Users: 5000, Groups: 50,
		Computers: 200, MembersPerGroup: 50, NestedGroups: true})})
	s := newStack(t, stackOptions{dbServer: pg.URL})
	cleanID, crashID := ldapImportTask(t, s, ldap, "clean"), ldapImportTask(t, s, ldap, "crashed")
	clean := s.waitRun(trigger(s, cleanID).RunID, 10*time.Minute)
	if clean.Status != store.StatusSucceeded {
		t.Fatalf("clean import: %+v", clean)
	}
	want, span := directoryState(t, s, cleanID), time.Duration(*clean.DurationMS)*time.Millisecond
	run := crashDatabaseMidRun(t, s, pg, trigger(s, crashID).RunID, "/api/v1/runs?task_id="+crashID, span, want,
		func() string { return directoryState(t, s, crashID) })
	t.Logf("| LDAP import, 5000 users, 50 groups, 200 computers | pg_ctl stop -m immediate at a third of a clean import's %s, 3 s down, start | 1 | succeeded after %s (attempt %d) | %s, runs |",
		span, time.Duration(*run.DurationMS)*time.Millisecond, run.Attempt, want)
}

// crashDatabaseMidRun stops pg in immediate mode a third of span (a clean run's duration)
// after the run runID is recorded, starts it again 3 s later, and checks the run ends as a
// clean one would (afterKills): succeeded, got() equal to want, the only run runsPath lists;
// and that the database went while the run ran.
func crashDatabaseMidRun(t *testing.T, s *stack, pg *pgtest.Cluster, runID, runsPath string, span time.Duration, want string, got func() string) runView {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		if r := s.do("GET", "/api/v1/runs/"+runID, nil); r.status != http.StatusOK {
			return errStatus(r)
		}
		return nil
	})
	time.Sleep(span / 3)
	var rv runView
	s.must(http.StatusOK, "GET", "/api/v1/runs/"+runID, nil, &rv)
	crashes := 0
	if rv.Status == store.StatusRunning {
		crashes = 1
	}
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	return afterKills(t, s, runID, runsPath, crashes, want, got)
}
