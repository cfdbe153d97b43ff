package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tributary-io/tributary/internal/qualyssim"
)

// faultProxy puts a Toxiproxy proxy (in process) in front of upstream (host:port) and
// returns it; its Listen is the address to use instead.
func faultProxy(t *testing.T, name, upstream string) *toxiproxy.Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// netFault is one network fault between the worker and a vendor: a Toxiproxy toxic, held for
// a while (0: for the whole run), and what the run must end as.
type netFault struct {
	name  string
	toxic string // Toxiproxy toxic JSON
	hold  time.Duration
	want  string // the run's status
	error string // a part of the run's error, when it fails
}

// Network faults between the worker and the Qualys simulator, through Toxiproxy: latency,
// connections reset, a body cut off in the middle, a connection that stalls mid-body. A
// passing fault ends in a retry and a run whose result equals a clean run's (the same
// occurrences, statuses and content, compared by hash); a lasting one in a failed run with a
// message that says what happened.
func TestNetworkFaultsToVendor(t *testing.T) {
	const password = "qualys-Secret-netfault"
	qs := qualyssim.New(qualyssim.Options{Seed: 9, AssetGroups: 2, HostsPerGroup: 5, DetectionsPerHost: 3, Username: "api-user", Password: password})
	defer qs.Close()
	u, err := url.Parse(qs.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultProxy(t, "qualys", u.Host)
	s := newStack(t, stackOptions{})
	cfg := map[string]any{"base_url": "http://" + proxy.Listen, "username": "api-user", "password": password, "allow_plaintext_http": true,
		"page_size": 3, "request_timeout_seconds": 3}
	db := s.store.DB
	fingerprint := func(taskID string) string {
		var n int
		var sum string
		if err := db.QueryRowContext(context.Background(), `SELECT count(*), md5(COALESCE(string_agg(identity || '|' || status || '|' || content_hash, ',' ORDER BY identity), ''))
			FROM vulnerability_occurrences WHERE task_id = ?`, taskID).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d occurrences, md5 %s", n, sum)
	}
	runTask := func(name string, attempts int, during func()) (runView, string) {
		var task taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "qualys_vulnerabilities", "name": name, "config": cfg,
			"max_attempts": attempts}, &task)
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		if during != nil {
			during()
		}
		return s.waitRun(tr.RunID, 3*time.Minute), task.ID
	}
	clean, cleanID := runTask("clean", 1, nil)
	if clean.Status != "succeeded" || clean.Counts["created"] == 0 {
		t.Fatalf("clean run: %+v", clean)
	}
	want := fingerprint(cleanID)

	for _, f := range []netFault{
		{name: "latency 150 ms ± 100 both ways", toxic: `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":150,"jitter":100}}`, want: "succeeded"},
		{name: "every connection reset, for 4 s", toxic: `{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`, hold: 4 * time.Second, want: "succeeded"},
		{name: "bodies cut after 1 KiB, for 4 s", toxic: `{"name":"cut","type":"limit_data","stream":"downstream","attributes":{"bytes":1024}}`, hold: 4 * time.Second, want: "succeeded"},
		{name: "connections stall mid-body, for 5 s", toxic: `{"name":"stall","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`, hold: 5 * time.Second, want: "succeeded"},
		{name: "every connection reset, lasting", toxic: `{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`, want: "failed", error: "reset"},
	} {
		t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
			if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(f.toxic)); err != nil {
				t.Fatal(err)
			}
			removed := false
			remove := func() {
				if !removed {
					removed = true
					_ = proxy.Toxics.RemoveToxic(context.Background(), strings.Split(strings.Split(f.toxic, `"name":"`)[1], `"`)[0])
				}
			}
			defer remove()
			attempts := 3
			if f.want == "failed" {
				attempts = 1
			}
			run, id := runTask(f.name, attempts, func() {
				if f.hold > 0 {
					time.Sleep(f.hold)
					remove()
				}
			})
			if run.Status != f.want || !strings.Contains(strings.ToLower(run.Error), f.error) {
				t.Fatalf("%s: the run ended %s (%q), want %s with %q", f.name, run.Status, run.Error, f.want, f.error)
			}
			if f.want == "succeeded" {
				if got := fingerprint(id); got != want {
					t.Fatalf("%s: %s, a clean run gives %s", f.name, got, want)
				}
			} else if got := fingerprint(id); !strings.HasPrefix(got, "0 occurrences") {
				t.Fatalf("%s: a failed run left %s", f.name, got)
			}
			compared := "occurrences hash equal to a clean run's"
			if f.want == "failed" {
				compared = "the error names the reset; no occurrence stored"
			}
			t.Logf("| qualys_vulnerabilities run, worker ↔ Qualys simulator | %s | 1 | %s after %s, attempt %d | %s |",
				f.name, run.Status, time.Duration(*run.DurationMS)*time.Millisecond, run.Attempt, compared)
		})
	}
}

// Network faults between the workers and PostgreSQL, through Toxiproxy (the API keeps a
// direct connection): with latency on every query, runs succeed; while every connection is
// reset, a run in flight waits — its run-history writes retry until the database answers —
// and then succeeds, recorded once.
func TestNetworkFaultsToDatabase(t *testing.T) {
	var proxy *toxiproxy.Proxy
	s := newStack(t, stackOptions{workerDB: func(dbURL string) string {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		proxy = faultProxy(t, "postgres", u.Host)
		u.Host = proxy.Listen
		return u.String()
	}})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
		time.Sleep(time.Second)
		w.WriteHeader(http.StatusOK)
	})
	task := s.createHTTPTask("through database faults", tg.srv.URL, nil)
	for _, f := range []netFault{
		{name: "latency 40 ms ± 20", toxic: `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":40,"jitter":20}}`},
		{name: "every connection reset, for 4 s", toxic: `{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`, hold: 4 * time.Second},
	} {
		if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(f.toxic)); err != nil {
			t.Fatal(err)
		}
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		name := strings.Split(strings.Split(f.toxic, `"name":"`)[1], `"`)[0]
		if f.hold > 0 {
			time.Sleep(f.hold)
			_ = proxy.Toxics.RemoveToxic(context.Background(), name)
		}
		run := s.waitRun(tr.RunID, 3*time.Minute)
		_ = proxy.Toxics.RemoveToxic(context.Background(), name)
		if run.Status != "succeeded" {
			t.Fatalf("%s: the run ended %s: %s", f.name, run.Status, run.Error)
		}
		t.Logf("| http_call run, worker ↔ Postgres | %s | 1 | %s after %s | one run recorded, one call |", f.name, run.Status, time.Duration(*run.DurationMS)*time.Millisecond)
	}
	var list struct {
		Items []runView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/runs?task_id="+task.ID, nil, &list)
	if len(list.Items) != 2 || tg.calls.Load() != 2 {
		t.Fatalf("%d runs recorded and %d calls for 2 runs", len(list.Items), tg.calls.Load())
	}
}
