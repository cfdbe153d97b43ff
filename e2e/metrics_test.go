package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
