package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// ScannerImports executes the Import Assets and Import Vulnerabilities tasks of Qualys and
// NeXpose. They use the connectors' scanner clients and land through the staged reimport
// engine.
type ScannerImports struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the sealed scanner password. Required.
	Keyring *secrets.Keyring
	// Transport makes vendor HTTP requests. Optional; defaults to http.DefaultTransport.
	Transport http.RoundTripper
	// Metrics counts the vendor requests and waits. Optional.
	Metrics *metrics.Registry
	// Sleep replaces the clients' waits (rate limits, backoff). Optional.
	Sleep func(ctx context.Context, d time.Duration) error
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 5s.
	HeartbeatEvery time.Duration
}

// ScannerImportDetails is what a scanner import run records.
type ScannerImportDetails struct {
	Vendor string `json:"vendor"`
	Server string `json:"server"`
	// Filter is what the run imported: IP ranges and groups, none for the whole inventory.
	IPRanges []string `json:"ip_ranges,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	// Notes are what the client skipped or stored incompletely (at most scanner.MaxNotes).
	Notes      []string         `json:"notes,omitempty"`
	NotesTotal int              `json:"notes_total,omitempty"`
	PhaseMS    map[string]int64 `json:"phase_ms,omitempty"`
	// Replayed is true when an earlier attempt of the run had already applied the import.
	Replayed   bool  `json:"replayed,omitempty"`
	Attempt    int32 `json:"attempt"`
	DurationMS int64 `json:"duration_ms"`
}

// ScannerProgress is the heartbeat of a scanner import.
type ScannerProgress struct {
	Phase       string
	Hosts       int64
	Detections  int64
	Definitions int64
}

// scannerRun is one run's task, configuration, client and bookkeeping.
type scannerRun struct {
	runID   uuid.UUID
	task    *store.Task
	cfg     *tasktype.ScannerImportConfig
	sc      connectortype.Scanner
	scope   store.AssetScope
	det     ScannerImportDetails
	started time.Time
	notes   scanner.Notes
	mark    time.Time
}

func (r *scannerRun) lap(name string) {
	now := time.Now()
	r.det.PhaseMS[name] = now.Sub(r.mark).Milliseconds()
	r.mark = now
}

func (a *ScannerImports) open(ctx context.Context, in TaskInput, kind string) (*scannerRun, error) {
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return nil, err
	}
	cfg, err := tasktype.StoredScannerImport(task.Type, task.Config, a.Keyring.Open)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}
	if cfg.Kind() != kind {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is a %s task, not an import of %s", task.ID, task.Type, kind), ErrTypeInvalidConfig, nil)
	}
	sc, err := connectortype.Open(cfg.Tool(), cfg.BaseURL, cfg.ClientConfig(), connectortype.ClientOptions{Transport: a.Transport, Sleep: a.Sleep, Metrics: a.Metrics})
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: %v", task.Name, err), ErrTypeInvalidConfig, nil)
	}
	if counts, done, err := a.Store.ScannerImportCounts(ctx, runID, task.ID); err != nil {
		return nil, err
	} else if done {
		return nil, errReplayed{counts}
	}
	now := time.Now()
	return &scannerRun{runID: runID, task: task, cfg: cfg, sc: sc, started: now, mark: now,
		scope: store.AssetScope{Prefix: scanner.AssetKeyPrefix(cfg.Tool(), cfg.BaseURL), Source: cfg.Tool(), SourceType: cfg.Tool(), SourceID: task.ID},
		det: ScannerImportDetails{Vendor: sc.Vendor(), Server: scanner.Server(cfg.BaseURL), IPRanges: cfg.IPRanges, Groups: cfg.Groups,
			PhaseMS: map[string]int64{}, Attempt: activity.GetInfo(ctx).Attempt}}, nil
}

// errReplayed stops a retried attempt whose predecessor already applied the run's import.
type errReplayed struct{ counts map[string]int64 }

func (errReplayed) Error() string { return "the import of this run was applied by an earlier attempt" }

// replayed returns the counts of an import an earlier attempt applied, if err says so.
func replayed(err error) (TaskOutput, bool) {
	var r errReplayed
	if errors.As(err, &r) {
		return TaskOutput{Counts: r.counts}, true
	}
	return TaskOutput{}, false
}

func (a *ScannerImports) finish(ctx context.Context, r *scannerRun, counts map[string]int64, replayed bool) (TaskOutput, error) {
	r.det.Notes, r.det.NotesTotal, r.det.Replayed = r.notes.Items, r.notes.Total, replayed
	r.det.DurationMS = time.Since(r.started).Milliseconds()
	if err := a.Store.Runs.SetDetails(ctx, r.runID, &r.det); err != nil {
		return TaskOutput{}, fmt.Errorf("record run details: %w", err)
	}
	activity.GetLogger(ctx).Info("scanner import applied", "task", r.task.Name, "type", r.task.Type, "counts", counts)
	return TaskOutput{Counts: counts}, nil
}

func (a *ScannerImports) heartbeat(ctx context.Context) *heartbeater {
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	return newHeartbeater(ctx, every)
}

// applyError makes an apply failure an activity error: guards are final, the rest retried.
func applyError(err error) error {
	switch {
	case errors.Is(err, store.ErrRemovalGuard):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeRemovalGuard, nil)
	case errors.Is(err, store.ErrMissingDefinition):
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the vendor returned no definition for vulnerabilities it reported (%v)", err), ErrTypeVendor+"."+string(scanner.KindBadResponse), nil)
	}
	return vendorError(err)
}

// importRun is the shape of both scanner imports: open the task (or report the import an
// earlier attempt applied), heartbeat, stage and apply inside one staging area, record the
// run's details. body stages and applies, returning the counts and whether it was replayed.
func (a *ScannerImports) importRun(ctx context.Context, in TaskInput, kind string,
	body func(r *scannerRun, st *store.Staging, hb *heartbeater) (map[string]int64, bool, error)) (TaskOutput, error) {
	r, err := a.open(ctx, in, kind)
	if out, ok := replayed(err); ok {
		return out, nil
	}
	if err != nil {
		return TaskOutput{}, err
	}
	hb := a.heartbeat(ctx)
	defer hb.stop()
	var counts map[string]int64
	var again bool
	err = a.Store.WithStaging(ctx, func(st *store.Staging) error {
		st.Relevance = r.cfg.Relevance
		var err error
		counts, again, err = body(r, st, hb)
		return err
	})
	if err != nil {
		return TaskOutput{}, applyError(err)
	}
	return a.finish(ctx, r, counts, again)
}

// defaults are the properties of the assets a run creates.
func (r *scannerRun) defaults() store.AssetDefaults {
	return store.AssetDefaults{Type: r.cfg.DefaultAssetType, Responsible: r.cfg.DefaultResponsible, Criticality: r.cfg.DefaultCriticality}
}

// ImportScannerAssets lists the scanner's hosts (narrowed by the task's filter) into staging
// and merges them into the shared assets in one transaction (store.Staging.ApplyAssets).
func (a *ScannerImports) ImportScannerAssets(ctx context.Context, in TaskInput) (TaskOutput, error) {
	return a.importRun(ctx, in, "assets", func(r *scannerRun, st *store.Staging, hb *heartbeater) (map[string]int64, bool, error) {
		prog := ScannerProgress{Phase: "hosts"}
		err := r.sc.Hosts(ctx, r.cfg.Filter(), func(h scanner.Host) error {
			if err := st.AddHost(ctx, h); err != nil {
				return err
			}
			if st.Hosts%500 == 0 {
				prog.Hosts = st.Hosts
				hb.set(prog)
			}
			return nil
		})
		if err != nil {
			return nil, false, vendorError(err)
		}
		r.lap("hosts")
		prog.Phase, prog.Hosts = "apply", st.Hosts
		hb.set(prog)
		defer r.lap("apply")
		return st.ApplyAssets(ctx, store.AssetApplyInput{RunID: r.runID, TaskID: r.task.ID, Scope: r.scope, Defaults: r.defaults(),
			Overwrite: r.cfg.OverwriteLocalEdits, MaxRemovalPercent: r.cfg.MaxRemovalPercent, Skipped: int64(r.notes.Total), Now: time.Now().UTC()})
	})
}

// ImportScannerVulnerabilities streams the scanner's detections of the filtered hosts into
// staging, fetches the definitions they refer to, and merges both into the vulnerability
// catalogue and the task's occurrences in one transaction (store.Staging.ApplyOccurrences).
func (a *ScannerImports) ImportScannerVulnerabilities(ctx context.Context, in TaskInput) (TaskOutput, error) {
	return a.importRun(ctx, in, "vulnerabilities", func(r *scannerRun, st *store.Staging, hb *heartbeater) (map[string]int64, bool, error) {
		prog := ScannerProgress{Phase: "detections"}
		err := r.sc.FilteredDetections(ctx, r.cfg.Filter(), func(d scanner.Detection) error {
			if err := st.AddDetection(ctx, d); err != nil {
				return err
			}
			if st.Detections%1000 == 0 {
				prog.Detections, prog.Hosts = st.Detections, st.Hosts
				hb.set(prog)
			}
			return nil
		}, &r.notes)
		if err != nil {
			return nil, false, vendorError(err)
		}
		prog.Phase, prog.Detections, prog.Hosts = "definitions", st.Detections, st.Hosts
		hb.set(prog)
		if st.Detections == 0 && !r.cfg.AllowEmptyResults {
			open, err := a.Store.ActiveOccurrences(ctx, r.task.ID)
			if err != nil {
				return nil, false, err
			}
			if open > 0 {
				return nil, false, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"%s returned no detections while %d occurrences of this task are open; nothing was changed "+
						"(set config.allow_empty_results to let an empty scan close them)", r.sc.Vendor(), open), ErrTypeRemovalGuard, nil)
			}
		}
		ids, err := st.MissingDefinitions(ctx)
		r.lap("detections")
		if err != nil {
			return nil, false, err
		}
		sort.Strings(ids)
		got := map[string]bool{}
		err = r.sc.Definitions(ctx, ids, func(d scanner.Definition) error {
			if got[d.VendorID] {
				return nil
			}
			got[d.VendorID] = true
			prog.Definitions++
			return st.AddDefinition(ctx, d)
		}, &r.notes)
		if err != nil {
			return nil, false, vendorError(err)
		}
		r.lap("definitions")
		prog.Phase = "apply"
		hb.set(prog)
		defer r.lap("apply")
		return st.ApplyOccurrences(ctx, store.OccurrenceApplyInput{RunID: r.runID, TaskID: r.task.ID, Scope: r.scope, Defaults: r.defaults(),
			CatalogScope: r.det.Server, ExpireAfterDays: r.cfg.ExpireAfterDays, DeleteAfterDays: r.cfg.DeleteAfterDays,
			Skipped: int64(r.notes.Total), StartedAt: r.started.UTC(), Now: time.Now().UTC()})
	})
}
