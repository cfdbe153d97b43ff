// Package e2e tests Tributary end to end: the real router, a real Postgres, a real in-process
// Temporal server and real workers, with HTTP targets served by the tests.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/server"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/worker"
)

const taskQueue = "tributary-e2e"

// stack is one isolated Tributary: its own database, Temporal server, API and workers.
type stack struct {
	t     *testing.T
	store *store.Store
	dbURL string
	// reportingURL is the database as the reporting role (REPORTING_DATABASE_URL).
	reportingURL string
	temporal     *temporaltest.TestServer
	client       client.Client
	dispatcher   *dispatch.Dispatcher
	api          *httptest.Server
	router       *gin.Engine
	opts         stackOptions
	// token is an admin token, sent by do.
	token string
	keys  *secrets.Keyring
	// keySpec is keys as TRIBUTARY_SECRET_KEYS, for processes the test starts.
	keySpec string
	// apiLog and workerLog hold everything the API and the workers logged.
	apiLog, workerLog *syncBuffer
	// responses holds every response body the API gave the test.
	responses syncBuffer
	// workerClient is the workers' Temporal client, which logs to workerLog.
	workerClient client.Client
	// metrics is the stack's registry: the API's requests, the workers' runs and the
	// workers' Temporal SDK metrics.
	metrics *metrics.Registry
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type stackOptions struct {
	// noWorker leaves starting workers to the test.
	noWorker bool
	// heartbeatTimeout of task activities; defaults to 2s so a dead worker is noticed quickly.
	heartbeatTimeout time.Duration
	// retryMaxInterval caps the wait between a run's attempts (dispatch.Options); the
	// workflows' defaults (minutes) when 0.
	retryMaxInterval time.Duration
	// register adds test activities to every worker.
	register func(*stack, sdkworker.Registry)
	// failedAuthPerMinute for the API; defaults to 1000 so that tests of refusals are not rate limited.
	failedAuthPerMinute int
	// maxUploadBytes caps file uploads; the API's default when 0.
	maxUploadBytes int64
	// dbServer is the Postgres server (a postgres:// URL) to create the stack's database on;
	// TEST_DATABASE_URL's when empty.
	dbServer string
	// workerDB rewrites the database URL the workers use (to reach it through a fault
	// proxy); the API keeps the direct one.
	workerDB func(dbURL string) string
}

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	if opts.heartbeatTimeout == 0 {
		opts.heartbeatTimeout = 2 * time.Second
	}
	if opts.dbServer == "" {
		opts.dbServer = testenv.DatabaseURL(t)
	}
	db, dbURL := testenv.DBWithURLOn(t, opts.dbServer)
	ts, c := testenv.Temporal(t)
	s := &stack{t: t, store: store.New(db), dbURL: dbURL, reportingURL: testenv.ReportingURL(t, dbURL), temporal: ts, client: c, opts: opts}
	// Orphan schedules go at once: no test creates tasks while it reconciles.
	d, err := dispatch.New(dispatch.Options{Client: c, Store: s.store, TaskQueue: taskQueue, HeartbeatTimeout: opts.heartbeatTimeout,
		RetryMaxInterval: opts.retryMaxInterval, OrphanScheduleAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	s.dispatcher = d
	keys, spec, err := secrets.NewRandomKeyring("e2e")
	if err != nil {
		t.Fatal(err)
	}
	s.keys, s.keySpec, s.apiLog, s.workerLog = keys, spec, &syncBuffer{}, &syncBuffer{}
	s.metrics = metrics.New()
	mh, err := s.metrics.Temporal()
	if err != nil {
		t.Fatal(err)
	}
	s.workerClient = ts.NewClientWithOptions(client.Options{
		Logger:         sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(s.workerLog, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		MetricsHandler: mh,
	})
	if opts.failedAuthPerMinute == 0 {
		opts.failedAuthPerMinute = 1000
	}
	router, err := server.NewRouter(server.Options{
		Store: s.store, Dispatcher: d, Temporal: c, Namespace: ts.GetDefaultNamespace(),
		TemporalUIURL: "http://temporal-ui.test", Logger: slog.New(slog.NewTextHandler(s.apiLog, nil)),
		FailedAuthPerMinute: opts.failedAuthPerMinute, Keyring: keys, MaxUploadBytes: opts.maxUploadBytes,
		Reporting: sqlout.NewReporting(s.reportingURL), Metrics: s.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.token = s.newToken("e2e admin", auth.Admin)
	s.router = router
	s.api = httptest.NewServer(router)
	t.Cleanup(s.api.Close)
	if !opts.noWorker {
		s.startWorker()
	}
	return s
}

func (s *stack) startWorker() sdkworker.Worker {
	s.t.Helper()
	st := s.store
	if s.opts.workerDB != nil {
		db, err := store.Open(context.Background(), s.opts.workerDB(s.dbURL), store.OpenOptions{MaxOpenConns: 20})
		if err != nil {
			s.t.Fatal(err)
		}
		s.t.Cleanup(func() { _ = db.Close() })
		st = store.New(db)
	}
	w, err := worker.New(worker.Options{Client: s.workerClient, Store: st, TaskQueue: taskQueue, Keyring: s.keys,
		Reporting: sqlout.NewReporting(s.reportingURL), Metrics: s.metrics, Worker: sdkworker.Options{WorkflowPanicPolicy: sdkworker.FailWorkflow}})
	if err != nil {
		s.t.Fatal(err)
	}
	if s.opts.register != nil {
		s.opts.register(s, w)
	}
	if err := w.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(w.Stop)
	return w
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// newToken creates an API token directly in the store.
func (s *stack) newToken(name string, role auth.Role) string {
	s.t.Helper()
	secret, _, err := auth.NewTokens(s.store).Create(context.Background(), auth.CreateOptions{Name: name, Role: role}, "e2e")
	if err != nil {
		s.t.Fatal(err)
	}
	return secret
}

func (s *stack) do(method, path string, body any) response {
	s.t.Helper()
	return s.doAs(s.token, method, path, body)
}

// doAs sends a request with token ("" for none) and checks the answer against the OpenAPI document.
func (s *stack) doAs(token, method, path string, body any) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	ct := ""
	if rd != nil {
		ct = "application/json"
	}
	return s.send(token, method, path, ct, rd)
}

// send performs a request with a body of the given content type and checks the answer against
// the API document.
func (s *stack) send(token, method, path, contentType string, rd io.Reader) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.api.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	checkContract(s.t, req, resp, raw)
	s.responses.Write(raw)
	s.responses.Write([]byte("\n"))
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// must performs a request and fails the test unless the status is want.
func (s *stack) must(want int, method, path string, body any, out any) response {
	s.t.Helper()
	r := s.do(method, path, body)
	if r.status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(s.t, out)
	}
	return r
}

type taskView struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	Config     map[string]any `json:"config"`
	Schedule   string         `json:"schedule"`
	Enabled    bool           `json:"enabled"`
	ScheduleID string         `json:"schedule_id"`
}

type runView struct {
	ID            string           `json:"id"`
	TaskID        *string          `json:"task_id"`
	Status        string           `json:"status"`
	Trigger       string           `json:"trigger"`
	TriggeredBy   string           `json:"triggered_by"`
	StartedAt     time.Time        `json:"started_at"`
	EndedAt       *time.Time       `json:"ended_at"`
	DurationMS    *int64           `json:"duration_ms"`
	WorkflowID    string           `json:"workflow_id"`
	WorkflowRunID string           `json:"workflow_run_id"`
	Attempt       int              `json:"attempt"`
	Counts        map[string]int64 `json:"counts"`
	Details       map[string]any   `json:"details"`
	Error         string           `json:"error"`
	TemporalURL   string           `json:"temporal_ui_url"`
}

type runPage struct {
	Items      []runView `json:"items"`
	NextCursor string    `json:"next_cursor"`
}

type triggered struct {
	RunID         string `json:"run_id"`
	WorkflowID    string `json:"workflow_id"`
	WorkflowRunID string `json:"workflow_run_id"`
	RunURL        string `json:"run_url"`
}

type apiErr struct {
	Error struct {
		Code         string `json:"code"`
		Message      string `json:"message"`
		RunningRunID string `json:"running_run_id"`
		Fields       []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"error"`
}

func (s *stack) createHTTPTask(name, url string, extra map[string]any) taskView {
	s.t.Helper()
	body := map[string]any{"type": "http_call", "name": name, "config": map[string]any{"url": url}, "max_attempts": 1}
	for k, v := range extra {
		body[k] = v
	}
	var tv taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", body, &tv)
	return tv
}

// runTask triggers a run of task, waits for it to end and fails the test unless it ended
// with status want.
func (s *stack) runTask(task taskView, want string) runView {
	s.t.Helper()
	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
	r := s.waitRun(tr.RunID, 60*time.Second)
	if r.Status != want {
		s.t.Fatalf("%s: %+v", task.Name, r)
	}
	return r
}

// waitRun waits until the run with id has ended and returns it.
func (s *stack) waitRun(id string, timeout time.Duration) runView {
	s.t.Helper()
	var rv runView
	testenv.Eventually(s.t, timeout, func() error {
		r := s.do("GET", "/api/v1/runs/"+id, nil)
		if r.status != http.StatusOK {
			return errStatus(r)
		}
		rv = runView{}
		r.decode(s.t, &rv)
		if rv.Status == store.StatusRunning {
			return errRunning
		}
		return nil
	})
	// The run's row ends just before its workflow does: wait for that too, so that the next
	// trigger of the same type is not refused as busy.
	if rv.WorkflowID != "" && rv.WorkflowRunID != "" {
		testenv.Eventually(s.t, timeout, func() error {
			d, err := s.client.DescribeWorkflowExecution(context.Background(), rv.WorkflowID, rv.WorkflowRunID)
			if err != nil {
				return err
			}
			if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return errRunning
			}
			return nil
		})
	}
	return rv
}

func errStatus(r response) error { return fmt.Errorf("status %d: %s", r.status, r.body) }

var errRunning = errors.New("run is still running")

// target is an HTTP endpoint that records how many requests it serves at once.
type target struct {
	srv      *httptest.Server
	mu       sync.Mutex
	inFlight int
	maxSeen  int
	calls    atomic.Int64
	handle   func(w http.ResponseWriter, r *http.Request, call int64)
	// intervals holds [start, end] of every request served.
	intervals [][2]time.Time
}

func newTarget(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, call int64)) *target {
	tg := &target{handle: handle}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		tg.mu.Lock()
		tg.inFlight++
		tg.maxSeen = max(tg.maxSeen, tg.inFlight)
		tg.mu.Unlock()
		defer func() {
			tg.mu.Lock()
			tg.inFlight--
			tg.intervals = append(tg.intervals, [2]time.Time{start, time.Now()})
			tg.mu.Unlock()
		}()
		tg.handle(w, r, tg.calls.Add(1))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) max() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.maxSeen
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustParse(s string) uuid.UUID { return uuid.MustParse(s) }
