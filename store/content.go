package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// ContentVersion is one applied update of a Live Update source.
type ContentVersion struct {
	bun.BaseModel `bun:"table:content_versions,alias:cv"`

	ID           int64           `bun:"id,pk,autoincrement"`
	TaskID       *uuid.UUID      `bun:"task_id,type:uuid"`
	Source       string          `bun:"source,notnull"`
	Version      string          `bun:"version,notnull"`
	ReleasedAt   *time.Time      `bun:"released_at"`
	ETag         string          `bun:"etag,notnull"`
	LastModified string          `bun:"last_modified,notnull"`
	SHA256       string          `bun:"sha256,notnull"`
	Items        int             `bun:"items,notnull"`
	Counts       json.RawMessage `bun:"counts,type:jsonb,notnull"`
	RunID        uuid.UUID       `bun:"run_id,type:uuid,notnull"`
	Current      bool            `bun:"current,notnull"`
	AppliedAt    time.Time       `bun:"applied_at,notnull"`
	RolledBackAt *time.Time      `bun:"rolled_back_at"`
	// Watermark is the NVD lastModEndDate up to which the version holds every change.
	Watermark *time.Time `bun:"watermark"`
}

// KEVRow is one entry of the Known Exploited Vulnerabilities catalogue as stored.
type KEVRow struct {
	bun.BaseModel `bun:"table:known_exploited,alias:k"`

	VersionID        int64    `bun:"version_id,pk"`
	CVEID            string   `bun:"cve_id,pk"`
	VendorProject    string   `bun:"vendor_project,notnull"`
	Product          string   `bun:"product,notnull"`
	Name             string   `bun:"name,notnull"`
	DateAdded        string   `bun:"date_added,notnull"`
	ShortDescription string   `bun:"short_description,notnull"`
	RequiredAction   string   `bun:"required_action,notnull"`
	DueDate          *string  `bun:"due_date"`
	RansomwareUse    string   `bun:"ransomware_use,notnull"`
	Notes            string   `bun:"notes,notnull"`
	CWEs             []string `bun:"cwes,array,notnull"`
}

func (r *KEVRow) content() string {
	due := ""
	if r.DueDate != nil {
		due = day(*r.DueDate)
	}
	return contentHash(r.VendorProject, r.Product, r.Name, day(r.DateAdded), r.ShortDescription, r.RequiredAction, due, r.RansomwareUse, r.Notes,
		strings.Join(r.CWEs, ","))
}

// day is a date's YYYY-MM-DD, as the feed gives it or as the database reads it back.
func day(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// CurrentContent returns the current version of source, or ErrNotFound.
func (s *Store) CurrentContent(ctx context.Context, source string) (*ContentVersion, error) {
	v := new(ContentVersion)
	return v, mapError(s.DB.NewSelect().Model(v).Where("source = ? AND current", source).Scan(ctx))
}

// ContentByRun returns the version a run applied, or ErrNotFound.
func (s *Store) ContentByRun(ctx context.Context, runID uuid.UUID) (*ContentVersion, error) {
	v := new(ContentVersion)
	return v, mapError(s.DB.NewSelect().Model(v).Where("run_id = ?", runID).Scan(ctx))
}

// ContentVersions lists a source's versions, newest first.
func (s *Store) ContentVersions(ctx context.Context, source string, limit int) ([]ContentVersion, error) {
	out := []ContentVersion{}
	q := s.DB.NewSelect().Model(&out).OrderExpr("id DESC").Limit(int64(max(limit, 1)))
	if source != "" {
		q = q.Where("source = ?", source)
	}
	return out, mapError(q.Scan(ctx))
}

// KEVDiff compares entries with the current KEV version: added, changed, revoked (in the
// current version, not in entries) and unchanged.
func (s *Store) KEVDiff(ctx context.Context, entries []KEVRow) (map[string]int64, error) {
	var cur []KEVRow
	if err := s.DB.NewSelect().Model(&cur).Where("version_id = (SELECT id FROM content_versions WHERE source = 'kev' AND current)").Scan(ctx); err != nil {
		return nil, mapError(err)
	}
	old := make(map[string]string, len(cur))
	for i := range cur {
		old[cur[i].CVEID] = cur[i].content()
	}
	counts := map[string]int64{"added": 0, "changed": 0, "revoked": 0, "unchanged": 0}
	for i := range entries {
		h, ok := old[entries[i].CVEID]
		switch {
		case !ok:
			counts["added"]++
		case h != entries[i].content():
			counts["changed"]++
		default:
			counts["unchanged"]++
		}
		delete(old, entries[i].CVEID)
	}
	counts["revoked"] = int64(len(old))
	return counts, nil
}

// startVersion begins the apply of a version (serialised per source): it inserts v, not yet
// current, or, when v's run applied a version already, loads that one into v and says so.
func startVersion(ctx context.Context, tx bun.Tx, v *ContentVersion) (replayed bool, err error) {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('content:' || ?))", v.Source); err != nil {
		return false, err
	}
	prev := new(ContentVersion)
	if err := tx.NewSelect().Model(prev).Where("run_id = ?", v.RunID).Scan(ctx); err == nil {
		*v = *prev
		return true, nil
	}
	v.Current = false
	_, err = tx.NewInsert().Model(v).Returning("id").Exec(ctx)
	return false, err
}

// ApplyKEV stores a new KEV version with its entries and makes it current, in one
// transaction (serialised per source). A run that already applied one returns it.
func (s *Store) ApplyKEV(ctx context.Context, v *ContentVersion, entries []KEVRow) (*ContentVersion, bool, error) {
	replayed := false
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if replayed, err = startVersion(ctx, tx, v); err != nil || replayed {
			return err
		}
		for start := 0; start < len(entries); start += 1000 {
			batch := entries[start:min(start+1000, len(entries))]
			for i := range batch {
				batch[i].VersionID = v.ID
				if batch[i].CWEs == nil {
					batch[i].CWEs = []string{}
				}
			}
			if _, err := tx.NewInsert().Model(&batch).Exec(ctx); err != nil {
				return fmt.Errorf("store the entries: %w", err)
			}
		}
		if _, err := tx.NewUpdate().Table("content_versions").Set("current = false").Where("source = ? AND current", v.Source).Exec(ctx); err != nil {
			return err
		}
		v.Current = true
		_, err = tx.NewUpdate().Table("content_versions").Set("current = true").Where("id = ?", v.ID).Exec(ctx)
		return err
	})
	return v, replayed, mapError(err)
}

// RollbackContent makes the version before source's current one current again, marking the
// current one rolled back. It returns the version now current; ErrConflict when there is no
// earlier version to go back to.
func (s *Store) RollbackContent(ctx context.Context, source string) (*ContentVersion, error) {
	out := new(ContentVersion)
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('content:' || ?))", source); err != nil {
			return err
		}
		cur := new(ContentVersion)
		if err := tx.NewSelect().Model(cur).Where("source = ? AND current", source).Scan(ctx); err != nil {
			return fmt.Errorf("%w: %s has no current version", ErrConflict, source)
		}
		if err := tx.NewSelect().Model(out).Where("source = ? AND id < ? AND rolled_back_at IS NULL", source, cur.ID).OrderExpr("id DESC").Limit(1).Scan(ctx); err != nil {
			return fmt.Errorf("%w: %s has no earlier version to roll back to", ErrConflict, source)
		}
		if _, err := tx.NewUpdate().Table("content_versions").Set("current = false, rolled_back_at = now()").Where("id = ?", cur.ID).Exec(ctx); err != nil {
			return err
		}
		if source != "kev" { // the KEV catalogue is copied whole per version; the others per item
			if err := undoItems(ctx, tx, cur.ID); err != nil {
				return err
			}
		}
		out.Current = true
		_, err := tx.NewUpdate().Table("content_versions").Set("current = true").Where("id = ?", out.ID).Exec(ctx)
		return err
	})
	return out, mapError(err)
}
