// Package metrics exposes Tributary's Prometheus metrics: the API's requests, the runs and
// the rows they moved, and the Temporal SDK's own metrics (through its OpenTelemetry
// integration). Label values are bounded: route templates, methods, status codes, run kinds,
// task types, statuses and count names, never IDs or names of tasks.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
)

// Registry is a process's metrics.
type Registry struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	runsStarted  *prometheus.CounterVec
	runsFinished *prometheus.CounterVec
	runDuration  *prometheus.HistogramVec
	rows         *prometheus.CounterVec

	runsPruned prometheus.Counter

	vendorRequests *prometheus.CounterVec
	vendorWaits    *prometheus.CounterVec
	vendorWaitSecs *prometheus.CounterVec

	ldapEntries *prometheus.CounterVec
	ldapPages   *prometheus.CounterVec

	temporalOnce sync.Once
	temporal     client.MetricsHandler
	temporalErr  error
}

var (
	defaultOnce sync.Once
	defaultReg  *Registry
)

// Default is the process's registry: the API server and the worker of one process (the
// development stack) share it.
func Default() *Registry {
	defaultOnce.Do(func() { defaultReg = New() })
	return defaultReg
}

// New makes a registry with the Go runtime and process collectors and Tributary's metrics.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_http_requests_total",
		Help: "API requests by route template, method and status code."}, []string{"route", "method", "status"})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tributary_http_request_duration_seconds",
		Help:    "API request latency by route template and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"route", "method"})
	r.runsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_runs_started_total",
		Help: "Runs started, by kind (task, connector_discover, connector_sync) and task type."}, []string{"kind", "type"})
	r.runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_runs_finished_total",
		Help: "Runs ended, by kind, task type and status (succeeded, failed, cancelled, timed_out, skipped)."}, []string{"kind", "type", "status"})
	r.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tributary_run_duration_seconds",
		Help:    "Duration of ended runs, by kind, task type and status.",
		Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200}}, []string{"kind", "type", "status"})
	r.rows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_run_rows_total",
		Help: "Rows a run moved, by kind, task type and what happened to them (created, updated, closed, …), from its counts."},
		[]string{"kind", "type", "action"})
	r.vendorRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_vendor_requests_total",
		Help: "Requests to vendors (qualys, nexpose, and the Live Update feeds) by operation (path template) and outcome (2xx, 3xx, 4xx, 409, 429, 5xx, error)."},
		[]string{"vendor", "operation", "outcome"})
	r.vendorWaits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_vendor_waits_total",
		Help: "Waits before asking a vendor again: rate limits, concurrency limits and retry backoffs."}, []string{"vendor"})
	r.vendorWaitSecs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_vendor_wait_seconds_total",
		Help: "Time spent in those waits."}, []string{"vendor"})
	r.runsPruned = prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_runs_pruned_total",
		Help: "Ended runs removed from run history by the retention (RUN_RETENTION_DAYS)."})
	r.ldapEntries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_ldap_entries_total",
		Help: "Directory entries read by the LDAP imports, by kind (user, group, computer) and outcome (mapped, skipped)."},
		[]string{"kind", "outcome"})
	r.ldapPages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_ldap_pages_total",
		Help: "Pages of paged LDAP searches read, by kind."}, []string{"kind"})
	r.reg.MustRegister(r.requests, r.latency, r.runsStarted, r.runsFinished, r.runDuration, r.rows, r.runsPruned, r.vendorRequests, r.vendorWaits, r.vendorWaitSecs,
		r.ldapEntries, r.ldapPages)
	return r
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Gatherer is the registry, for tests.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Middleware counts and times every API request by its route template ("unmatched" for a
// path no route knows, so that probing clients cannot grow the label set).
func (r *Registry) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := c.Request.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "other"
		}
		r.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		r.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// RunStarted counts a run that started; typ is the task type ("" for a connector's runs).
func (r *Registry) RunStarted(kind, typ string) {
	r.runsStarted.WithLabelValues(kind, typ).Inc()
}

// rowActions are the last words of the count names that count rows (created,
// users_created, rows_written, …); other counts (requests, response_bytes, status_code,
// total) are not rows. The label value is the count's name, which the code fixes.
var rowActions = map[string]bool{
	"created": true, "updated": true, "unchanged": true, "closed": true, "reopened": true, "inactivated": true, "reactivated": true,
	"added": true, "changed": true, "revoked": true, "withdrawn": true, "removed": true, "deleted": true, "expired": true,
	"failed": true, "skipped": true, "excepted": true, "renamed": true, "found": true, "read": true, "written": true,
	"resolved": true, "unmatched": true, "missing": true,
}

func isRows(name string) bool {
	if i := strings.LastIndexByte(name, '_'); i >= 0 {
		name = name[i+1:]
	}
	return rowActions[name]
}

// RunFinished counts an ended run with its duration and the rows its counts say it moved.
func (r *Registry) RunFinished(kind, typ, status string, d time.Duration, counts map[string]int64) {
	r.runsFinished.WithLabelValues(kind, typ, status).Inc()
	r.runDuration.WithLabelValues(kind, typ, status).Observe(d.Seconds())
	for name, n := range counts {
		if isRows(name) && n > 0 && len(name) <= 40 {
			r.rows.WithLabelValues(kind, typ, name).Add(float64(n))
		}
	}
}

// RunsPruned counts runs the retention removed; a nil registry ignores it.
func (r *Registry) RunsPruned(n int64) {
	if r != nil && n > 0 {
		r.runsPruned.Add(float64(n))
	}
}

// LDAPPage counts one page of a directory search: its entries mapped to objects and those
// skipped; a nil registry ignores it.
func (r *Registry) LDAPPage(kind string, mapped, skipped int) {
	if r == nil {
		return
	}
	r.ldapPages.WithLabelValues(kind).Inc()
	r.ldapEntries.WithLabelValues(kind, "mapped").Add(float64(mapped))
	r.ldapEntries.WithLabelValues(kind, "skipped").Add(float64(skipped))
}

// Temporal is the Temporal SDK's metrics handler, exporting the SDK's own metrics (requests,
// polls, workflow and activity task latencies, schedule-to-start, failures) into the
// registry through the SDK's OpenTelemetry integration.
func (r *Registry) Temporal() (client.MetricsHandler, error) {
	r.temporalOnce.Do(func() {
		exp, err := otelprom.New(otelprom.WithRegisterer(r.reg), otelprom.WithoutScopeInfo())
		if err != nil {
			r.temporalErr = err
			return
		}
		provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		r.temporal = opentelemetry.NewMetricsHandler(opentelemetry.MetricsHandlerOptions{Meter: provider.Meter("go.temporal.io/sdk")})
	})
	return r.temporal, r.temporalErr
}

// VendorTransport counts the requests base makes to vendor by operation and outcome; nil r
// returns base.
func (r *Registry) VendorTransport(base http.RoundTripper, vendor string) http.RoundTripper {
	if r == nil {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return vendorTransport{base: base, vendor: vendor, m: r}
}

type vendorTransport struct {
	base   http.RoundTripper
	vendor string
	m      *Registry
}

func (t vendorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	outcome := "error"
	if err == nil {
		switch c := resp.StatusCode; {
		case c == http.StatusConflict || c == http.StatusTooManyRequests:
			outcome = strconv.Itoa(c)
		default:
			outcome = strconv.Itoa(c/100) + "xx"
		}
	}
	t.m.vendorRequests.WithLabelValues(t.vendor, Operation(req), outcome).Inc()
	return resp, err
}

// Operation is a request's path template: segments that hold digits become ":id", and a
// Qualys-style action parameter is kept ("/api/3/sites/:id/assets",
// "/api/2.0/fo/asset/host/vm/detection/?action=list").
func Operation(req *http.Request) string {
	parts := strings.Split(req.URL.Path, "/")
	for i, p := range parts {
		if strings.ContainsAny(p, "0123456789") && !isVersion(p) || len(p) > 40 {
			parts[i] = ":id"
		}
	}
	op := strings.Join(parts, "/")
	if a := req.URL.Query().Get("action"); a != "" && len(a) <= 20 {
		op += "?action=" + a
	}
	if len(op) > 120 {
		op = op[:120]
	}
	return op
}

// isVersion says whether a path segment is an API version: "2.0", "3", "v1".
func isVersion(p string) bool {
	digits := strings.TrimPrefix(p, "v")
	for _, c := range digits {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return len(digits) > 0 && len(digits) <= 4 && (len(digits) == 1 || digits != p || strings.Contains(digits, "."))
}

// VendorSleep counts the waits sleep makes for vendor; nil r returns sleep.
func (r *Registry) VendorSleep(sleep func(context.Context, time.Duration) error, vendor string) func(context.Context, time.Duration) error {
	if r == nil {
		return sleep
	}
	return func(ctx context.Context, d time.Duration) error {
		r.vendorWaits.WithLabelValues(vendor).Inc()
		r.vendorWaitSecs.WithLabelValues(vendor).Add(d.Seconds())
		return sleep(ctx, d)
	}
}
