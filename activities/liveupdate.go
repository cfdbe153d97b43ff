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

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/feeds"
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
	body, hdr, err := a.open(ctx, cfg, cur, &det)
	if err != nil {
		return TaskOutput{}, err
	}
	if body == nil { // not modified
		det.NotModified = true
		if cur != nil {
			det.Version, det.VersionID = cur.Version, cur.ID
		}
		return finish(map[string]int64{"added": 0, "changed": 0, "revoked": 0, "unchanged": int64(curItems(cur))})
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
	det.Version = cat.CatalogVersion
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
func (a *LiveUpdates) open(ctx context.Context, cfg *tasktype.LiveUpdateConfig, cur *store.ContentVersion, det *LiveUpdateDetails) (io.ReadCloser, http.Header, error) {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
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
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	resp, err := client.Do(req)
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

func curItems(v *store.ContentVersion) int {
	if v == nil {
		return 0
	}
	return v.Items
}
