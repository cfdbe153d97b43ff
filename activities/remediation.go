package activities

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// Remediation executes Synchronize Qualys Scanner Remediation: it reads the Qualys
// remediation tickets modified since the last complete read into staging and applies them to
// events in one transaction (store.Staging.ApplyRemediation).
type Remediation struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring opens the sealed Qualys password. Required.
	Keyring *secrets.Keyring
	// Transport makes the Qualys requests. Optional; defaults to http.DefaultTransport.
	Transport http.RoundTripper
	// Metrics counts the Qualys requests and waits. Optional.
	Metrics *metrics.Registry
	// Sleep replaces the client's waits (rate limits, backoff). Optional.
	Sleep func(ctx context.Context, d time.Duration) error
	// HeartbeatEvery is how often progress is reported. Optional; defaults to 5s.
	HeartbeatEvery time.Duration
}

// RemediationDetails is what a remediation sync records in its run.
type RemediationDetails struct {
	Server string `json:"server"`
	// CloseOn is the task's policy: closed, or resolved.
	CloseOn string `json:"close_on"`
	// ModifiedSince is the time the tickets were read from (the last watermark less the
	// overlap); absent for a first run that read every ticket.
	ModifiedSince *time.Time `json:"modified_since,omitempty"`
	// Watermark is where the next run starts (Qualys's time of this listing).
	Watermark time.Time `json:"watermark"`
	Pages     int       `json:"pages"`
	// Unmatched lists tickets without a matching occurrence (at most 20) and why.
	Unmatched      []string         `json:"unmatched,omitempty"`
	UnmatchedTotal int64            `json:"unmatched_total,omitempty"`
	PhaseMS        map[string]int64 `json:"phase_ms,omitempty"`
	Replayed       bool             `json:"replayed,omitempty"`
	Attempt        int32            `json:"attempt"`
	DurationMS     int64            `json:"duration_ms"`
}

// RemediationProgress is the heartbeat of a remediation sync.
type RemediationProgress struct {
	Phase   string
	Tickets int64
	Pages   int
}

// SyncQualysRemediation runs one Synchronize Qualys Scanner Remediation. A listing that fails
// or is cut short changes nothing (the staging dies with the attempt, and the watermark only
// moves with the apply); a retried attempt after the apply reports the applied counts.
func (a *Remediation) SyncQualysRemediation(ctx context.Context, in TaskInput) (TaskOutput, error) {
	started := time.Now()
	runID, task, err := loadTask(ctx, a.Store, in)
	if err != nil {
		return TaskOutput{}, err
	}
	cfg, err := tasktype.StoredRemediation(task.Config, a.Keyring.Open)
	if err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}
	sleep := a.Sleep
	if sleep == nil {
		sleep = scanner.Sleep
	}
	client, err := cfg.Client(a.Metrics.VendorTransport(a.Transport, "qualys"), a.Metrics.VendorSleep(sleep, "qualys"), 0)
	if err != nil {
		return TaskOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s: %v", task.Name, err), ErrTypeInvalidConfig, nil)
	}
	server := scanner.Server(cfg.BaseURL)
	det := RemediationDetails{Server: server, CloseOn: cfg.CloseOn, PhaseMS: map[string]int64{}, Attempt: activity.GetInfo(ctx).Attempt}
	prefix := scanner.AssetKeyPrefix("qualys", cfg.BaseURL)
	finish := func(counts map[string]int64, replayed bool) (TaskOutput, error) {
		det.Replayed = replayed
		var err error
		if det.Unmatched, det.UnmatchedTotal, err = a.Store.UnmatchedTickets(ctx, task.ID, runID, prefix, scanner.MaxNotes); err != nil {
			return TaskOutput{}, err
		}
		det.DurationMS = time.Since(started).Milliseconds()
		if err := a.Store.Runs.SetDetails(ctx, runID, &det); err != nil {
			return TaskOutput{}, fmt.Errorf("record run details: %w", err)
		}
		activity.GetLogger(ctx).Info("remediation sync applied", "task", task.Name, "counts", counts, "replayed", replayed)
		return TaskOutput{Counts: counts}, nil
	}
	if counts, done, err := a.Store.ScannerImportCounts(ctx, runID, task.ID); err != nil {
		return TaskOutput{}, err
	} else if done {
		return finish(counts, true)
	}
	watermark, ok, err := a.Store.RemediationWatermark(ctx, task.ID)
	if err != nil {
		return TaskOutput{}, err
	}
	var f qualys.TicketFilter
	switch {
	case ok:
		f.ModifiedSince = watermark.Add(-time.Duration(cfg.OverlapSeconds) * time.Second)
	case cfg.InitialDays > 0:
		f.ModifiedSince = started.Add(-time.Duration(cfg.InitialDays) * 24 * time.Hour)
	}
	if !f.ModifiedSince.IsZero() {
		since := f.ModifiedSince.UTC()
		det.ModifiedSince = &since
	}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	hb := newHeartbeater(ctx, every)
	defer hb.stop()
	var counts map[string]int64
	var again bool
	err = a.Store.WithStaging(ctx, func(st *store.Staging) error {
		mark := time.Now()
		prog := RemediationProgress{Phase: "tickets"}
		hb.set(prog)
		listing, err := client.Tickets(ctx, f, func(t qualys.Ticket) error {
			if err := st.AddTicket(ctx, t); err != nil {
				return err
			}
			if st.Tickets%1000 == 0 {
				prog.Tickets = st.Tickets
				hb.set(prog)
			}
			return nil
		})
		if err != nil {
			return vendorError(err)
		}
		det.Pages, det.Watermark = listing.Pages, listing.Server
		if det.Watermark.IsZero() {
			// No date in the answer: the run's start, by our clock (the overlap covers skew).
			det.Watermark = started.UTC().Truncate(time.Second)
		}
		det.PhaseMS["tickets"] = time.Since(mark).Milliseconds()
		mark = time.Now()
		prog.Phase, prog.Tickets, prog.Pages = "apply", st.Tickets, listing.Pages
		hb.set(prog)
		counts, again, err = st.ApplyRemediation(ctx, store.RemediationApplyInput{RunID: runID, TaskID: task.ID,
			Actor:       store.Actor{Name: task.Name, Kind: "task", RunID: &runID},
			AssetPrefix: prefix, CatalogScope: server, ResolvingStates: cfg.ResolvingStates(), Watermark: det.Watermark, Now: time.Now().UTC()})
		det.PhaseMS["apply"] = time.Since(mark).Milliseconds()
		return err
	})
	if err != nil {
		return TaskOutput{}, applyError(err)
	}
	return finish(counts, again)
}
