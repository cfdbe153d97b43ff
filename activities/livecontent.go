package activities

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/time/rate"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/feeds"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// stageBatch is how many items go to the staging table in one COPY.
const stageBatch = 2000

// errStage wraps a failure to write to the staging (the database, not the feed).
var errStage = errors.New("stage the items")

// stager writes a run's items to its staging in batches, with COPY, from a goroutine of its
// own, so that the next page is fetched and parsed while the last one is stored: at most one
// batch is being copied, one waits and one is being filled.
type stager struct {
	ctx   context.Context
	st    *store.Store
	runID uuid.UUID
	buf   []store.StagedItem
	// n counts the items handed over; spent is the time spent waiting for the staging.
	n     int
	spent time.Duration
	// progress, when set, hears how many items are stored after each full batch.
	progress func(stored int)
	jobs     chan stageJob
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	err      error
}

type stageJob struct {
	items []store.StagedItem
	// then runs once the job's items (and every earlier job's) are stored.
	then func()
}

func newStager(ctx context.Context, st *store.Store, runID uuid.UUID) *stager {
	s := &stager{ctx: ctx, st: st, runID: runID, jobs: make(chan stageJob, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for j := range s.jobs {
			if s.failed() != nil {
				continue
			}
			if len(j.items) > 0 {
				if err := s.st.StageItems(s.ctx, s.runID, j.items); err != nil {
					s.mu.Lock()
					s.err = fmt.Errorf("%w: %w", errStage, err)
					s.mu.Unlock()
					continue
				}
			}
			if j.then != nil {
				j.then()
			}
		}
	}()
	return s
}

func (s *stager) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stager) add(it store.StagedItem) error {
	s.buf = append(s.buf, it)
	if len(s.buf) < stageBatch {
		return nil
	}
	var then func()
	if s.progress != nil {
		stored, progress := s.n+len(s.buf), s.progress
		then = func() { progress(stored) }
	}
	return s.flush(then)
}

// flush hands the buffered items over; then runs once they are stored.
func (s *stager) flush(then func()) error {
	if err := s.failed(); err != nil {
		return err
	}
	start := time.Now()
	select {
	case s.jobs <- stageJob{items: s.buf, then: then}:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	s.spent += time.Since(start)
	s.n += len(s.buf)
	s.buf = make([]store.StagedItem, 0, stageBatch)
	return nil
}

// close waits until everything handed over is stored (or failed).
func (s *stager) close() error {
	s.once.Do(func() {
		start := time.Now()
		close(s.jobs)
		<-s.done
		s.spent += time.Since(start)
	})
	return s.failed()
}

// updateDocument applies a source delivered as one document (ATT&CK, OSCAL, an NVD data
// feed file): staged while parsed, checked against the publisher's checksum and the current
// version, compared in SQL, and applied in one transaction.
func (a *LiveUpdates) updateDocument(r *liveRun) (TaskOutput, error) {
	ctx, cfg, det := r.ctx, r.cfg, r.det
	if err := a.Store.ClearStaging(ctx, r.runID); err != nil { // a retry starts over
		return TaskOutput{}, err
	}
	docURL := cfg.URL
	if cfg.Source == "attack" && cfg.Collection != "" && cfg.FileID == nil {
		body, _, err := a.open(ctx, cfg, cfg.URL, nil, det)
		if err != nil {
			return TaskOutput{}, err
		}
		coll, err := feeds.ParseSTIXIndex(body, cfg.Collection)
		body.Close()
		if err != nil {
			return TaskOutput{}, badFeed(det, err)
		}
		newest := coll.Versions[0]
		det.Collection, det.Version = coll.Name, newest.Version
		if r.cur != nil {
			if c := feeds.CompareVersions(newest.Version, r.cur.Version); c < 0 {
				return TaskOutput{}, backwards(det, newest.Version, r.cur)
			} else if c == 0 {
				return r.notModified()
			}
		}
		docURL = newest.URL
		if msg := tasktype.CheckFileURL(docURL, cfg.AllowPlaintextHTTP); msg != "" {
			return TaskOutput{}, badFeed(det, fmt.Errorf("the index gives version %s the URL %q, which %s", newest.Version, displayURL(docURL), msg))
		}
	}
	body, hdr, err := a.open(ctx, cfg, docURL, r.cur, det)
	if err != nil {
		return TaskOutput{}, err
	}
	if body == nil {
		return r.notModified()
	}
	defer body.Close()
	hb := newHeartbeater(ctx, 5*time.Second)
	defer hb.stop()
	st := newStager(ctx, a.Store, r.runID)
	defer st.close()
	st.progress = func(n int) { hb.set(LiveUpdateProgress{Phase: "staging", Staged: n}) }
	fetchStart := time.Now()
	h := sha256.New()
	in := io.TeeReader(body, h)
	v := &store.ContentVersion{TaskID: &r.task.ID, Source: cfg.Source, ETag: hdr.Get("ETag"), LastModified: hdr.Get("Last-Modified"), RunID: r.runID}
	var released time.Time
	snapshot := true
	switch cfg.Source {
	case "attack":
		var b feeds.STIXBundle
		b, err = feeds.ParseSTIX(in, func(o feeds.STIXObject) error { return st.add(stixItem(o)) })
		v.Version, released = b.CollectionVersion, b.Modified
		if det.Collection == "" {
			det.Collection = b.CollectionName
		}
	case "oscal":
		var c feeds.OSCALCatalog
		c, err = feeds.ParseOSCALCatalog(in, func(it feeds.OSCALItem) error { return st.add(oscalItem(it)) })
		v.Version, released = c.Version, c.LastModified
	case "nvd": // a data feed file: a delta like the API's pages
		snapshot = false
		var p feeds.NVDPage
		p, err = feeds.ParseNVD(in, func(c feeds.NVDCVE) error { return st.add(nvdItem(c)) })
		released = p.Timestamp
		v.Version = released.Format(time.RFC3339)
	default:
		return TaskOutput{}, temporal.NewNonRetryableApplicationError("unknown content source "+cfg.Source, ErrTypeInvalidConfig, nil)
	}
	if err == nil {
		err = st.flush(nil)
	}
	if cerr := st.close(); err == nil {
		err = cerr
	}
	hb.set(LiveUpdateProgress{Phase: "staged", Staged: st.n})
	if err != nil {
		_ = a.Store.ClearStaging(context.WithoutCancel(ctx), r.runID)
		if errors.Is(err, feeds.ErrSTIX) || errors.Is(err, feeds.ErrOSCAL) || errors.Is(err, feeds.ErrNVD) {
			return TaskOutput{}, badFeed(det, err)
		}
		if ctx.Err() == nil && !errors.Is(err, errStage) {
			return TaskOutput{}, temporal.NewApplicationError(fmt.Sprintf("%s: reading the feed failed: %v", det.URL, err), ErrTypeSource)
		}
		return TaskOutput{}, err
	}
	r.phase("fetch", time.Since(fetchStart)-st.spent)
	r.phase("stage", st.spent)
	det.Version, det.SHA256 = v.Version, hex.EncodeToString(h.Sum(nil))
	v.SHA256, v.Items = det.SHA256, st.n
	if !released.IsZero() {
		v.ReleasedAt = &released
	}
	if err := a.verify(r, det.SHA256); err != nil {
		_ = a.Store.ClearStaging(context.WithoutCancel(ctx), r.runID)
		return TaskOutput{}, err
	}
	if r.cur != nil && r.cur.ReleasedAt != nil && released.Before(*r.cur.ReleasedAt) ||
		cfg.Source == "attack" && r.cur != nil && feeds.CompareVersions(v.Version, r.cur.Version) < 0 {
		_ = a.Store.ClearStaging(context.WithoutCancel(ctx), r.runID)
		return TaskOutput{}, backwards(det, v.Version, r.cur)
	}
	return a.applyStaged(r, v, snapshot)
}

// applyStaged compares a run's staged items with the current version and, in apply mode,
// stores them as the new current version.
func (a *LiveUpdates) applyStaged(r *liveRun, v *store.ContentVersion, snapshot bool) (TaskOutput, error) {
	ctx := r.ctx
	start := time.Now()
	counts, err := a.Store.ItemsDiff(ctx, r.cfg.Source, r.runID, snapshot)
	if err != nil {
		return TaskOutput{}, err
	}
	r.phase("diff", time.Since(start))
	if r.cfg.Mode == "check" {
		if err := a.Store.ClearStaging(ctx, r.runID); err != nil {
			return TaskOutput{}, err
		}
		return r.finish(counts)
	}
	v.Counts, _ = json.Marshal(counts)
	v.AppliedAt = time.Now().UTC()
	if v.Items == 0 {
		v.Items = int(counts["added"] + counts["changed"] + counts["unchanged"])
	}
	start = time.Now()
	v, replayed, err := a.Store.ApplyItems(ctx, v, snapshot)
	if err != nil {
		return TaskOutput{}, err
	}
	r.phase("apply", time.Since(start))
	r.det.VersionID, r.det.Replayed = v.ID, replayed
	activity.GetLogger(ctx).Info("content updated", "task", r.task.Name, "source", v.Source, "version", v.Version, "counts", counts)
	return r.finish(counts)
}

// nvdWindow is one lastModStartDate/lastModEndDate range (both zero: everything).
type nvdWindow struct{ from, to time.Time }

// NVDMaxWindow is the longest range the NVD accepts for lastModStartDate/lastModEndDate.
const NVDMaxWindow = 120 * 24 * time.Hour

// nvdWindows splits the changes since the current version's watermark into ranges the NVD
// accepts; without a watermark, one full load.
func nvdWindows(cur *store.ContentVersion, until time.Time) []nvdWindow {
	if cur == nil || cur.Watermark == nil {
		return []nvdWindow{{}}
	}
	var out []nvdWindow
	for from := *cur.Watermark; from.Before(until); from = from.Add(NVDMaxWindow) {
		out = append(out, nvdWindow{from: from, to: minTime(from.Add(NVDMaxWindow), until)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// updateNVD pages through the NVD CVE API 2.0: a first load takes every CVE, later runs the
// CVEs modified since the current version's watermark, in windows of at most 120 days. Pages
// are staged as they arrive; a retried run resumes at the page its last heartbeat reported.
// Requests keep to the rate limit; a 403 (throttled) waits a window and asks again.
func (a *LiveUpdates) updateNVD(r *liveRun) (TaskOutput, error) {
	ctx, cfg, det := r.ctx, r.cfg, r.det
	var prog LiveUpdateProgress
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &prog) == nil && prog.Until != "" {
		det.Resumed = true
	} else {
		if err := a.Store.ClearStaging(ctx, r.runID); err != nil {
			return TaskOutput{}, err
		}
		prog = LiveUpdateProgress{Phase: "paging", Until: time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)}
	}
	until, err := time.Parse(time.RFC3339Nano, prog.Until)
	if err != nil {
		return TaskOutput{}, fmt.Errorf("heartbeat: %w", err)
	}
	windows := nvdWindows(r.cur, until)
	prog.Windows = len(windows)
	det.Until = prog.Until
	if w := windows[0]; !w.from.IsZero() {
		det.Since = w.from.Format(time.RFC3339Nano)
	}
	hb := newHeartbeater(ctx, 5*time.Second)
	defer hb.stop()
	hb.set(prog)
	n, window := cfg.RateLimit()
	limiter := rate.NewLimiter(rate.Every(window/time.Duration(n)), 1)
	st := newStager(ctx, a.Store, r.runID)
	defer st.close()
	fetchStart := time.Now()
	var released time.Time
	for ; prog.Window < len(windows); prog.Window, prog.StartIndex = prog.Window+1, 0 {
		for {
			page, err := a.nvdPage(ctx, r, limiter, window, windows[prog.Window], prog.StartIndex, st)
			if err != nil {
				return TaskOutput{}, err
			}
			if released.IsZero() {
				released = page.Timestamp
			}
			prog.StartIndex += page.Count
			prog.Total, prog.Staged = page.TotalResults, prog.Staged+page.Count
			// The heartbeat (where a retry resumes) moves on once the page is stored.
			done := prog
			if err := st.flush(func() { hb.set(done) }); err != nil {
				return TaskOutput{}, err
			}
			if prog.StartIndex >= page.TotalResults {
				break
			}
			if page.Count == 0 {
				return TaskOutput{}, badFeed(det, fmt.Errorf("%w: an empty page at startIndex %d of %d results", feeds.ErrNVD, prog.StartIndex, page.TotalResults))
			}
		}
	}
	if err := st.close(); err != nil {
		return TaskOutput{}, err
	}
	r.phase("fetch", time.Since(fetchStart)-st.spent)
	r.phase("stage", st.spent)
	staged, err := a.Store.StagedCount(ctx, r.runID)
	if err != nil {
		return TaskOutput{}, err
	}
	if staged == 0 { // no CVE changed since the watermark
		return r.notModified()
	}
	det.Version = prog.Until
	v := &store.ContentVersion{TaskID: &r.task.ID, Source: "nvd", Version: prog.Until, RunID: r.runID, Watermark: &until, Items: int(staged)}
	if !released.IsZero() {
		v.ReleasedAt = &released
	}
	v.SHA256 = fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprintf("nvd %s %s %d", det.Since, prog.Until, staged))))
	return a.applyStaged(r, v, false)
}

// nvdPage fetches, parses and stages one page, waiting out throttling and retrying server
// errors a few times before the activity's own retry takes over.
func (a *LiveUpdates) nvdPage(ctx context.Context, r *liveRun, limiter *rate.Limiter, window time.Duration, w nvdWindow, start int, st *stager) (feeds.NVDPage, error) {
	cfg, det := r.cfg, r.det
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return feeds.NVDPage{}, temporal.NewNonRetryableApplicationError("url: "+err.Error(), ErrTypeInvalidConfig, nil)
	}
	q := u.Query()
	q.Set("startIndex", strconv.Itoa(start))
	q.Set("resultsPerPage", strconv.Itoa(cfg.ResultsPerPage))
	if !w.from.IsZero() {
		const iso = "2006-01-02T15:04:05.000-07:00" // the NVD's extended ISO-8601, with an offset
		q.Set("lastModStartDate", w.from.UTC().Format(iso))
		q.Set("lastModEndDate", w.to.UTC().Format(iso))
	}
	u.RawQuery = q.Encode()
	det.URL = displayURL(cfg.URL)
	client := a.client("nvd")
	where := fmt.Sprintf("GET %s (startIndex %d)", det.URL, start)
	for attempt := 0; ; attempt++ {
		if err := limiter.Wait(ctx); err != nil {
			return feeds.NVDPage{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return feeds.NVDPage{}, temporal.NewNonRetryableApplicationError("url: "+err.Error(), ErrTypeInvalidConfig, nil)
		}
		req.Header.Set("Accept", "application/json")
		if cfg.APIKey != "" {
			req.Header.Set("apiKey", cfg.APIKey)
		}
		det.Requests++
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return feeds.NVDPage{}, ctx.Err()
			}
			return feeds.NVDPage{}, temporal.NewApplicationError(where+" cannot be reached", ErrTypeSource)
		}
		det.Status = resp.StatusCode
		switch {
		case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
			resp.Body.Close()
			if cfg.APIKey != "" && attempt == 0 && resp.StatusCode == http.StatusForbidden && resp.Header.Get("message") != "" {
				// the NVD names a rejected key in a "message" header
				return feeds.NVDPage{}, temporal.NewNonRetryableApplicationError(where+" refused the API key: "+resp.Header.Get("message"), ErrTypeSource, nil)
			}
			det.ThrottleWaits++
			if attempt >= 5 {
				return feeds.NVDPage{}, temporal.NewApplicationError(fmt.Sprintf("%s: throttled (%s) %d times in a row; the run resumes here on its next attempt", where, resp.Status, attempt+1), ErrTypeSource)
			}
			if err := a.Metrics.VendorSleep(scanner.Sleep, "nvd")(ctx, window); err != nil { // a rolling window clears after one window
				return feeds.NVDPage{}, err
			}
			continue
		case resp.StatusCode >= 500:
			resp.Body.Close()
			det.ServerRetries++
			if attempt >= 3 {
				return feeds.NVDPage{}, temporal.NewApplicationError(fmt.Sprintf("%s answered %s %d times in a row; the run resumes here on its next attempt", where, resp.Status, attempt+1), ErrTypeSource)
			}
			if err := a.Metrics.VendorSleep(scanner.Sleep, "nvd")(ctx, window/time.Duration(4-attempt)); err != nil {
				return feeds.NVDPage{}, err
			}
			continue
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			return feeds.NVDPage{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s answered %s", where, resp.Status), ErrTypeSource, nil)
		}
		p, err := feeds.ParseNVD(resp.Body, func(c feeds.NVDCVE) error { return st.add(nvdItem(c)) })
		resp.Body.Close()
		if err == nil {
			err = st.flush(nil)
		}
		switch {
		case errors.Is(err, feeds.ErrNVD):
			// A cut or garbled page: the rest of the run's staging stays, and the activity's
			// retry asks for this page again; a page that stays bad fails the run.
			return p, temporal.NewApplicationError(fmt.Sprintf("%s: %v; nothing was changed", where, err), ErrTypeFeed)
		case err != nil:
			return p, err
		case p.StartIndex != start:
			return p, badFeed(det, fmt.Errorf("%w: asked for startIndex %d, the answer is for %d", feeds.ErrNVD, start, p.StartIndex))
		case p.ResultsPerPage > 0 && p.Count > p.ResultsPerPage:
			return p, badFeed(det, fmt.Errorf("%w: %d CVEs on a page of resultsPerPage %d", feeds.ErrNVD, p.Count, p.ResultsPerPage))
		}
		return p, nil
	}
}

// badFeed is a feed that is not its format: final, nothing changed.
func badFeed(det *LiveUpdateDetails, err error) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v; nothing was changed", det.URL, err), ErrTypeFeed, nil)
}

// backwards refuses a version older than the current one.
func backwards(det *LiveUpdateDetails, version string, cur *store.ContentVersion) error {
	when := ""
	if cur.ReleasedAt != nil {
		when = " released " + cur.ReleasedAt.Format(time.RFC3339)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: version %s is older than the current version %s%s (a feed that goes backwards); "+
		"nothing was changed (roll the source back to return to an older version)", det.URL, version, cur.Version, when), ErrTypeFeed, nil)
}

var sha256Hex = regexp.MustCompile(`(?i)(?:^|[\s:])([0-9a-f]{64})(?:\s|$)`)

// verify compares a document's SHA-256 with the publisher's (checksum_url: a sha256sum line
// or an NVD .meta file's "sha256:" line).
func (a *LiveUpdates) verify(r *liveRun, sum string) error {
	if r.cfg.ChecksumURL == "" {
		return nil
	}
	det := &LiveUpdateDetails{}
	body, _, err := a.open(r.ctx, r.cfg, r.cfg.ChecksumURL, nil, det)
	if err != nil {
		return err
	}
	defer body.Close()
	sc := bufio.NewScanner(io.LimitReader(body, 64<<10))
	want := ""
	for sc.Scan() && want == "" {
		if m := sha256Hex.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			want = strings.ToLower(m[1])
		}
	}
	if want == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("checksum %s holds no SHA-256; nothing was changed", det.URL), ErrTypeFeed, nil)
	}
	if want != sum {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: SHA-256 %s does not match the publisher's %s (%s); nothing was changed",
			r.det.URL, sum, want, det.URL), ErrTypeFeed, nil)
	}
	r.det.ChecksumVerified = true
	return nil
}

func itemData(v any) json.RawMessage {
	b, _ := json.Marshal(v) // maps and slices of strings, numbers and times: they always marshal
	return b
}

func nvdItem(c feeds.NVDCVE) store.StagedItem {
	it := store.StagedItem{ItemID: c.ID, Kind: "cve", ExternalID: c.ID, Name: c.ID, Description: c.Description, State: "active", Modified: &c.LastModified}
	if c.VulnStatus == "Rejected" {
		it.State = "rejected"
	}
	if b := c.Best(); b != nil {
		s := b.Score
		it.Score, it.Severity = &s, b.Severity
	}
	it.Data = itemData(map[string]any{"published": c.Published, "last_modified": c.LastModified, "vuln_status": c.VulnStatus,
		"source_identifier": c.SourceIdentifier, "cvss": nonNilSlice(c.CVSS), "cwes": nonNilSlice(c.CWEs), "references": nonNilSlice(c.References)})
	return it
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func stixItem(o feeds.STIXObject) store.StagedItem {
	it := store.StagedItem{ItemID: o.ID, Kind: o.Type, ExternalID: o.ExternalID, Name: o.Name, Description: o.Description, State: "active", Modified: &o.Modified}
	switch {
	case o.Revoked:
		it.State = "revoked"
	case o.Deprecated:
		it.State = "deprecated"
	}
	d := map[string]any{"created": o.Created}
	for k, v := range map[string]string{"url": o.URL, "source_ref": o.SourceRef, "target_ref": o.TargetRef} {
		if v != "" {
			d[k] = v
		}
	}
	for k, v := range map[string][]string{"kill_chain_phases": o.KillChainPhases, "platforms": o.Platforms, "aliases": o.Aliases} {
		if len(v) > 0 {
			d[k] = v
		}
	}
	if o.IsSubtechnique {
		d["is_subtechnique"] = true
	}
	it.Data = itemData(d)
	return it
}

func oscalItem(x feeds.OSCALItem) store.StagedItem {
	it := store.StagedItem{ItemID: x.ID, Kind: x.Kind, ExternalID: x.Label, Name: x.Title, Description: x.Statement, State: "active"}
	if it.ExternalID == "" {
		it.ExternalID = strings.ToUpper(x.ID)
	}
	if x.Status == "withdrawn" {
		it.State = "withdrawn"
	}
	d := map[string]any{}
	for k, v := range map[string]string{"class": x.Class, "parent": x.Parent, "group": x.Group, "guidance": x.Guidance} {
		if v != "" {
			d[k] = v
		}
	}
	if len(x.Params) > 0 {
		d["params"] = x.Params
	}
	if len(x.Links) > 0 {
		d["links"] = x.Links
	}
	it.Data = itemData(d)
	return it
}
