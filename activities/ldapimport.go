package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/tributary-io/tributary/directory"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// Error types of directory imports.
const (
	// ErrTypeDirectory is a directory failure that a retry cannot fix: bad credentials, TLS,
	// a base DN that does not exist, a size limit, missing rights.
	ErrTypeDirectory = "DirectoryError"
	// ErrTypeRemovalGuard is a full import stopped before removing what looked like too much.
	ErrTypeRemovalGuard = "RemovalGuard"
)

// analyzeAfter is how many entries a run reads before it refreshes the planner's statistics.
const analyzeAfter = 5000

// maxSkipReasons bounds how many skipped entries a run lists in its details.
const maxSkipReasons = 20

// DirectoryImports executes Import Objects from Directory (LDAP) tasks.
type DirectoryImports struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the sealed bind password. Required.
	Keyring *secrets.Keyring
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 1s.
	HeartbeatEvery time.Duration
	// Metrics counts the entries and pages read. Optional.
	Metrics *metrics.Registry
}

// DirectoryImportDetails is what a run of an LDAP import records.
type DirectoryImportDetails struct {
	// Mode is "full" (deletions detected) or "incremental" (changes only).
	Mode string `json:"mode"`
	// ModeReason says why the run chose its mode.
	ModeReason string `json:"mode_reason"`
	// ChangedSince is where an incremental import started.
	ChangedSince *time.Time `json:"changed_since,omitempty"`
	Server       string     `json:"server"`
	Kinds        []KindRun  `json:"kinds"`
	// Skipped lists the first entries that could not be imported, with the reason.
	Skipped []string `json:"skipped,omitempty"`
	// FinishMS is how long the sweep, member resolution and counting took.
	FinishMS   int64 `json:"finish_ms"`
	Attempt    int32 `json:"attempt"`
	DurationMS int64 `json:"duration_ms"`
}

// KindRun describes the search of one kind in a run.
type KindRun struct {
	Kind    string `json:"kind"`
	BaseDN  string `json:"base_dn"`
	Filter  string `json:"filter"`
	Entries int    `json:"entries"`
	Pages   int    `json:"pages"`
	Skipped int    `json:"skipped"`
	// Referrals are continuation references the server returned; they are not followed.
	Referrals int `json:"referrals"`
	// SearchMS is how long the kind's search and storing took, StoreMS the part spent storing.
	SearchMS int64 `json:"search_ms"`
	StoreMS  int64 `json:"store_ms"`
}

// importTracker gathers the progress of kinds imported at the same time.
type importTracker struct {
	mu       sync.Mutex
	progress *heartbeater
	mode     string
	perKind  map[string]int
	total    int
	skipped  []string
}

func (t *importTracker) report(phase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.progress.set(DirectoryProgress{Mode: t.mode, Phase: phase, Entries: t.total, Kinds: maps.Clone(t.perKind)})
}

func (t *importTracker) stored(kind string, n int) {
	t.mu.Lock()
	t.perKind[kind] += n
	t.total += n
	t.mu.Unlock()
	t.report("importing")
}

func (t *importTracker) skip(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.skipped) < maxSkipReasons {
		t.skipped = append(t.skipped, reason)
	}
}

// importKind searches one kind page by page and stores each page, the storing of a page
// overlapping the reading of the next. At most two pages wait to be stored, so memory stays
// bounded whatever the directory's size.
func (a *DirectoryImports) importKind(ctx context.Context, conn *directory.Conn, k tasktype.LDAPKind, kr *KindRun, tr *importTracker, batch store.ImportBatch, pageSize int) error {
	started := time.Now()
	defer func() { kr.SearchMS = time.Since(started).Milliseconds() }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan []directory.Object, 2)
	stored := make(chan error, 1)
	go func() {
		var storeTime time.Duration
		defer func() { kr.StoreMS = storeTime.Milliseconds() }()
		n := 0
		for objs := range pages {
			n++
			t := time.Now()
			b := batch
			b.Objects = objs
			if err := a.Store.Directory.UpsertObjects(ctx, b); err != nil {
				cancel()
				for range pages {
				}
				stored <- fmt.Errorf("storing page %d: %w", n, err)
				return
			}
			storeTime += time.Since(t)
			tr.stored(k.Schema.Kind, len(objs))
		}
		stored <- nil
	}()
	st, err := conn.SearchPages(ctx, directory.SearchRequest{BaseDN: k.BaseDN, Scope: k.Search.Scope, Filter: kr.Filter,
		Attributes: k.Schema.Attributes(), PageSize: pageSize}, func(page []*ldap.Entry) error {
		objs := make([]directory.Object, 0, len(page))
		defer func() { a.Metrics.LDAPPage(k.Schema.Kind, len(objs), len(page)-len(objs)) }()
		for _, e := range page {
			var members []string
			if k.Schema.Kind == directory.KindGroup {
				vals, err := conn.Values(e, k.Schema.Mapping.Members)
				if err != nil {
					return err
				}
				members = vals
			}
			o, err := directory.MapEntry(e, k.Schema, members)
			var skip *directory.SkipError
			if errors.As(err, &skip) {
				kr.Skipped++
				tr.skip(k.Schema.Kind + " " + skip.Error())
				continue
			}
			if err != nil {
				return err
			}
			objs = append(objs, o)
		}
		select {
		case pages <- objs:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(pages)
	serr := <-stored
	kr.Entries, kr.Pages, kr.Referrals = st.Entries, st.Pages, st.Referrals
	if serr != nil {
		return serr
	}
	return err
}

// DirectoryProgress is the heartbeat detail of an LDAP import, shown in the Temporal UI.
type DirectoryProgress struct {
	Mode  string `json:"mode"`
	Phase string `json:"phase"`
	// Entries counts the entries stored so far, Kinds the same per kind.
	Entries int            `json:"entries"`
	Kinds   map[string]int `json:"kinds,omitempty"`
}

// ImportDirectory imports the task's users, computers and groups, page by page, then sweeps
// (full imports), resolves memberships and records the counts.
func (a *DirectoryImports) ImportDirectory(ctx context.Context, in TaskInput) (TaskOutput, error) {
	info := activity.GetInfo(ctx)
	started := time.Now()
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return TaskOutput{}, err
	}
	cfg, err := a.config(task)
	if err != nil {
		return TaskOutput{}, err
	}
	opts, err := cfg.DirectoryOptions()
	if err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	state, err := a.Store.Directory.SyncState(ctx, task.ID)
	if err != nil {
		return TaskOutput{}, fmt.Errorf("load sync state: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	det := DirectoryImportDetails{Attempt: info.Attempt}
	full, reason := chooseMode(cfg, state, now)
	det.Mode, det.ModeReason = "incremental", reason
	if full {
		det.Mode = "full"
	} else {
		det.ChangedSince = state.ChangedSince
	}

	progress := newHeartbeater(ctx, a.HeartbeatEvery)
	defer progress.stop()
	tracker := &importTracker{progress: progress, mode: det.Mode, perKind: map[string]int{}}
	tracker.report("connecting")
	// Check the connection once up front, so that a bad password or certificate fails the run
	// with one clear message before any search starts.
	conn, err := directory.Connect(ctx, opts)
	if err != nil {
		return TaskOutput{}, directoryFailure(err)
	}
	det.Server = conn.URL

	// Kinds are imported at the same time, each on its own connection; member DNs are resolved
	// after all of them, so their order does not matter.
	kinds := cfg.Kinds()
	det.Kinds = make([]KindRun, len(kinds))
	g, gctx := errgroup.WithContext(ctx)
	for i, k := range kinds {
		kr := &det.Kinds[i]
		*kr = KindRun{Kind: k.Schema.Kind, BaseDN: k.BaseDN, Filter: k.Search.Filter}
		if !full {
			kr.Filter = fmt.Sprintf("(&%s(%s>=%s))", k.Search.Filter, k.Schema.ChangedAttribute,
				ldap.EscapeFilter(directory.FormatGeneralizedTime(*state.ChangedSince)))
		}
		kconn := conn
		g.Go(func() error {
			if i > 0 {
				c, err := directory.Connect(gctx, opts)
				if err != nil {
					return err
				}
				kconn = c
			}
			defer kconn.Close()
			err := a.importKind(gctx, kconn, k, kr, tracker, store.ImportBatch{TaskID: task.ID, RunID: runID, Now: now}, cfg.PageSize)
			if err != nil {
				return fmt.Errorf("%ss: %w", k.Schema.Kind, err)
			}
			return nil
		})
	}
	err = g.Wait()
	det.Skipped = tracker.skipped
	if err != nil {
		a.saveDetails(ctx, runID, &det, started)
		return TaskOutput{}, directoryFailure(err)
	}
	total := tracker.total

	tracker.report("finishing")
	finishStarted := time.Now()
	kindNames := make([]string, len(kinds))
	for i, k := range kinds {
		kindNames[i] = k.Schema.Kind
	}
	counts, err := a.Store.Directory.Finish(ctx, store.FinishImport{
		TaskID: task.ID, RunID: runID, Now: now, Full: full, Kinds: kindNames, MaxRemovalPercent: cfg.MaxRemovalPercent,
		ChangedSince: now.Add(-time.Duration(cfg.ChangeOverlapSeconds) * time.Second),
		Analyze:      total >= analyzeAfter,
	})
	det.FinishMS = time.Since(finishStarted).Milliseconds()
	a.saveDetails(ctx, runID, &det, started)
	var guard *store.RemovalGuardError
	if errors.As(err, &guard) {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(guard.Error(), ErrTypeRemovalGuard, nil)
	}
	if err != nil {
		return TaskOutput{}, fmt.Errorf("finish the import: %w", err)
	}
	out := TaskOutput{Counts: map[string]int64{"entries": int64(total)}}
	for _, kr := range det.Kinds {
		out.Counts[kr.Kind+"s_skipped"] = int64(kr.Skipped)
		for _, c := range []string{"created", "updated", "disabled", "removed", "unchanged"} {
			out.Counts[kr.Kind+"s_"+c] = 0
		}
	}
	for _, c := range counts {
		p := c.Kind + "s_"
		out.Counts[p+"created"], out.Counts[p+"updated"], out.Counts[p+"disabled"] = c.Created, c.Updated, c.Disabled
		out.Counts[p+"removed"], out.Counts[p+"unchanged"] = c.Removed, c.Unchanged
	}
	return out, nil
}

func (a *DirectoryImports) config(task *store.Task) (*tasktype.LDAPImportConfig, error) {
	if task.Type != tasktype.LDAPImport {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("task %s is a %s task, not %s", task.ID, task.Type, tasktype.LDAPImport), ErrTypeInvalidConfig, nil)
	}
	cfg, err := tasktype.StoredLDAPImport(task.Config, a.Keyring.Open)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}
	return cfg, nil
}

func (a *DirectoryImports) saveDetails(ctx context.Context, runID uuid.UUID, det *DirectoryImportDetails, started time.Time) {
	det.DurationMS = time.Since(started).Milliseconds()
	// Details are informative: a failure to save them must not hide the run's own outcome.
	_ = a.Store.Runs.SetDetails(ctx, runID, det)
}

// chooseMode decides between a full and an incremental import.
func chooseMode(cfg *tasktype.LDAPImportConfig, st store.SyncState, now time.Time) (bool, string) {
	switch {
	case cfg.FullImportEveryHours == 0:
		return true, "full_import_every_hours is 0: every run is a full import"
	case st.LastFullAt == nil || st.ChangedSince == nil:
		return true, "no full import has succeeded yet"
	case now.Sub(*st.LastFullAt) >= time.Duration(cfg.FullImportEveryHours)*time.Hour:
		return true, fmt.Sprintf("the last full import is older than %d hours", cfg.FullImportEveryHours)
	}
	for _, k := range cfg.Kinds() {
		if k.Schema.ChangedAttribute == "" {
			return true, k.Schema.Kind + "s have no changed_attribute to filter on"
		}
	}
	return false, fmt.Sprintf("the last full import (%s) is recent; reading changes only", st.LastFullAt.Format(time.RFC3339))
}

// directoryFailure makes directory errors that a retry cannot fix non-retryable, keeping the
// message operators read in the run and the Temporal UI.
func directoryFailure(err error) error {
	var de *directory.Error
	if errors.As(err, &de) {
		switch de.Kind {
		case directory.KindUnreachable, directory.KindTimeout:
			return temporal.NewApplicationError(err.Error(), ErrTypeDirectory+"."+string(de.Kind))
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeDirectory+"."+string(de.Kind), nil)
	}
	return err
}
