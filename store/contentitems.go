package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// OriginCustomer is the origin of content a customer created or copied: no feed writes it.
const OriginCustomer = "customer"

// ContentItem is one item of the NVD, ATT&CK or OSCAL content: a CVE, a technique, group,
// mitigation or relationship, a control or control family. A feed's items carry the feed's
// source as origin and the version range they are valid in.
type ContentItem struct {
	bun.BaseModel `bun:"table:content_items,alias:ci"`

	ID          int64           `bun:"id,pk,autoincrement"`
	Source      string          `bun:"source,notnull"`
	Origin      string          `bun:"origin,notnull"`
	ItemID      string          `bun:"item_id,notnull"`
	Kind        string          `bun:"kind,notnull"`
	ExternalID  string          `bun:"external_id,notnull"`
	Name        string          `bun:"name,notnull"`
	Description string          `bun:"description,notnull"`
	Score       *float64        `bun:"score"`
	Severity    string          `bun:"severity,notnull"`
	State       string          `bun:"state,notnull"`
	Modified    *time.Time      `bun:"modified"`
	Hash        string          `bun:"hash,notnull"`
	Data        json.RawMessage `bun:"data,type:jsonb,notnull"`
	FromVersion *int64          `bun:"from_version"`
	ToVersion   *int64          `bun:"to_version"`
	CopiedFrom  *int64          `bun:"copied_from"`
	CreatedAt   time.Time       `bun:"created_at,nullzero,notnull,default:current_timestamp"`
}

// StagedItem is an item as a feed delivered it, before the apply.
type StagedItem struct {
	bun.BaseModel `bun:"table:content_staging,alias:cs"`

	RunID       uuid.UUID       `bun:"run_id,type:uuid"`
	ItemID      string          `bun:"item_id"`
	Kind        string          `bun:"kind,notnull"`
	ExternalID  string          `bun:"external_id,notnull"`
	Name        string          `bun:"name,notnull"`
	Description string          `bun:"description,notnull"`
	Score       *float64        `bun:"score"`
	Severity    string          `bun:"severity,notnull"`
	State       string          `bun:"state,notnull"`
	Modified    *time.Time      `bun:"modified"`
	Hash        string          `bun:"hash,notnull"`
	Data        json.RawMessage `bun:"data,type:jsonb,notnull"`
}

var stagedCols = []string{"run_id", "item_id", "kind", "external_id", "name", "description", "score", "severity", "state", "modified", "hash", "data"}

// StageItems adds a batch of a run's items to its staging with COPY. An item may be staged
// more than once; the diff keeps its latest modification.
func (s *Store) StageItems(ctx context.Context, runID uuid.UUID, items []StagedItem) error {
	if len(items) == 0 {
		return nil
	}
	rows := make([][]any, len(items))
	run := runID.String()
	for i := range items {
		it := &items[i]
		it.RunID = runID
		it.Hash = contentHash(it.Kind, it.ExternalID, it.Name, it.Description, fmt.Sprint(deref(it.Score)), it.Severity, it.State, string(it.Data))
		var score any
		if it.Score != nil {
			score = strconv.FormatFloat(*it.Score, 'f', 1, 64)
		}
		var modified any
		if it.Modified != nil {
			modified = *it.Modified
		}
		rows[i] = []any{run, it.ItemID, it.Kind, it.ExternalID, it.Name, it.Description, score, it.Severity, it.State, modified, it.Hash, string(it.Data)}
	}
	return withPgx(ctx, s.DB, "content staging", func(c *pgx.Conn) error {
		_, err := c.CopyFrom(ctx, pgx.Identifier{"content_staging"}, stagedCols, pgx.CopyFromRows(rows))
		return err
	})
}

func deref(f *float64) float64 {
	if f == nil {
		return -1
	}
	return *f
}

// ClearStaging drops a run's staged items (a run that starts over, or one that is done),
// and what runs that ended without applying left behind.
func (s *Store) ClearStaging(ctx context.Context, runID uuid.UUID) error {
	_, err := s.DB.NewDelete().Model((*StagedItem)(nil)).
		Where("run_id = ? OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = cs.run_id AND r.status = 'running')", runID).Exec(ctx)
	return mapError(err)
}

// StagedCount is how many items a run has staged: distinct items, an item staged twice (a
// page asked again by a retry, a CVE modified while the NVD was paged) counted once.
func (s *Store) StagedCount(ctx context.Context, runID uuid.UUID) (int64, error) {
	var n int64
	err := s.DB.NewSelect().Model((*StagedItem)(nil)).ColumnExpr("count(DISTINCT item_id)").Where("run_id = ?", runID).Scan(ctx, &n)
	return n, mapError(err)
}

// ItemsDiff compares a run's staged items with source's current items: added, changed,
// unchanged, and revoked (items that stop being active: revoked, deprecated or rejected by
// the feed, or, for a snapshot, withdrawn because the new version no longer lists them).
func (s *Store) ItemsDiff(ctx context.Context, source string, runID uuid.UUID, snapshot bool) (map[string]int64, error) {
	var r struct {
		Added, Changed, Unchanged, Revoked int64
	}
	// The staging has no statistics until analysed: without them the planner joins a delta of
	// 2,000 staged items to 300,000 current ones by scanning the lot for each.
	if _, err := s.DB.ExecContext(ctx, "ANALYZE content_staging"); err != nil {
		return nil, mapError(err)
	}
	// An item staged twice keeps its latest modification (and of those, its last staging).
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM content_staging a USING content_staging b
		WHERE a.run_id = ? AND b.run_id = a.run_id AND b.item_id = a.item_id
			AND (coalesce(b.modified, '-infinity'), b.seq) > (coalesce(a.modified, '-infinity'), a.seq)`, runID); err != nil {
		return nil, mapError(err)
	}
	err := s.DB.NewRaw(`SELECT
		count(*) FILTER (WHERE c.id IS NULL) AS added,
		count(*) FILTER (WHERE c.id IS NOT NULL AND c.hash <> s.hash) AS changed,
		count(*) FILTER (WHERE c.id IS NOT NULL AND c.hash = s.hash) AS unchanged,
		count(*) FILTER (WHERE c.id IS NOT NULL AND c.state = 'active' AND s.state <> 'active') AS revoked
		FROM content_staging s LEFT JOIN content_items c ON c.source = ? AND c.origin = ? AND c.item_id = s.item_id AND c.to_version IS NULL
		WHERE s.run_id = ?`, source, source, runID).Scan(ctx, &r)
	if err != nil {
		return nil, mapError(err)
	}
	counts := map[string]int64{"added": r.Added, "changed": r.Changed, "unchanged": r.Unchanged, "revoked": r.Revoked, "withdrawn": 0}
	if snapshot {
		n, err := s.DB.NewSelect().Model((*ContentItem)(nil)).Where(currentOf+" AND ci.state <> 'withdrawn'", source, source).
			Where("NOT EXISTS (SELECT 1 FROM content_staging s WHERE s.run_id = ? AND s.item_id = ci.item_id)", runID).Count(ctx)
		if err != nil {
			return nil, mapError(err)
		}
		counts["withdrawn"] = int64(n)
		counts["revoked"] += int64(n)
	}
	return counts, nil
}

const currentOf = "ci.source = ? AND ci.origin = ? AND ci.to_version IS NULL"

// ApplyItems stores a new version of source from a run's staged items and makes it current,
// in one transaction (serialised per source): changed items are closed and written anew,
// new ones added, and for a snapshot the items it no longer lists are kept as withdrawn. The
// staging is cleared. A run that already applied a version returns it.
func (s *Store) ApplyItems(ctx context.Context, v *ContentVersion, snapshot bool) (*ContentVersion, bool, error) {
	replayed := false
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if replayed, err = startVersion(ctx, tx, v); err != nil || replayed {
			return err
		}
		src, run, ver := v.Source, v.RunID, v.ID
		if _, err := tx.ExecContext(ctx, `UPDATE content_items c SET to_version = ? FROM content_staging s
			WHERE s.run_id = ? AND c.source = ? AND c.origin = ? AND c.to_version IS NULL AND c.item_id = s.item_id AND c.hash <> s.hash`,
			ver, run, src, src); err != nil {
			return fmt.Errorf("close the changed items: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO content_items
			(source, origin, item_id, kind, external_id, name, description, score, severity, state, modified, hash, data, from_version)
			SELECT ?, ?, s.item_id, s.kind, s.external_id, s.name, s.description, s.score, s.severity, s.state, s.modified, s.hash, s.data, ?
			FROM content_staging s WHERE s.run_id = ? AND NOT EXISTS (SELECT 1 FROM content_items c
				WHERE c.source = ? AND c.origin = ? AND c.item_id = s.item_id AND c.to_version IS NULL)`,
			src, src, ver, run, src, src)
		if err != nil {
			return fmt.Errorf("store the new items: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 10_000 {
			// A first load: the planner must learn the table's new size before the next
			// delta joins against it (autovacuum's analyse may come much later).
			if _, err := tx.ExecContext(ctx, "ANALYZE content_items"); err != nil {
				return err
			}
		}
		if snapshot {
			if _, err := tx.ExecContext(ctx, `WITH gone AS (
				UPDATE content_items c SET to_version = ? WHERE c.source = ? AND c.origin = ? AND c.to_version IS NULL AND c.state <> 'withdrawn'
					AND NOT EXISTS (SELECT 1 FROM content_staging s WHERE s.run_id = ? AND s.item_id = c.item_id)
				RETURNING c.*)
				INSERT INTO content_items (source, origin, item_id, kind, external_id, name, description, score, severity, state, modified, hash, data, from_version)
				SELECT source, origin, item_id, kind, external_id, name, description, score, severity, 'withdrawn', modified, hash || ':withdrawn', data, ?
				FROM gone`, ver, src, src, run, ver); err != nil {
				return fmt.Errorf("withdraw the items the version no longer lists: %w", err)
			}
		}
		if _, err := tx.NewDelete().Model((*StagedItem)(nil)).Where("run_id = ?", run).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Table("content_versions").Set("current = false").Where("source = ? AND current", src).Exec(ctx); err != nil {
			return err
		}
		v.Current = true
		_, err = tx.NewUpdate().Table("content_versions").Set("current = true").Where("id = ?", ver).Exec(ctx)
		return err
	})
	return v, replayed, mapError(err)
}

// undoItems removes what version wrote and reopens what it closed (inside a rollback).
func undoItems(ctx context.Context, tx bun.Tx, version int64) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM content_items WHERE from_version = ?", version); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "UPDATE content_items SET to_version = NULL WHERE to_version = ?", version)
	return err
}

// ContentItemFilter narrows a listing of current content items.
type ContentItemFilter struct {
	Source string
	Kind   string
	Origin string
	State  string
	// ExternalID matches exactly, case-insensitively (T1059, AC-2, CVE-2024-3094).
	ExternalID string
	// Query matches the name, external ID, description or (ATT&CK) aliases as a substring,
	// case-insensitively.
	Query  string
	Cursor string
	Limit  int
}

// ListContentItems returns one page of the current items (of every origin) ordered by ID.
func (s *Store) ListContentItems(ctx context.Context, f ContentItemFilter) ([]ContentItem, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]ContentItem, 0, f.Limit+1)
	q := s.DB.NewSelect().Model(&out).Where("ci.to_version IS NULL")
	for col, v := range map[string]string{"ci.source": f.Source, "ci.kind": f.Kind, "ci.origin": f.Origin, "ci.state": f.State} {
		if v != "" {
			q = q.Where("? = ?", bun.Ident(col), v)
		}
	}
	if f.ExternalID != "" {
		q = q.Where("lower(ci.external_id) = lower(?)", f.ExternalID)
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("ci.name ILIKE ?", like).WhereOr("ci.external_id ILIKE ?", like).WhereOr("ci.description ILIKE ?", like).
				WhereOr("(ci.data ->> 'aliases') ILIKE ?", like)
		})
	}
	return pageByID(ctx, q, &out, "ci.id", "content item", f.Cursor, f.Limit, func(c ContentItem) int64 { return c.ID })
}

// GetContentItem returns one item (current or not).
func (s *Store) GetContentItem(ctx context.Context, id int64) (*ContentItem, error) {
	c := new(ContentItem)
	return c, mapError(s.DB.NewSelect().Model(c).Where("ci.id = ?", id).Scan(ctx))
}

// ItemRelationships lists the current relationships (ATT&CK) from or to a STIX ID, with the
// item at their other end, at most limit.
func (s *Store) ItemRelationships(ctx context.Context, source, origin, stixID string, limit int) ([]Relationship, error) {
	out := []Relationship{}
	err := s.DB.NewRaw(`SELECT r.name AS type, r.state, r.description,
			CASE WHEN r.data ->> 'source_ref' = ? THEN 'out' ELSE 'in' END AS direction,
			o.id AS other_id, o.item_id AS other_item_id, o.kind AS other_kind, o.external_id AS other_external_id, o.name AS other_name
		FROM content_items r
		JOIN content_items o ON o.source = r.source AND o.origin = r.origin AND o.to_version IS NULL
			AND o.item_id = CASE WHEN r.data ->> 'source_ref' = ? THEN r.data ->> 'target_ref' ELSE r.data ->> 'source_ref' END
		WHERE r.kind = 'relationship' AND r.to_version IS NULL AND r.source = ? AND r.origin = ?
			AND (r.data ->> 'source_ref' = ? OR r.data ->> 'target_ref' = ?)
		ORDER BY r.name, o.external_id, o.name LIMIT ?`, stixID, stixID, source, origin, stixID, stixID, limit).Scan(ctx, &out)
	return out, mapError(err)
}

// Relationship is one end of an ATT&CK relationship as seen from an item.
type Relationship struct {
	Type            string `bun:"type" json:"type"`
	State           string `bun:"state" json:"state"`
	Description     string `bun:"description" json:"description,omitempty"`
	Direction       string `bun:"direction" json:"direction"`
	OtherID         int64  `bun:"other_id" json:"id"`
	OtherItemID     string `bun:"other_item_id" json:"item_id"`
	OtherKind       string `bun:"other_kind" json:"kind"`
	OtherExternalID string `bun:"other_external_id" json:"external_id"`
	OtherName       string `bun:"other_name" json:"name"`
}

// CopyContentItem makes a customer's own copy of a feed's item, which no feed overwrites:
// name and description replace the item's when given. ErrConflict when the customer already
// has a current copy of that item.
func (s *Store) CopyContentItem(ctx context.Context, id int64, name, description *string) (*ContentItem, error) {
	out := new(ContentItem)
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		src := new(ContentItem)
		if err := tx.NewSelect().Model(src).Where("ci.id = ? AND ci.to_version IS NULL", id).Scan(ctx); err != nil {
			return err
		}
		if src.Origin == OriginCustomer {
			return fmt.Errorf("%w: item %d is already a customer's copy", ErrConflict, id)
		}
		n, err := tx.NewSelect().Model((*ContentItem)(nil)).Where(currentOf+" AND ci.item_id = ?", src.Source, OriginCustomer, src.ItemID).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s %s already has a customer's copy", ErrConflict, src.Source, src.ItemID)
		}
		*out = *src
		out.ID, out.Origin, out.FromVersion, out.ToVersion, out.CopiedFrom, out.CreatedAt = 0, OriginCustomer, nil, nil, &src.ID, time.Time{}
		if name != nil {
			out.Name = *name
		}
		if description != nil {
			out.Description = *description
		}
		out.Hash = contentHash(out.Kind, out.ExternalID, out.Name, out.Description, fmt.Sprint(deref(out.Score)), out.Severity, out.State, string(out.Data))
		_, err = tx.NewInsert().Model(out).Returning("id, created_at").Exec(ctx)
		return err
	})
	return out, mapError(err)
}
