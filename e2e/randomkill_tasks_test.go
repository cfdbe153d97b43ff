package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/feedsim"
	"github.com/tributary-io/tributary/internal/mariadbtest"
	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/store"
)

// killFlow is a long task type the random-kill test runs twice, cleanly and through kills.
type killFlow struct {
	name string
	// size says how much data the flow moves, for the figures.
	size string
	// prepare readies the stack for the flow (a target database, events to remediate) under the
	// name stage ("clean", "crashed"); it returns the body that creates the flow's task and a
	// function summing up everything the flow's run leaves (row counts and content hashes).
	prepare func(t *testing.T, s *stack, stage string) (task map[string]any, state func() string)
}

// The worker process is SIGKILLed at random moments during a run of each long task type (the
// scanner imports, remediation, the three XML imports, both data-out types, the NVD live update), a
// fresh worker started after each, and what the run leaves is compared with a clean run of
// the same task on a stack of its own: row counts and content hashes of every table the type
// writes (IDs and clock times left out), the run's counts, one run recorded, succeeded. Short
// version: 2 kills per flow; long (TRIBUTARY_RELIABILITY=long): 20 over ten times the data.
// TRIBUTARY_KILL_FLOWS (names, comma-separated) picks flows.
func TestRandomWorkerKillsDuringTasks(t *testing.T) {
	kills, scale := 2, 1
	if longReliability() {
		kills, scale = 20, 10
	}
	if v, err := strconv.Atoi(os.Getenv("TRIBUTARY_KILLS")); err == nil && v > 0 {
		kills = v
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d: %d kills per flow", seed, kills)
	rng := rand.New(rand.NewPCG(uint64(seed), 13))
	bin := buildWorker(t)

	qs := qualyssim.New(qualyssim.Options{Seed: 31, AssetGroups: scale, HostsPerGroup: 2000, DetectionsPerHost: 5, Username: "api-user", Password: "kill-pw"})
	defer qs.Close()
	ns := nexposesim.New(nexposesim.Options{Seed: 31, Sites: 2 * scale, AssetsPerSite: 500, VulnsPerAsset: 6})
	defer ns.Close()
	export := filepath.Join(t.TempDir(), "export.xml")
	exportNodes := writeExportFile(t, export, int64(12*scale)<<20)
	tickets := 20_000 * scale
	writeTicketsFile(t, filepath.Join(filepath.Dir(export), "tickets.xml"), tickets)
	files := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(export))))
	defer files.Close()
	nvd := feedsim.New(feedsim.Options{Seed: 31, CVEs: 20000 * scale, KeyLimit: 100000, Now: func() time.Time { return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) }})
	nvdSrv := httptest.NewServer(nvd)
	defer nvdSrv.Close()
	var maria *mariadbtest.Server
	top := t
	// target creates a MariaDB database and user for the data-out flow's stage (MariaDB
	// started for the first) and the stack's connection "out" to it.
	target := func(t *testing.T, s *stack, stage string) *sql.DB {
		if maria == nil {
			maria = mariadbtest.Start(top)
		}
		name := strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "-", "_") + "_" + stage
		db := maria.CreateDatabase(t, name)
		maria.CreateUser(t, name, "pw-"+stage, name)
		s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "out", "type": "mysql", "host": maria.Host,
			"port": maria.Port, "database": name, "username": name, "password": "pw-" + stage, "tls_mode": "disable"}, nil)
		return db
	}
	scanner := func(typ, url, username, password string) func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
		return func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
			return map[string]any{"type": typ, "config": map[string]any{"base_url": url, "username": username, "password": password,
				"allow_plaintext_http": true, "page_size": 500}}, func() string { return modelState(t, s) }
		}
	}
	rows := 500_000 * scale
	flows := []killFlow{
		{name: "qualys_vulnerabilities", size: fmt.Sprintf("%d detections", 2000*5*scale), prepare: scanner("qualys_vulnerabilities", qs.URL, "api-user", "kill-pw")},
		{name: "nexpose_vulnerabilities", size: fmt.Sprintf("%d assets", 1000*scale), prepare: scanner("nexpose_vulnerabilities", ns.URL, "sim", "sim-password")},
		{name: "xml_vulnerabilities", size: fmt.Sprintf("%d MB export, %d nodes", 12*scale, exportNodes),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				return map[string]any{"type": "xml_vulnerabilities", "config": map[string]any{"url": files.URL + "/export.xml", "allow_plaintext_http": true,
					"preset": "nexpose_xml_2_vulnerabilities"}}, func() string { return modelState(t, s, "last_found") }
			}},
		{name: "xml_assets", size: fmt.Sprintf("%d MB export", 12*scale),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				return map[string]any{"type": "xml_assets", "config": map[string]any{"url": files.URL + "/export.xml", "allow_plaintext_http": true,
					"preset": "nexpose_xml_2_assets"}}, func() string { return modelState(t, s) }
			}},
		{name: "xml_events", size: fmt.Sprintf("%d tickets", tickets),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				return map[string]any{"type": "xml_events", "config": map[string]any{"url": files.URL + "/tickets.xml", "allow_plaintext_http": true,
					"mapping": map[string]any{"record": "/tickets/ticket", "fields": []map[string]any{
						{"target": "key", "xpath": "@id"},
						{"target": "title", "xpath": "normalize-space(subject)"},
						{"target": "urgency", "xpath": "@prio", "value_map": map[string]string{"Low": "1", "Medium": "3", "High": "4", "Urgent": "5"}},
						{"target": "responsible", "xpath": "owner"},
					}}}}, func() string { return eventsState(t, s) }
			}},
		{name: "qualys_remediation", size: fmt.Sprintf("%d tickets", 2000*scale),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				// Each stack has a simulator of its own: its tickets move once the events exist.
				rs := qualyssim.New(qualyssim.Options{Seed: 32, AssetGroups: scale, HostsPerGroup: 500, DetectionsPerHost: 4, Username: "api-user",
					Password: "kill-pw", TicketPageSize: 20, Started: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)})
				t.Cleanup(rs.Close)
				remediationEvents(t, s, rs)
				rs.SetGenerationAt(1, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
				return map[string]any{"type": "qualys_remediation", "config": map[string]any{"base_url": rs.URL, "username": "api-user", "password": "kill-pw",
					"allow_plaintext_http": true}}, func() string { return eventsState(t, s) }
			}},
		{name: "sql_export", size: fmt.Sprintf("%d rows", rows),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				db := target(t, s, stage)
				s.must(http.StatusCreated, "POST", "/api/v1/saved-queries", map[string]any{"name": "numbers",
					"sql": fmt.Sprintf("SELECT g AS n, md5(g::text) AS h FROM generate_series(1, %d) g", rows)}, nil)
				return map[string]any{"type": "sql_export", "config": map[string]any{"connection": "out", "exports": []map[string]any{{"query": "numbers", "table": "numbers"}}}},
					func() string { return targetState(t, s, db, "numbers") }
			}},
		// A retry rewrites the tables an earlier attempt of the run already committed (one
		// snapshot for all); its rows_deleted must still be a clean run's (it once counted the
		// rows that attempt wrote).
		{name: "sql_script", size: fmt.Sprintf("2 × %d rows", rows/2),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				db := target(t, s, stage)
				return map[string]any{"type": "sql_script", "config": map[string]any{"connection": "out", "tables": []string{"odd", "even"},
						"script": fmt.Sprintf("SELECT g AS n, md5(g::text) AS h FROM generate_series(1, %[1]d, 2) g; SELECT g AS n, md5(g::text) AS h FROM generate_series(2, %[1]d, 2) g", rows)}},
					func() string { return targetState(t, s, db, "odd", "even") }
			}},
		{name: "live_update_nvd", size: fmt.Sprintf("%d CVEs", 20000*scale),
			prepare: func(t *testing.T, s *stack, stage string) (map[string]any, func() string) {
				return map[string]any{"type": "live_update", "config": map[string]any{"source": "nvd", "url": nvdSrv.URL + feedsim.NVDPath,
					"allow_plaintext_http": true, "api_key": "nvd-kill-key", "results_per_page": 2000}}, func() string { return contentState(t, s) }
			}},
	}
	only := os.Getenv("TRIBUTARY_KILL_FLOWS")
	for _, f := range flows {
		if only != "" && !strings.Contains(","+only+",", ","+f.name+",") {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			// The clean run, on a stack of its own with an in-process worker.
			clean := newStack(t, stackOptions{})
			body, state := f.prepare(t, clean, "clean")
			id := createKillTask(t, clean, f.name, body)
			tr := trigger(clean, id)
			run := clean.waitRun(tr.RunID, 20*time.Minute)
			if run.Status != store.StatusSucceeded {
				t.Fatalf("clean run: %+v", run)
			}
			want, span := state()+"; run counts "+runCounts(run), time.Duration(*run.DurationMS)*time.Millisecond

			// The same through kills, on another stack with worker processes.
			s := newStack(t, killStackOptions)
			w := s.startProcess(bin, "worker-0")
			body, state = f.prepare(t, s, "crashed")
			id = createKillTask(t, s, f.name, body)
			tr = trigger(s, id)
			survived, _ := killWorkerRandomly(t, s, bin, w, tr.RunID, span, kills, rng)
			run = afterKills(t, s, tr.RunID, "/api/v1/runs?task_id="+id, survived, want, func() string {
				var rv runView
				s.must(http.StatusOK, "GET", "/api/v1/runs/"+tr.RunID, nil, &rv)
				return state() + "; run counts " + runCounts(rv)
			})
			t.Logf("| %s, %s (clean %s, this one %s) | worker SIGKILL at random moments, fresh worker after each | %d kills tried | %d landed on an executing attempt; succeeded at attempt %d | row counts and content hashes, runs; run counts %s |",
				f.name, f.size, span.Round(time.Millisecond), (time.Duration(*run.DurationMS) * time.Millisecond).Round(time.Millisecond), kills, survived, run.Attempt, runCounts(run))
		})
	}
}

// createKillTask creates the task body describes, named name, with attempts enough for the
// kills, and returns its ID.
func createKillTask(t *testing.T, s *stack, name string, body map[string]any) string {
	t.Helper()
	body["name"], body["max_attempts"] = name, 25
	var tv taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", body, &tv)
	return tv.ID
}

// runCounts prints a run's counts, without whether its apply was replayed (a retry after a
// kill between the apply and the run's record replays it; a clean run never does).
func runCounts(r runView) string {
	delete(r.Counts, "replayed")
	return fmt.Sprint(r.Counts)
}

// writeExportFile writes nexposesim's NeXpose XML export of about size bytes to path and
// returns how many nodes it holds.
func writeExportFile(t *testing.T, path string, size int64) int {
	t.Helper()
	var nodes int
	writeFile(t, path, func(w *bufio.Writer) (err error) {
		nodes, _, err = nexposesim.WriteExport(w, size)
		return err
	})
	return nodes
}

// writeTicketsFile writes an XML export of n tickets (a ticketing system's, for an events
// import) to path.
func writeTicketsFile(t *testing.T, path string, n int) {
	t.Helper()
	writeFile(t, path, func(w *bufio.Writer) error {
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tickets exported=\"2026-11-30\">\n")
		prios := []string{"Low", "Medium", "High", "Urgent"}
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "  <ticket id=\"T-%d\" prio=\"%s\"><subject>Patch host %d of rack %d</subject><owner>owner-%d</owner></ticket>\n",
				i, prios[i%len(prios)], i, i%97, i%13)
		}
		_, err := fmt.Fprintf(w, "</tickets>\n")
		return err
	})
}

// writeFile creates path and writes it through a buffer with write.
func writeFile(t *testing.T, path string, write func(*bufio.Writer) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// remediationEvents imports rs's vulnerabilities and opens events on every occurrence: one
// per occurrence for the first half (in identity order), consolidated ones of ten for the rest.
func remediationEvents(t *testing.T, s *stack, rs *qualyssim.Server) {
	t.Helper()
	imp := createKillTask(t, s, "setup import", map[string]any{"type": "qualys_vulnerabilities", "config": map[string]any{"base_url": rs.URL,
		"username": "api-user", "password": "kill-pw", "allow_plaintext_http": true, "page_size": 500}})
	if r := s.waitRun(trigger(s, imp).RunID, 5*time.Minute); r.Status != store.StatusSucceeded {
		t.Fatalf("the import before remediation: %+v", r)
	}
	var ids []int64
	if err := s.store.DB.NewRaw("SELECT id FROM vulnerability_occurrences ORDER BY identity").Scan(context.Background(), &ids); err != nil {
		t.Fatal(err)
	}
	half := len(ids) / 2
	for i := 0; i < half; i += 1000 {
		s.must(http.StatusCreated, "POST", "/api/v1/events", map[string]any{"occurrence_ids": ids[i:min(i+1000, half)]}, nil)
	}
	for i := half; i+10 <= len(ids); i += 10 {
		s.must(http.StatusCreated, "POST", "/api/v1/events", map[string]any{"occurrence_ids": ids[i : i+10], "consolidated": true}, nil)
	}
}

// rowsDigest sums up the rows of query (a SELECT of one jsonb column) as a count and an MD5 of
// their sorted text.
func rowsDigest(t *testing.T, s *stack, label, query string) string {
	t.Helper()
	var n int
	var sum string
	if err := s.store.DB.QueryRowContext(context.Background(), `SELECT count(*), md5(COALESCE(string_agg(j::text, E'\n' ORDER BY j::text), ''))
		FROM (`+query+`) q(j)`).Scan(&n, &sum); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	return fmt.Sprintf("%s %d (md5 %s)", label, n, sum)
}

// modelState sums up assets, the catalogue, occurrences and the import records, IDs and clock
// times left out (an occurrence names its asset and vulnerability by their identities), and
// runTimes, the occurrences' columns the run's clock fills (last_found of an export without
// one is the run's start).
func modelState(t *testing.T, s *stack, runTimes ...string) string {
	drop := "{" + strings.Join(append([]string{"id", "task_id", "asset_id", "vulnerability_id", "created_at", "updated_at", "closed_at", "expired_at"}, runTimes...), ",") + "}"
	return strings.Join([]string{
		rowsDigest(t, s, "assets", `SELECT to_jsonb(a) - '{id,created_at,updated_at,first_seen_at,last_seen_at}'::text[] FROM assets a`),
		rowsDigest(t, s, "asset sources", `SELECT to_jsonb(x) - '{asset_id,source_id,last_seen_at}'::text[] || jsonb_build_object('asset', a.identity_key)
			FROM asset_sources x JOIN assets a ON a.id = x.asset_id`),
		rowsDigest(t, s, "vulnerabilities", `SELECT to_jsonb(v) - '{id,created_at,updated_at}'::text[] FROM vulnerabilities v`),
		rowsDigest(t, s, "occurrences", `SELECT to_jsonb(o) - '`+drop+`'::text[]
			|| jsonb_build_object('asset', a.identity_key, 'vulnerability', v.vendor_id)
			FROM vulnerability_occurrences o JOIN assets a ON a.id = o.asset_id JOIN vulnerabilities v ON v.id = o.vulnerability_id`),
		rowsDigest(t, s, "occurrence history", `SELECT jsonb_build_object('action', action) FROM occurrence_history`),
		rowsDigest(t, s, "scanner imports", `SELECT counts FROM scanner_imports`),
		rowsDigest(t, s, "xml imports", `SELECT jsonb_build_object('sha256', file_sha256, 'records', records) FROM xml_imports`),
		rowsDigest(t, s, "record issues", `SELECT to_jsonb(i) - 'run_id' FROM import_record_issues i`),
	}, "; ")
}

// eventsState sums up events, their occurrences and progress entries and the remediation
// tickets as the task read them.
func eventsState(t *testing.T, s *stack) string {
	return strings.Join([]string{
		rowsDigest(t, s, "events", `SELECT to_jsonb(e) - '{id,parent_id,source_task_id,created_at,updated_at,closed_at}'::text[] FROM events e`),
		rowsDigest(t, s, "event occurrences", `SELECT jsonb_build_object('occurrence', o.identity, 'resolved', x.resolved_at IS NOT NULL, 'by', x.resolved_by)
			FROM event_occurrences x JOIN vulnerability_occurrences o ON o.id = x.occurrence_id`),
		rowsDigest(t, s, "progress", `SELECT to_jsonb(p) - '{id,event_id,at,run_id,created_at}'::text[] FROM event_progress p`),
		rowsDigest(t, s, "event history", `SELECT jsonb_build_object('action', action, 'actor', actor, 'changes', changes) FROM event_history`),
		rowsDigest(t, s, "tickets", `SELECT to_jsonb(r) - '{task_id,occurrence_ids,seen_run_id,updated_at}'::text[] FROM remediation_tickets r`),
		rowsDigest(t, s, "scanner imports", `SELECT counts FROM scanner_imports`),
	}, "; ")
}

// contentState sums up the live update's content versions and items.
func contentState(t *testing.T, s *stack) string {
	return strings.Join([]string{
		// An NVD version is named, dated and hashed after the end of the window it read: the
		// run's clock.
		rowsDigest(t, s, "versions", `SELECT to_jsonb(v) - '{id,task_id,run_id,applied_at,version,watermark,released_at,sha256}'::text[] FROM content_versions v`),
		rowsDigest(t, s, "items", `SELECT to_jsonb(i) - '{id,from_version,to_version,copied_from,created_at}'::text[] || jsonb_build_object('current', i.to_version IS NULL)
			FROM content_items i`),
	}, "; ")
}

// targetState sums up the tables a data-out run wrote to the target database conn (rows, the
// sum of n, and an XOR and a sum of every row's CRC32) and the task's record of them.
func targetState(t *testing.T, s *stack, conn *sql.DB, tables ...string) string {
	t.Helper()
	parts := []string{rowsDigest(t, s, "export tables", `SELECT to_jsonb(x) - '{task_id,connection_id,run_id,refreshed_at}'::text[] FROM export_tables x`)}
	for _, table := range tables {
		var n, sum, xor, crcs int64
		if err := conn.QueryRow("SELECT count(*), COALESCE(sum(n), 0), COALESCE(bit_xor(crc32(concat(n, '|', h))), 0), COALESCE(sum(crc32(concat(n, '|', h))), 0) FROM `"+table+"`").
			Scan(&n, &sum, &xor, &crcs); err != nil {
			t.Fatalf("target table %s: %v", table, err)
		}
		parts = append(parts, fmt.Sprintf("%s %d rows (sum %d, crc32 xor %x sum %d)", table, n, sum, xor, crcs))
	}
	return strings.Join(parts, "; ")
}
