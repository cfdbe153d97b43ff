package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary-io/tributary/internal/feedsim"
	"github.com/tributary-io/tributary/internal/testenv"
)

// /metrics serves, without a token, the API's requests by route template, the runs by kind,
// type and status with their durations and rows, and the Temporal SDK's own metrics; no label
// value is an ID.
func TestMetrics(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ok := s.createHTTPTask("metrics-task-ok", tg.srv.URL+"/ok", nil)
	bad := s.createHTTPTask("metrics-task-bad", tg.srv.URL+"/fail", nil)
	for _, task := range []taskView{ok, bad} {
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		s.waitRun(tr.RunID, 30*time.Second)
	}
	feeds := httptest.NewServer(feedsim.New(feedsim.Options{Seed: 1, CVEs: 10}))
	defer feeds.Close()
	var kev taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "metrics-task-kev", "config": map[string]any{
		"url": feeds.URL + feedsim.KEVPath, "allow_plaintext_http": true}}, &kev)
	s.runTask(kev, "succeeded")
	s.do("GET", "/api/v1/runs/0b7b1c0e-9d1e-4e55-9a55-3d8f5f1b0a11", nil) // 404 by the route template
	s.do("GET", "/no/such/path/0b7b1c0e-9d1e-4e55-9a55-3d8f5f1b0a11", nil)

	resp, err := http.Get(s.api.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, found := families[name]
		if !found {
			t.Fatalf("no %s in /metrics", name)
		}
		for _, m := range f.Metric {
			if matches(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
		return 0
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tributary_http_requests_total", map[string]string{"route": "/api/v1/tasks/:id/runs", "method": "POST", "status": "202"}, 2},
		{"tributary_http_requests_total", map[string]string{"route": "/api/v1/runs/:id", "method": "GET", "status": "404"}, 1},
		{"tributary_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"tributary_http_request_duration_seconds", map[string]string{"route": "/api/v1/tasks", "method": "POST"}, 2},
		{"tributary_runs_started_total", map[string]string{"kind": "task", "type": "http_call"}, 2},
		{"tributary_runs_finished_total", map[string]string{"kind": "task", "type": "http_call", "status": "succeeded"}, 1},
		{"tributary_runs_finished_total", map[string]string{"kind": "task", "type": "http_call", "status": "failed"}, 1},
		{"tributary_run_duration_seconds", map[string]string{"kind": "task", "type": "http_call", "status": "succeeded"}, 1},
		{"tributary_vendor_requests_total", map[string]string{"vendor": "kev", "operation": feedsim.KEVPath, "outcome": "2xx"}, 1},
		{"tributary_run_rows_total", map[string]string{"kind": "task", "type": "live_update", "action": "added"}, 1},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); got < c.want {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.want)
		}
	}
	temporal := 0
	for name := range families {
		if strings.HasPrefix(name, "temporal_") {
			temporal++
		}
	}
	if temporal < 5 {
		t.Errorf("%d Temporal SDK metric families, want its request, poll and task metrics", temporal)
	}
	// Bounded labels: no UUID (task, run or workflow ID) and no task name in any label value.
	id := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	for name, f := range families {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if id.MatchString(l.GetValue()) || strings.Contains(l.GetValue(), "metrics-task-") {
					t.Errorf("%s has an unbounded label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.Label {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range labels {
		if got[k] != v {
			return false
		}
	}
	return true
}

// The worker process serves its own /metrics on WORKER_METRICS_ADDR: its runs and the
// Temporal SDK's metrics.
func TestWorkerProcessMetrics(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	bin := buildWorker(t)
	addr := freeAddr(t)
	s.startProcess(bin, "worker-metrics", "WORKER_METRICS_ADDR="+addr)
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { w.WriteHeader(http.StatusOK) })
	s.runTask(s.createHTTPTask("metrics-task-process", tg.srv.URL, nil), "succeeded")
	var body string
	testenv.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		if !strings.Contains(body, `tributary_runs_finished_total{kind="task",status="succeeded",type="http_call"} 1`) {
			return fmt.Errorf("no finished run yet")
		}
		return nil
	})
	if !strings.Contains(body, "temporal_request") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("the worker's metrics lack the SDK's or the runtime's:\n%.2000s", body)
	}
	// The probes the Helm chart points Kubernetes at: both 200 once the worker polls.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status"`) {
			t.Fatalf("worker %s: %d %s", path, resp.StatusCode, b)
		}
	}
}
