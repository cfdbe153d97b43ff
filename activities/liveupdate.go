package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/feeds"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// ErrTypeFeed: the feed answered something that is not its format (final until it changes).
const ErrTypeFeed = "BadFeed"

// LiveUpdates executes the Live Update Service task.
type LiveUpdates struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the sealed API key. Required.
	Keyring *secrets.Keyring
	// Client fetches the feeds. Optional; defaults to a client with a 5-minute timeout.
	Client *http.Client
	// Metrics counts the requests to the publishers (vendor kev, nvd, attack, oscal).
	// Optional.
	Metrics *metrics.Registry
}

// LiveUpdateDetails is what a live update run records.
type LiveUpdateDetails struct {
	Source  string `json:"source"`
	URL     string `json:"url"`
	Mode    string `json:"mode"`
	Status  int    `json:"http_status"`
	Version string `json:"version,omitempty"`
	// NotModified is true when the feed answered 304 to the conditional request.
	NotModified bool  `json:"not_modified,omitempty"`
	VersionID   int64 `json:"version_id,omitempty"`
	Replayed    bool  `json:"replayed,omitempty"`
	Attempt     int32 `json:"attempt"`
	DurationMS  int64 `json:"duration_ms"`
	// Collection is the ATT&CK collection taken from an index.
	Collection string `json:"collection,omitempty"`
	// SHA256 is the document's checksum; ChecksumVerified says the publisher's matched it.
	SHA256           string `json:"sha256,omitempty"`
	ChecksumVerified bool   `json:"checksum_verified,omitempty"`
	// NVD: the window of changes fetched (none for a first full load), the requests made,
	// and how often the NVD throttled (403) or failed (5xx) and was waited for.
	Since         string `json:"last_mod_start,omitempty"`
	Until         string `json:"last_mod_end,omitempty"`
	Requests      int    `json:"requests,omitempty"`
	ThrottleWaits int    `json:"throttle_waits,omitempty"`
	ServerRetries int    `json:"server_retries,omitempty"`
	Resumed       bool   `json:"resumed,omitempty"`
	// PhasesMS: fetch (requests and parsing), stage, diff and apply, in milliseconds.
	PhasesMS map[string]int64 `json:"phase_ms,omitempty"`
}

// LiveUpdateProgress is a live update's heartbeat: how far an NVD load has paged (a retry
// resumes there), or how many items a document has staged.
type LiveUpdateProgress struct {
	Phase string `json:"phase"`
	// Until is the lastModEndDate (RFC 3339) of the run's last window, fixed at its start.
	Until      string `json:"until,omitempty"`
	Window     int    `json:"window"`
	Windows    int    `json:"windows"`
	StartIndex int    `json:"start_index"`
	Total      int    `json:"total"`
	Staged     int    `json:"staged"`
}

// UpdateContent fetches the task's feed with the current version's ETag and Last-Modified
// (a 304 is a run with nothing to do), parses it, compares it with the current version, and
// in apply mode stores it as the new current version in one transaction.
func (a *LiveUpdates) UpdateContent(ctx context.Context, in TaskInput) (TaskOutput, error) {
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return TaskOutput{}, err
	}
	c, err := tasktype.DecodeStored(task.Type, task.Config)
	cfg, ok := c.(*tasktype.LiveUpdateConfig)
	if err != nil || !ok {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is not a valid %s task: %v", task.ID, task.Type, err), ErrTypeInvalidConfig, nil)
	}
	if cfg.APIKey != "" {
		if cfg.APIKey, err = a.Keyring.Open(cfg.APIKey); err != nil {
			return TaskOutput{}, temporal.NewNonRetryableApplicationError("the stored API key cannot be opened", ErrTypeInvalidConfig, nil)
		}
	}
	started := time.Now()
	det := LiveUpdateDetails{Source: cfg.Source, URL: displayURL(cfg.URL), Mode: cfg.Mode, Attempt: activity.GetInfo(ctx).Attempt}
	finish := func(counts map[string]int64) (TaskOutput, error) {
		det.DurationMS = time.Since(started).Milliseconds()
		if err := a.Store.Runs.SetDetails(ctx, runID, &det); err != nil {
			return TaskOutput{}, fmt.Errorf("record run details: %w", err)
		}
		return TaskOutput{Counts: counts}, nil
	}
	if v, err := a.Store.ContentByRun(ctx, runID); err == nil { // applied by an earlier attempt
		det.Version, det.VersionID, det.Replayed = v.Version, v.ID, true
		var counts map[string]int64
		_ = json.Unmarshal(v.Counts, &counts)
		return finish(counts)
	}
	cur, err := a.Store.CurrentContent(ctx, cfg.Source)
	if errors.Is(err, store.ErrNotFound) {
		cur = nil
	} else if err != nil {
		return TaskOutput{}, err
	}
	lr := &liveRun{ctx: ctx, cfg: cfg, task: task, runID: runID, cur: cur, det: &det, finish: finish}
	switch {
	case cfg.Source == "kev":
		return a.updateKEV(lr)
	case cfg.Source == "nvd" && cfg.FileID == nil:
		return a.updateNVD(lr)
	}
	return a.updateDocument(lr)
}

// liveRun is one attempt of a live update run.
type liveRun struct {
	ctx    context.Context
	cfg    *tasktype.LiveUpdateConfig
	task   *store.Task
	runID  uuid.UUID
	cur    *store.ContentVersion
	det    *LiveUpdateDetails
	finish func(map[string]int64) (TaskOutput, error)
}

// phase records how long a phase of the run took.
func (r *liveRun) phase(name string, d time.Duration) {
	if r.det.PhasesMS == nil {
		r.det.PhasesMS = map[string]int64{}
	}
	r.det.PhasesMS[name] = d.Milliseconds()
}

// notModified ends a run that found nothing new.
func (r *liveRun) notModified() (TaskOutput, error) {
	r.det.NotModified = true
	if r.cur != nil {
		r.det.Version, r.det.VersionID = r.cur.Version, r.cur.ID
	}
	return r.finish(map[string]int64{"added": 0, "changed": 0, "revoked": 0, "unchanged": int64(curItems(r.cur))})
}

// updateKEV applies the KEV catalogue, which is copied whole per version.
func (a *LiveUpdates) updateKEV(r *liveRun) (TaskOutput, error) {
	ctx, cfg, cur, det, finish, runID, task := r.ctx, r.cfg, r.cur, r.det, r.finish, r.runID, r.task
	body, hdr, err := a.open(ctx, cfg, cfg.URL, cur, det)
	if err != nil {
		return TaskOutput{}, err
	}
	if body == nil {
		return r.notModified()
	}
	defer body.Close()
	h := sha256.New()
	var rows []store.KEVRow
	cat, err := feeds.ParseKEV(io.TeeReader(body, h), func(e feeds.KEVEntry) error {
		r := store.KEVRow{CVEID: e.CVEID, VendorProject: e.VendorProject, Product: e.Product, Name: e.VulnerabilityName, DateAdded: e.DateAdded,
			ShortDescription: e.ShortDescription, RequiredAction: e.RequiredAction, RansomwareUse: e.RansomwareUse, Notes: e.Notes, CWEs: e.CWEs}
		if e.DueDate != "" {
			d := e.DueDate
			r.DueDate = &d
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		if errors.Is(err, feeds.ErrKEV) {
			return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v; nothing was changed", det.URL, err), ErrTypeFeed, nil)
		}
		return TaskOutput{}, temporal.NewApplicationError(fmt.Sprintf("%s: reading the feed failed", det.URL), ErrTypeSource)
	}
	det.Version, det.SHA256 = cat.CatalogVersion, hex.EncodeToString(h.Sum(nil))
	if err := a.verify(r, det.SHA256); err != nil {
		return TaskOutput{}, err
	}
	if cur != nil && cur.ReleasedAt != nil && cat.DateReleased.Before(*cur.ReleasedAt) {
		return TaskOutput{}, backwards(det, cat.CatalogVersion, cur)
	}
	counts, err := a.Store.KEVDiff(ctx, rows)
	if err != nil {
		return TaskOutput{}, err
	}
	if cfg.Mode == "check" {
		return finish(counts)
	}
	raw, _ := json.Marshal(counts)
	v := &store.ContentVersion{TaskID: &task.ID, Source: cfg.Source, Version: cat.CatalogVersion, ETag: hdr.Get("ETag"),
		LastModified: hdr.Get("Last-Modified"), SHA256: hex.EncodeToString(h.Sum(nil)), Items: len(rows), Counts: raw, RunID: runID,
		AppliedAt: time.Now().UTC()}
	if !cat.DateReleased.IsZero() {
		r := cat.DateReleased.UTC()
		v.ReleasedAt = &r
	}
	v, replayed, err := a.Store.ApplyKEV(ctx, v, rows)
	if err != nil {
		return TaskOutput{}, err
	}
	det.VersionID, det.Replayed = v.ID, replayed
	activity.GetLogger(ctx).Info("content updated", "task", task.Name, "source", cfg.Source, "version", v.Version, "counts", counts)
	return finish(counts)
}

// open returns the feed's body and headers: the uploaded file (offline mode; nil when it is
// the current version's), or the URL's answer to a conditional request (nil on a 304).
func (a *LiveUpdates) open(ctx context.Context, cfg *tasktype.LiveUpdateConfig, rawURL string, cur *store.ContentVersion, det *LiveUpdateDetails) (io.ReadCloser, http.Header, error) {
	if cfg.FileID != nil {
		f, err := a.Store.Files.Get(ctx, *cfg.FileID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the task's file %s no longer exists", *cfg.FileID), ErrTypeSource, nil)
		}
		if err != nil {
			return nil, nil, err
		}
		det.URL = "file " + f.Name
		if cur != nil && cur.SHA256 == f.SHA256 {
			return nil, nil, nil
		}
		body, err := a.Store.Files.Open(ctx, f.ID)
		return body, http.Header{}, err
	}
	det.URL = displayURL(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("url %s: %v", det.URL, err), ErrTypeInvalidConfig, nil)
	}
	req.Header.Set("Accept", "application/json")
	if cfg.APIKey != "" {
		req.Header.Set("apiKey", cfg.APIKey)
	}
	if cur != nil {
		if cur.ETag != "" {
			req.Header.Set("If-None-Match", cur.ETag)
		}
		if cur.LastModified != "" {
			req.Header.Set("If-Modified-Since", cur.LastModified)
		}
	}
	resp, err := a.client(cfg.Source).Do(req)
	if err != nil {
		return nil, nil, temporal.NewApplicationError(fmt.Sprintf("GET %s cannot be reached", det.URL), ErrTypeSource)
	}
	det.Status = resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusNotModified:
		resp.Body.Close()
		return nil, nil, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		resp.Body.Close()
		return nil, nil, temporal.NewApplicationError(fmt.Sprintf("GET %s answered %s", det.URL, resp.Status), ErrTypeSource)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("GET %s answered %s", det.URL, resp.Status), ErrTypeSource, nil)
	}
	return resp.Body, resp.Header, nil
}

// client is the HTTP client for source's publisher, counting its requests.
func (a *LiveUpdates) client(source string) *http.Client {
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Minute}
	}
	if a.Metrics == nil {
		return c
	}
	counted := *c
	counted.Transport = a.Metrics.VendorTransport(c.Transport, source)
	return &counted
}

func curItems(v *store.ContentVersion) int {
	if v == nil {
		return 0
	}
	return v.Items
}
