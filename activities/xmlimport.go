package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/xmlmap"
)

// Error types of the XML imports.
const (
	// ErrTypeBadFile: the file cannot be read as the mapping's XML (malformed, truncated,
	// a record over the caps, an unsupported encoding).
	ErrTypeBadFile = "BadFile"
	// ErrTypeTooManyFailed: more records failed than the task's error threshold allows.
	ErrTypeTooManyFailed = "TooManyFailedRecords"
	// ErrTypeSource: the file could not be fetched or picked up.
	ErrTypeSource = "FileSource"
)

// XMLImports executes the Import Assets, Events and Vulnerabilities from XML File tasks.
type XMLImports struct {
	// Store is the database (and the file storage). Required.
	Store *store.Store
	// Keyring opens the sealed URL token. Required.
	Keyring *secrets.Keyring
	// DropDir is the server-side drop directory that drop_glob is relative to
	// (XML_DROP_DIR). Optional; tasks with a drop_glob fail without it.
	DropDir string
	// Client fetches URL sources. Optional; defaults to a client with a 10-minute timeout.
	Client *http.Client
	// MaxFileBytes caps a fetched or picked-up file. Optional; defaults to 1 GiB.
	MaxFileBytes int64
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 5s.
	HeartbeatEvery time.Duration
}

// XMLFileRef is the file a run imported, as its details show it.
type XMLFileRef struct {
	ID     uuid.UUID `json:"id"`
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	// Source is "upload", "url" or "drop".
	Source string `json:"source"`
	// URL is the fetched address without query or user info; Path the dropped file.
	URL  string `json:"url,omitempty"`
	Path string `json:"path,omitempty"`
	// Stored says whether the run stored the file (false: the same bytes were stored).
	Stored bool `json:"stored,omitempty"`
}

// XMLImportDetails is what an XML import run records.
type XMLImportDetails struct {
	Kind   string      `json:"kind"`
	Preset string      `json:"preset,omitempty"`
	File   *XMLFileRef `json:"file,omitempty"`
	// NoFile says why nothing was imported (no file matched the drop glob, the file was
	// imported before).
	NoFile  string `json:"no_file,omitempty"`
	Records int64  `json:"records"`
	Failed  int64  `json:"failed"`
	// Issues are the first 100 record issues (all through /runs/{id}/record-issues).
	Issues      []store.RecordIssue `json:"issues,omitempty"`
	IssuesTotal int64               `json:"issues_total,omitempty"`
	// MovedTo is where a dropped file went after the run.
	MovedTo    string           `json:"moved_to,omitempty"`
	PhaseMS    map[string]int64 `json:"phase_ms,omitempty"`
	Replayed   bool             `json:"replayed,omitempty"`
	Attempt    int32            `json:"attempt"`
	DurationMS int64            `json:"duration_ms"`
}

// XMLProgress is the heartbeat of an XML import.
type XMLProgress struct {
	Phase   string
	Records int64
	Failed  int64
}

// maxDetailIssues is how many record issues a run's details list.
const maxDetailIssues = 100

// xmlRun is one run's task, configuration and bookkeeping.
type xmlRun struct {
	runID   uuid.UUID
	task    *store.Task
	cfg     *tasktype.XMLImportConfig
	mapping *xmlmap.Compiled
	file    *store.File
	drop    string // the picked-up file's path
	det     XMLImportDetails
	started time.Time
	mark    time.Time
}

func (r *xmlRun) lap(name string) {
	now := time.Now()
	r.det.PhaseMS[name] = now.Sub(r.mark).Milliseconds()
	r.mark = now
}

func (r *xmlRun) scope() store.AssetScope {
	return store.AssetScope{Prefix: "xml:" + r.cfg.AssetSource + ":", Source: "xml", SourceType: "xml", SourceID: r.task.ID}
}

// ImportXMLFile runs an XML file import: it resolves the file (stored upload, URL or drop
// directory, stored so that the run names it), maps its records, stages them and applies
// them in one transaction through the reimport engine. Records that fail are listed with
// their number, line, field and reason; the run fails, applying nothing, when they exceed
// the task's threshold.
func (a *XMLImports) ImportXMLFile(ctx context.Context, in TaskInput) (TaskOutput, error) {
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return TaskOutput{}, err
	}
	cfg, err := tasktype.StoredXMLImport(task.Type, task.Config, a.Keyring.Open)
	if err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}
	m, err := cfg.Compile()
	if err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: the mapping does not compile: %v", task.Name, err), ErrTypeInvalidConfig, nil)
	}
	now := time.Now()
	r := &xmlRun{runID: runID, task: task, cfg: cfg, mapping: m, started: now, mark: now,
		det: XMLImportDetails{Kind: cfg.Kind(), Preset: cfg.Preset, PhaseMS: map[string]int64{}, Attempt: activity.GetInfo(ctx).Attempt}}
	if counts, done, err := a.Store.ScannerImportCounts(ctx, runID, task.ID); err != nil {
		return TaskOutput{}, err
	} else if done {
		// An earlier attempt applied the import; a dropped file may still wait to be moved.
		r.det.Replayed = true
		if cfg.DropGlob != "" {
			if err := a.pickDrop(ctx, r); err == nil && r.drop != "" {
				a.moveDrop(r, "processed")
			}
		}
		return a.finish(ctx, r, counts)
	}
	if err := a.resolveFile(ctx, r); err != nil {
		return TaskOutput{}, err
	}
	if r.file == nil {
		return a.finish(ctx, r, map[string]int64{"records": 0})
	}
	r.lap("file")
	if cfg.Kind() == "events" && cfg.EventMatch == "always_new" {
		if prev, ok, err := a.Store.XMLFileImported(ctx, task.ID, r.file.SHA256); err != nil {
			return TaskOutput{}, err
		} else if ok {
			r.det.NoFile = "the task imported this file (same SHA-256) before: nothing changes"
			a.moveDrop(r, "processed")
			return a.finish(ctx, r, map[string]int64{"records": prev, "unchanged": prev})
		}
	}
	hb := newHeartbeater(ctx, a.heartbeatEvery())
	defer hb.stop()
	var counts map[string]int64
	err = a.Store.WithStaging(ctx, func(st *store.Staging) error {
		var err error
		counts, err = a.stageAndApply(ctx, r, st, hb)
		return err
	})
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.NonRetryable() {
			a.moveDrop(r, "failed")
			r.det.DurationMS = time.Since(r.started).Milliseconds()
			if derr := a.saveDetails(ctx, r); derr != nil {
				activity.GetLogger(ctx).Warn("record run details", "error", derr)
			}
		}
		return TaskOutput{}, err
	}
	a.moveDrop(r, "processed")
	return a.finish(ctx, r, counts)
}

func (a *XMLImports) heartbeatEvery() time.Duration {
	if a.HeartbeatEvery > 0 {
		return a.HeartbeatEvery
	}
	return 5 * time.Second
}

func (a *XMLImports) maxBytes() int64 {
	if a.MaxFileBytes > 0 {
		return a.MaxFileBytes
	}
	return 1 << 30
}

func (a *XMLImports) saveDetails(ctx context.Context, r *xmlRun) error {
	issues, err := a.Store.RecordIssues(ctx, r.runID, "", 0, maxDetailIssues)
	if err != nil {
		return err
	}
	if len(issues) > 0 {
		r.det.Issues = issues
		if r.det.IssuesTotal, err = a.Store.RecordIssueCount(ctx, r.runID); err != nil {
			return err
		}
	}
	return a.Store.Runs.SetDetails(ctx, r.runID, &r.det)
}

func (a *XMLImports) finish(ctx context.Context, r *xmlRun, counts map[string]int64) (TaskOutput, error) {
	r.det.DurationMS = time.Since(r.started).Milliseconds()
	if err := a.saveDetails(ctx, r); err != nil {
		return TaskOutput{}, fmt.Errorf("record run details: %w", err)
	}
	activity.GetLogger(ctx).Info("XML import applied", "task", r.task.Name, "type", r.task.Type, "counts", counts)
	return TaskOutput{Counts: counts}, nil
}

// resolveFile finds the run's file: the stored upload, or the URL's or drop directory's
// content stored first (the same bytes are stored once), so that the run names it and
// every pass reads the same bytes.
func (a *XMLImports) resolveFile(ctx context.Context, r *xmlRun) error {
	cfg := r.cfg
	switch {
	case cfg.FileID != nil:
		f, err := a.Store.Files.Get(ctx, *cfg.FileID)
		if errors.Is(err, store.ErrNotFound) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the task's file %s no longer exists (upload it again and update the task)", *cfg.FileID), ErrTypeSource, nil)
		}
		if err != nil {
			return err
		}
		r.file = f
		r.det.File = &XMLFileRef{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256, Source: "upload"}
	case cfg.URL != "":
		return a.fetchURL(ctx, r)
	case cfg.DropGlob != "":
		if err := a.pickDrop(ctx, r); err != nil {
			return err
		}
		if r.drop == "" {
			r.det.NoFile = fmt.Sprintf("no file in the drop directory matches %q", cfg.DropGlob)
			return nil
		}
		fh, err := os.Open(r.drop)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("open %s: %v", a.relDrop(r.drop), err), ErrTypeSource, nil)
		}
		defer fh.Close()
		return a.store(ctx, r, filepath.Base(r.drop), fh, &XMLFileRef{Source: "drop", Path: a.relDrop(r.drop)})
	}
	return nil
}

func (a *XMLImports) store(ctx context.Context, r *xmlRun, name string, body io.Reader, ref *XMLFileRef) error {
	if name == "" || name == "." || name == "/" {
		name = "import.xml"
	}
	f, existed, err := a.Store.Files.Put(ctx, &store.File{Name: truncateRunes(name, 400), ContentType: "application/xml",
		CreatedBy: "task:" + r.task.Name, CreatedAt: time.Now().UTC()}, body, a.maxBytes())
	if errors.Is(err, store.ErrTooLarge) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", name, err), ErrTypeSource, nil)
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	r.file = f
	ref.ID, ref.Name, ref.Size, ref.SHA256, ref.Stored = f.ID, f.Name, f.Size, f.SHA256, !existed
	r.det.File = ref
	return nil
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func (a *XMLImports) fetchURL(ctx context.Context, r *xmlRun) error {
	shown := displayURL(r.cfg.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("url %s: %v", shown, err), ErrTypeInvalidConfig, nil)
	}
	req.Header.Set("Accept", "application/xml, text/xml, */*")
	if r.cfg.URLToken != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.URLToken)
	}
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error may repeat the URL with its query: name the shown one only.
		var ue interface{ Timeout() bool }
		kind := "cannot be reached"
		if errors.As(err, &ue) && ue.Timeout() {
			kind = "timed out"
		}
		return temporal.NewApplicationError(fmt.Sprintf("GET %s %s", shown, kind), ErrTypeSource)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("GET %s answered %s", shown, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
			return temporal.NewApplicationError(msg, ErrTypeSource)
		}
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeSource, nil)
	}
	if resp.ContentLength > a.maxBytes() {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("GET %s: the file is %d bytes, more than the limit of %d", shown, resp.ContentLength, a.maxBytes()), ErrTypeSource, nil)
	}
	if err := a.store(ctx, r, path.Base(req.URL.Path), resp.Body, &XMLFileRef{Source: "url", URL: shown}); err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			return err
		}
		return temporal.NewApplicationError(fmt.Sprintf("GET %s: reading the body failed", shown), ErrTypeSource)
	}
	return nil
}

// pickDrop finds the oldest file matching the task's drop glob.
func (a *XMLImports) pickDrop(_ context.Context, r *xmlRun) error {
	if a.DropDir == "" {
		return temporal.NewNonRetryableApplicationError("the task reads the drop directory, but this worker has none (set XML_DROP_DIR)", ErrTypeSource, nil)
	}
	matches, err := filepath.Glob(filepath.Join(a.DropDir, filepath.FromSlash(r.cfg.DropGlob)))
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("drop_glob %q: %v", r.cfg.DropGlob, err), ErrTypeInvalidConfig, nil)
	}
	type cand struct {
		path string
		mod  time.Time
	}
	var files []cand
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() {
			continue // directories, links and files that vanished are not picked
		}
		files = append(files, cand{m, fi.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool {
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.Before(files[j].mod)
		}
		return files[i].path < files[j].path
	})
	if len(files) > 0 {
		r.drop = files[0].path
	}
	return nil
}

func (a *XMLImports) relDrop(p string) string {
	if rel, err := filepath.Rel(a.DropDir, p); err == nil {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(p)
}

// moveDrop moves the picked-up file into folder ("processed" or "failed") beside it, its
// name prefixed with the time, so that the next run takes the next file.
func (a *XMLImports) moveDrop(r *xmlRun, folder string) {
	if r.drop == "" {
		return
	}
	dir := filepath.Join(filepath.Dir(r.drop), folder)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		r.det.MovedTo = "not moved: " + err.Error()
		return
	}
	to := filepath.Join(dir, time.Now().UTC().Format("20060102T150405Z")+"-"+filepath.Base(r.drop))
	if err := os.Rename(r.drop, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // moved by an earlier attempt
		}
		r.det.MovedTo = "not moved: " + err.Error()
		return
	}
	r.det.MovedTo = a.relDrop(to)
}

// fileFailure makes a problem of the file a final run failure naming the file.
func fileFailure(r *xmlRun, err error) error {
	var fe *xmlmap.Error
	if errors.As(err, &fe) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("file %s: %v; nothing was changed", r.file.Name, fe), ErrTypeBadFile, nil)
	}
	return err
}

// stageAndApply reads the lookups (first pass) and the records (second pass) into staging,
// checks the error threshold and applies.
func (a *XMLImports) stageAndApply(ctx context.Context, r *xmlRun, st *store.Staging, hb *heartbeater) (map[string]int64, error) {
	prog := XMLProgress{Phase: "lookups"}
	hb.set(prog)
	var tables xmlmap.Tables
	if r.mapping.HasLookups() {
		rd, err := a.Store.Files.Open(ctx, r.file.ID)
		if err != nil {
			return nil, err
		}
		tables, err = r.mapping.ReadLookups(rd, xmlmap.LookupOptions{})
		rd.Close()
		if err != nil {
			return nil, fileFailure(r, err)
		}
		r.lap("lookups")
	}
	prog.Phase = "records"
	rd, err := a.Store.Files.Open(ctx, r.file.ID)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	stager := a.stager(r)
	var failed, skipped int64
	n, err := r.mapping.Records(rd, xmlmap.ReadOptions{}, func(rec *xmlmap.Record) error {
		vals, errs := r.mapping.Evaluate(rec, tables)
		if len(errs) > 0 {
			failed++
			for _, fe := range errs {
				if err := st.AddIssue(ctx, store.RecordIssue{Number: rec.Number, Line: rec.Line, Outcome: store.IssueFailed, Field: fe.Target, Message: fe.Message}); err != nil {
					return err
				}
			}
		} else if reason, field, err := stager(ctx, st, rec, vals); err != nil {
			return err
		} else if reason != "" {
			skipped++
			if err := st.AddIssue(ctx, store.RecordIssue{Number: rec.Number, Line: rec.Line, Outcome: store.IssueSkipped, Field: field, Message: reason}); err != nil {
				return err
			}
		}
		if rec.Number%1000 == 0 {
			prog.Records, prog.Failed = int64(rec.Number), failed
			hb.set(prog)
		}
		return nil
	})
	if err != nil {
		return nil, fileFailure(r, err)
	}
	r.lap("records")
	r.det.Records, r.det.Failed = int64(n), failed
	if n == 0 && !r.cfg.AllowEmptyResults {
		m := r.cfg.EffectiveMapping()
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"file %s has no element at the mapping's record path %s; nothing was changed (check the path against the file, "+
				"or set config.allow_empty_results if an empty file is expected)", r.file.Name, strings.Join(append([]string{m.Record}, m.MoreRecords...), " or ")),
			ErrTypeBadFile, nil)
	}
	st.File = &store.ImportedFile{ID: r.file.ID, SHA256: r.file.SHA256, Records: int64(n), Failed: failed}
	if failed > int64(r.cfg.MaxFailedRecords) || (n > 0 && failed*100 > int64(n)*int64(r.cfg.MaxFailedPercent)) {
		if err := st.SaveIssues(ctx, r.runID); err != nil {
			return nil, err
		}
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"file %s: %d of %d records failed, more than the task allows (max_failed_records %d, max_failed_percent %d%%); nothing was changed. "+
				"The failed records are listed in the run's details and at /api/v1/runs/%s/record-issues",
			r.file.Name, failed, n, r.cfg.MaxFailedRecords, r.cfg.MaxFailedPercent, r.runID), ErrTypeTooManyFailed, nil)
	}
	prog.Phase, prog.Records = "apply", int64(n)
	hb.set(prog)
	defer r.lap("apply")
	counts, err := a.apply(ctx, r, st, skipped)
	if err != nil {
		return nil, applyError(err)
	}
	counts["records"], counts["failed"] = int64(n), failed
	return counts, nil
}

// recordStager stages one mapped record; a non-empty reason skips it (with the field).
type recordStager func(ctx context.Context, st *store.Staging, rec *xmlmap.Record, v xmlmap.Values) (reason, field string, err error)

func (a *XMLImports) stager(r *xmlRun) recordStager {
	switch r.cfg.Kind() {
	case "assets":
		return stageAsset
	case "events":
		return func(ctx context.Context, st *store.Staging, rec *xmlmap.Record, v xmlmap.Values) (string, string, error) {
			return stageEvent(ctx, st, rec, v, r.cfg)
		}
	}
	seen := map[string]bool{}
	var last *scanner.Host
	return func(ctx context.Context, st *store.Staging, rec *xmlmap.Record, v xmlmap.Values) (string, string, error) {
		return stageOccurrence(ctx, st, rec, v, r.cfg, seen, &last)
	}
}

func (a *XMLImports) apply(ctx context.Context, r *xmlRun, st *store.Staging, skipped int64) (map[string]int64, error) {
	now := time.Now().UTC()
	var counts map[string]int64
	var err error
	switch r.cfg.Kind() {
	case "assets":
		counts, _, err = st.ApplyAssets(ctx, store.AssetApplyInput{RunID: r.runID, TaskID: r.task.ID, Scope: r.scope(),
			Defaults:  store.AssetDefaults{Type: r.cfg.DefaultAssetType, Responsible: r.cfg.DefaultResponsible, Criticality: r.cfg.DefaultCriticality},
			Overwrite: r.cfg.OverwriteLocalEdits, MaxRemovalPercent: r.cfg.MaxRemovalPercent, Skipped: skipped, Now: now})
	case "events":
		counts, _, err = st.ApplyEvents(ctx, store.EventApplyInput{RunID: r.runID, TaskID: r.task.ID, Actor: "task:" + r.task.Name,
			AssetPrefix: r.scope().Prefix, Skipped: skipped, Now: now})
	default:
		if st.Detections == 0 && !r.cfg.AllowEmptyResults {
			open, err := a.Store.ActiveOccurrences(ctx, r.task.ID)
			if err != nil {
				return nil, err
			}
			if open > 0 {
				return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"file %s has no occurrences while %d occurrences of this task are open; nothing was changed "+
						"(set config.allow_empty_results to let an empty report close them)", r.file.Name, open), ErrTypeRemovalGuard, nil)
			}
		}
		sc := r.scope()
		if r.cfg.MatchAssetsBy != "source_id" {
			sc.Match = r.cfg.MatchAssetsBy
		}
		sc.SkipUnknown = r.cfg.UnknownAssets == "skip"
		counts, _, err = st.ApplyOccurrences(ctx, store.OccurrenceApplyInput{RunID: r.runID, TaskID: r.task.ID, Scope: sc,
			Defaults:     store.AssetDefaults{Type: r.cfg.DefaultAssetType, Responsible: r.cfg.DefaultResponsible, Criticality: r.cfg.DefaultCriticality},
			CatalogScope: r.cfg.AssetSource, ExpireAfterDays: r.cfg.ExpireAfterDays, DeleteAfterDays: r.cfg.DeleteAfterDays,
			Skipped: skipped, StartedAt: r.started.UTC(), Now: now})
	}
	return counts, err
}

func str(v xmlmap.Values, k string) string {
	s, _ := v[k].(string)
	return s
}

func intOr(v xmlmap.Values, k string, def int) int {
	if n, ok := v[k].(int64); ok {
		return int(n)
	}
	return def
}

func optStr(v xmlmap.Values, k string) *string {
	if s, ok := v[k].(string); ok {
		return &s
	}
	return nil
}

func stageAsset(ctx context.Context, st *store.Staging, _ *xmlmap.Record, v xmlmap.Values) (string, string, error) {
	a := store.StagedAsset{ID: str(v, "id"), Name: str(v, "name"), HostAddress: str(v, "host_address"), IP: str(v, "ip"), OS: str(v, "os"),
		Relevance: intOr(v, "relevance", 3), Type: optStr(v, "type"), Description: optStr(v, "description"), Responsible: optStr(v, "responsible")}
	if a.HostAddress == "" {
		a.HostAddress = a.IP
	}
	if c, ok := v["criticality"].(int64); ok {
		n := int(c)
		a.Criticality = &n
	}
	return "", "", st.AddAsset(ctx, a)
}

func stageEvent(ctx context.Context, st *store.Staging, rec *xmlmap.Record, v xmlmap.Values, cfg *tasktype.XMLImportConfig) (string, string, error) {
	e := store.StagedEvent{Number: rec.Number, Line: rec.Line, Title: str(v, "title"), Description: str(v, "description"), Type: str(v, "type"),
		Urgency: intOr(v, "urgency", 3), Severity: intOr(v, "severity", 3), Relevance: intOr(v, "relevance", 3), Progress: intOr(v, "progress", 0),
		Responsible: str(v, "responsible"), Asset: str(v, "asset")}
	if e.Type == "" {
		e.Type = cfg.DefaultEventType
	}
	if cfg.EventMatch == "key" {
		if e.Key = str(v, "key"); e.Key == "" {
			return "the record has no key (event_match is key)", "key", nil
		}
	}
	return "", "", st.AddEvent(ctx, e)
}

// levelSeverity names a 1-5 level as the catalogue stores severities.
var levelSeverity = map[int]string{5: scanner.SeverityCritical, 4: scanner.SeverityHigh, 3: scanner.SeverityMedium, 2: scanner.SeverityLow, 1: scanner.SeverityInfo}

func stageOccurrence(ctx context.Context, st *store.Staging, rec *xmlmap.Record, v xmlmap.Values, cfg *tasktype.XMLImportConfig, seen map[string]bool,
	last **scanner.Host) (string, string, error) {
	status, typ := str(v, "status"), str(v, "detection_type")
	if status == "" {
		status = scanner.StatusOpen
	}
	if typ == "" {
		typ = scanner.TypeConfirmed
	}
	if status == "closed" {
		return "the file reports the vulnerability fixed: the occurrence closes as missing from the import", "status", nil
	}
	if !slices.Contains(cfg.DetectionTypes, typ) {
		return fmt.Sprintf("detection type %s is not imported by this task (detection_types: %s)", typ, strings.Join(cfg.DetectionTypes, ", ")), "detection_type", nil
	}
	vid, host := str(v, "vulnerability_id"), str(v, "host")
	sev := levelSeverity[intOr(v, "level", 3)]
	if !seen[vid] {
		seen[vid] = true
		var cves []string
		for _, c := range strings.FieldsFunc(str(v, "cves"), func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t' }) {
			cves = append(cves, strings.ToUpper(c))
		}
		if err := st.AddDefinition(ctx, scanner.Definition{VendorID: vid, Title: str(v, "title"), Description: str(v, "description"),
			Solution: str(v, "solution"), CVEs: cves, Severity: sev, VendorSeverity: strconv.Itoa(intOr(v, "level", 3))}); err != nil {
			return "", "", err
		}
	}
	h := &scanner.Host{VendorID: host, IP: str(v, "ip"), DNS: str(v, "host_name"), OS: str(v, "os")}
	switch cfg.MatchAssetsBy {
	case store.MatchHostAddress:
		h.DNS = host
	case store.MatchIP:
		h.IP = host
	}
	// A host's records share one staged host (records of one host usually follow each other).
	if l := *last; l != nil && l.VendorID == h.VendorID && l.IP == h.IP && l.DNS == h.DNS && l.OS == h.OS {
		h = l
	}
	*last = h
	d := scanner.Detection{VendorID: vid, AssetVendorID: host, Asset: h, Host: host, IP: h.IP, Protocol: str(v, "protocol"),
		Evidence: str(v, "evidence"), Type: typ, Status: status, VendorStatus: status}
	if p, ok := v["port"].(int64); ok {
		d.Port, d.HasPort = int32(p), true
	}
	if t, ok := v["first_found"].(time.Time); ok {
		d.FirstSeen = t
	}
	if t, ok := v["last_found"].(time.Time); ok {
		d.LastSeen = t
	}
	// The identity matches the occurrence across imports: vulnerability, host, port and
	// protocol, and the instance (":key=" keeps it in the occurrence's instance column).
	d.Identity = vid + "|" + host + "|" + strconv.Itoa(int(d.Port)) + "/" + d.Protocol
	if !d.HasPort {
		d.Identity = vid + "|" + host + "|-/" + d.Protocol
	}
	if inst := str(v, "instance"); inst != "" {
		d.Identity += ":key=" + inst
	}
	return "", "", st.AddRecordDetection(ctx, rec.Number, rec.Line, d)
}
