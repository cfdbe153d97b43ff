package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// TaskInput identifies the run and the task an integration task activity works on. The
// activity reads the configuration, secrets included, from Postgres: none travels through Temporal.
type TaskInput struct {
	RunID  string
	TaskID string
}

// TaskOutput is what a task activity reports back to its workflow: counts only.
type TaskOutput struct {
	Counts map[string]int64
}

// HTTPCalls executes Execute HTTP Call tasks.
type HTTPCalls struct {
	// Store is the database.
	Store *store.Store
	// Keyring opens the task's sealed secrets. Required.
	Keyring *secrets.Keyring
	// Client sends the requests. Optional; defaults to a client without a global timeout
	// (each call is bounded by its task's timeout_seconds).
	Client *http.Client
	// HeartbeatEvery is how often progress is reported while a call is in flight. Heartbeats are
	// also how the activity learns that its run was cancelled. Optional; defaults to 1s.
	HeartbeatEvery time.Duration
}

// HTTPCallDetails is what a run of an HTTP call task records about the response.
type HTTPCallDetails struct {
	Method           string `json:"method"`
	URL              string `json:"url"`
	StatusCode       int    `json:"status_code"`
	Status           string `json:"status"`
	ResponseBytes    int64  `json:"response_bytes"`
	ContentType      string `json:"content_type,omitempty"`
	Excerpt          string `json:"excerpt"`
	ExcerptTruncated bool   `json:"excerpt_truncated"`
	DurationMS       int64  `json:"duration_ms"`
	Attempt          int32  `json:"attempt"`
}

// HTTPCallProgress is the heartbeat detail of an HTTP call, shown in the Temporal UI.
type HTTPCallProgress struct {
	Phase         string `json:"phase"`
	ResponseBytes int64  `json:"response_bytes"`
}

// ExecuteHTTPCall sends the task's request and records the response in the run.
func (a *HTTPCalls) ExecuteHTTPCall(ctx context.Context, in TaskInput) (TaskOutput, error) {
	info := activity.GetInfo(ctx)
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return TaskOutput{}, err
	}
	raw, err := tasktype.DecodeStored(task.Type, task.Config)
	cfg, ok := raw.(*tasktype.HTTPCallConfig)
	if err != nil || !ok {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("task %s has a stored configuration that is not a valid http_call config: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}
	if err := tasktype.OpenSecrets(cfg, a.Keyring.Open); err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("task %s: a secret header cannot be opened: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}

	shown := displayURL(cfg.URL)
	progress := newHeartbeater(ctx, a.HeartbeatEvery)
	defer progress.stop()
	progress.set(HTTPCallProgress{Phase: "waiting for the response"})
	reqCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.TimeoutSeconds)*time.Second)
	defer cancel()
	var body io.Reader
	if cfg.Body != "" {
		body = strings.NewReader(cfg.Body)
	}
	req, err := http.NewRequestWithContext(reqCtx, cfg.Method, cfg.URL, body)
	if err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("build request %s %s: %v", cfg.Method, shown, err), ErrTypeInvalidConfig, nil)
	}
	for _, h := range cfg.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Tributary/1 (integration task)")
	}
	started := time.Now()
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return TaskOutput{}, fmt.Errorf("%s %s: %s", cfg.Method, shown, describeTransportError(err, reqCtx, cfg.TimeoutSeconds))
	}
	defer resp.Body.Close()

	excerpt := &boundedBuffer{limit: cfg.ExcerptBytes}
	n, err := readBody(resp.Body, excerpt, progress)
	if err != nil {
		return TaskOutput{}, fmt.Errorf("%s %s: reading the response after %d bytes: %s", cfg.Method, shown, n,
			describeTransportError(err, reqCtx, cfg.TimeoutSeconds))
	}
	details := HTTPCallDetails{
		Method: cfg.Method, URL: shown, StatusCode: resp.StatusCode, Status: resp.Status, ResponseBytes: n,
		ContentType: resp.Header.Get("Content-Type"), Excerpt: excerpt.String(), ExcerptTruncated: excerpt.truncated,
		DurationMS: time.Since(started).Milliseconds(), Attempt: info.Attempt,
	}
	if err := whileDBDown(ctx, func() error { return a.Store.Runs.SetDetails(ctx, runID, details) }); err != nil {
		return TaskOutput{}, fmt.Errorf("record response details: %w", err)
	}
	if !cfg.Succeeded(resp.StatusCode) {
		msg := fmt.Sprintf("%s %s answered %s; expected %s", cfg.Method, shown, resp.Status, expectedText(cfg))
		if retryableStatus(resp.StatusCode) {
			return TaskOutput{}, temporal.NewApplicationError(msg, ErrTypeUnexpectedCode)
		}
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(msg, ErrTypeUnexpectedCode, nil)
	}
	return TaskOutput{Counts: map[string]int64{"requests": 1, "response_bytes": n, "status_code": int64(resp.StatusCode)}}, nil
}

func readBody(r io.Reader, excerpt *boundedBuffer, progress *heartbeater) (int64, error) {
	buf := make([]byte, 32*1024)
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		excerpt.Write(buf[:n])
		progress.set(HTTPCallProgress{Phase: "reading the response", ResponseBytes: total})
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// loadTask parses the input, loads the task and records the activity's attempt on the run;
// a deleted task fails the run without retries.
func loadTask(ctx context.Context, s *store.Store, in TaskInput) (uuid.UUID, *store.Task, error) {
	runID, err := uuid.Parse(in.RunID)
	if err != nil {
		return uuid.Nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("run ID %q is not a UUID", in.RunID), ErrTypeInvalidInput, nil)
	}
	taskID, err := uuid.Parse(in.TaskID)
	if err != nil {
		return uuid.Nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task ID %q is not a UUID", in.TaskID), ErrTypeInvalidInput, nil)
	}
	task, err := s.Tasks.Get(ctx, taskID)
	if errors.Is(err, store.ErrNotFound) {
		return uuid.Nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s no longer exists", taskID), ErrTypeTaskNotFound, nil)
	}
	if err != nil {
		return uuid.Nil, nil, fmt.Errorf("load task %s: %w", taskID, err)
	}
	if err := s.Runs.SetAttempt(ctx, runID, int(activity.GetInfo(ctx).Attempt)); err != nil {
		return uuid.Nil, nil, fmt.Errorf("record attempt: %w", err)
	}
	return runID, task, nil
}

// displayURL drops the query and any user info so that tokens in a URL do not reach run
// history, logs or Temporal.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

func describeTransportError(err error, reqCtx context.Context, timeoutSeconds int) string {
	if errors.Is(reqCtx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no complete response within the %ds timeout", timeoutSeconds)
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

func expectedText(cfg *tasktype.HTTPCallConfig) string {
	if len(cfg.ExpectedStatus) == 0 {
		return "a 2xx status"
	}
	parts := make([]string, len(cfg.ExpectedStatus))
	for i, s := range cfg.ExpectedStatus {
		parts[i] = fmt.Sprint(s)
	}
	return "one of " + strings.Join(parts, ", ")
}

// boundedBuffer keeps the first limit bytes written to it.
type boundedBuffer struct {
	limit     int
	b         []byte
	truncated bool
}

func (w *boundedBuffer) Write(p []byte) {
	room := w.limit - len(w.b)
	if len(p) > room {
		w.truncated = true
		p = p[:max(room, 0)]
	}
	w.b = append(w.b, p...)
}

// String returns the excerpt as valid UTF-8 without NUL bytes (which jsonb cannot store).
func (w *boundedBuffer) String() string {
	s := strings.ToValidUTF8(string(w.b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
