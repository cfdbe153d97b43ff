package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/directory"
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
	Skipped    []string `json:"skipped,omitempty"`
	Attempt    int32    `json:"attempt"`
	DurationMS int64    `json:"duration_ms"`
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
}

// DirectoryProgress is the heartbeat detail of an LDAP import, shown in the Temporal UI.
type DirectoryProgress struct {
	Mode    string `json:"mode"`
	Phase   string `json:"phase"`
	Kind    string `json:"kind,omitempty"`
	Page    int    `json:"page,omitempty"`
	Entries int    `json:"entries"`
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
	if err := a.Store.Runs.SetAttempt(ctx, runID, int(info.Attempt)); err != nil {
		return TaskOutput{}, fmt.Errorf("record attempt: %w", err)
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
	progress.set(DirectoryProgress{Mode: det.Mode, Phase: "connecting"})
	conn, err := directory.Connect(ctx, opts)
	if err != nil {
		return TaskOutput{}, directoryFailure(err)
	}
	defer conn.Close()
	det.Server = conn.URL

	total := 0
	var kinds []string
	for _, k := range cfg.Kinds() {
		kinds = append(kinds, k.Schema.Kind)
		kr := KindRun{Kind: k.Schema.Kind, BaseDN: k.BaseDN, Filter: k.Search.Filter}
		if !full {
			kr.Filter = fmt.Sprintf("(&%s(%s>=%s))", k.Search.Filter, k.Schema.ChangedAttribute,
				ldap.EscapeFilter(directory.FormatGeneralizedTime(*state.ChangedSince)))
		}
		req := directory.SearchRequest{BaseDN: k.BaseDN, Scope: k.Search.Scope, Filter: kr.Filter,
			Attributes: k.Schema.Attributes(), PageSize: cfg.PageSize}
		pages := 0
		st, err := conn.SearchPages(ctx, req, func(page []*ldap.Entry) error {
			pages++
			objs := make([]directory.Object, 0, len(page))
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
					if len(det.Skipped) < maxSkipReasons {
						det.Skipped = append(det.Skipped, k.Schema.Kind+" "+skip.Error())
					}
					continue
				}
				if err != nil {
					return err
				}
				objs = append(objs, o)
			}
			if err := a.Store.Directory.UpsertObjects(ctx, store.ImportBatch{TaskID: task.ID, RunID: runID, Now: now, Objects: objs}); err != nil {
				return fmt.Errorf("page %d of %ss: %w", pages, k.Schema.Kind, err)
			}
			total += len(page)
			progress.set(DirectoryProgress{Mode: det.Mode, Phase: "importing", Kind: k.Schema.Kind, Page: pages, Entries: total})
			return nil
		})
		kr.Entries, kr.Pages, kr.Referrals = st.Entries, st.Pages, st.Referrals
		det.Kinds = append(det.Kinds, kr)
		if err != nil {
			a.saveDetails(ctx, runID, &det, started)
			return TaskOutput{}, directoryFailure(fmt.Errorf("%ss: %w", k.Schema.Kind, err))
		}
	}

	progress.set(DirectoryProgress{Mode: det.Mode, Phase: "finishing", Entries: total})
	counts, err := a.Store.Directory.Finish(ctx, store.FinishImport{
		TaskID: task.ID, RunID: runID, Now: now, Full: full, Kinds: kinds, MaxRemovalPercent: cfg.MaxRemovalPercent,
		ChangedSince: now.Add(-time.Duration(cfg.ChangeOverlapSeconds) * time.Second),
	})
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
	raw, err := tasktype.DecodeStored(task.Type, task.Config)
	cfg, ok := raw.(*tasktype.LDAPImportConfig)
	if err != nil || !ok {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("task %s has a stored configuration that is not a valid ldap_import config: %v", task.ID, err), ErrTypeInvalidConfig, nil)
	}
	if err := tasktype.OpenSecrets(cfg, a.Keyring.Open); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("task %s: the bind password cannot be opened: %v", task.ID, err), ErrTypeInvalidConfig, nil)
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
