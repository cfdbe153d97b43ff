package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Events holds the Workflow module: events, the occurrences and assets they treat, their
// progress entries and history.
type Events struct{ db bun.IDB }

// Event statuses.
const (
	EventOpen      = "open"
	EventClosed    = "closed"
	EventCancelled = "cancelled"
)

// EventTypeRemediation is the generic remediation type that events start with.
const EventTypeRemediation = "remediation"

// Actor is who changes an event: a person through the API, or a task run.
type Actor struct {
	// Name is the person (the API token's name) or the task's name.
	Name string
	// Kind is "person" or "task".
	Kind string
	// RunID is the task's run; nil for a person.
	RunID *uuid.UUID
}

// Person is an actor working through the API.
func Person(name string) Actor { return Actor{Name: name, Kind: "person"} }

// BadRefError is returned when a write names a row that does not exist or may not be used
// there (an unknown occurrence, a parent that would make a cycle). Nothing was written.
type BadRefError struct {
	// Field is the JSON path of the reference in the request.
	Field   string
	Message string
}

func (e *BadRefError) Error() string { return e.Field + ": " + e.Message }

// ErrConflict is returned when a change does not fit the row's current state, such as
// closing a cancelled event. Nothing was written.
var ErrConflict = errors.New("conflict")

// Event is one event of the Workflow module.
type Event struct {
	bun.BaseModel `bun:"table:events,alias:e"`

	ID          int64      `bun:"id,pk,autoincrement"`
	Type        string     `bun:"event_type,notnull"`
	Title       string     `bun:"title,notnull"`
	Description string     `bun:"description,notnull"`
	Urgency     int        `bun:"urgency,notnull"`
	Severity    int        `bun:"severity,notnull"`
	Relevance   int        `bun:"relevance,notnull"`
	Priority    int        `bun:"priority,scanonly"`
	Status      string     `bun:"status,notnull"`
	Progress    int        `bun:"progress,notnull"`
	Responsible string     `bun:"responsible,notnull"`
	ParentID    *int64     `bun:"parent_id"`
	CreatedBy   string     `bun:"created_by,notnull"`
	Version     int        `bun:"version,notnull"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
	UpdatedAt   time.Time  `bun:"updated_at,notnull"`
	ClosedAt    *time.Time `bun:"closed_at"`
	// SourceTaskID and SourceKey name the XML import task and record key an imported event
	// came from; ContentHash is the imported record's hash.
	SourceTaskID *uuid.UUID `bun:"source_task_id"`
	SourceKey    *string    `bun:"source_key"`
	ContentHash  string     `bun:"content_hash,notnull"`
	// Computed by the queries: how many occurrences the event treats and how many of them the
	// scanner says are resolved.
	Occurrences int64 `bun:"occurrences,scanonly"`
	Resolved    int64 `bun:"resolved,scanonly"`
}

// EventOccurrence is an occurrence an event treats, with what the catalogue and the asset
// say of it. Status is nil when the occurrence has since been deleted (expired long ago).
type EventOccurrence struct {
	OccurrenceID    int64      `bun:"occurrence_id"`
	AssetID         uuid.UUID  `bun:"asset_id"`
	VulnerabilityID int64      `bun:"vulnerability_id"`
	ResolvedAt      *time.Time `bun:"resolved_at"`
	ResolvedBy      string     `bun:"resolved_by"`
	AssetName       string     `bun:"asset_name"`
	VendorID        string     `bun:"vendor_id"`
	Title           string     `bun:"title"`
	Level           *int       `bun:"level"`
	Status          *string    `bun:"status"`
	Port            *int32     `bun:"port"`
	Tickets         []int64    `bun:"tickets,array"`
}

// EventDetail is an event with its occurrences, assets and child events.
type EventDetail struct {
	Event
	OccurrenceList []EventOccurrence
	AssetIDs       []uuid.UUID
	ChildIDs       []int64
}

// EventFilter narrows an event listing.
type EventFilter struct {
	Status       string
	Type         string
	AssetID      *uuid.UUID
	OccurrenceID *int64
	Responsible  string
	Cursor       string
	Limit        int
}

func eventColumns(q *bun.SelectQuery) *bun.SelectQuery {
	return q.ColumnExpr("e.*").
		ColumnExpr("(SELECT count(*) FROM event_occurrences eo WHERE eo.event_id = e.id) AS occurrences").
		ColumnExpr("(SELECT count(*) FROM event_occurrences eo WHERE eo.event_id = e.id AND eo.resolved_at IS NOT NULL) AS resolved")
}

type eventCursor struct {
	Priority int   `json:"p"`
	ID       int64 `json:"i"`
}

// List returns one page of events, the most pressing first (urgency x severity x relevance,
// then the oldest), and the next page's cursor.
func (s *Events) List(ctx context.Context, f EventFilter) ([]Event, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := make([]Event, 0, f.Limit+1)
	q := eventColumns(s.db.NewSelect().Model(&out))
	if f.Status != "" {
		q = q.Where("e.status = ?", f.Status)
	}
	if f.Type != "" {
		q = q.Where("e.event_type = ?", f.Type)
	}
	if f.Responsible != "" {
		q = q.Where("e.responsible = ?", f.Responsible)
	}
	if f.AssetID != nil {
		q = q.Where(`EXISTS (SELECT 1 FROM event_assets ea WHERE ea.event_id = e.id AND ea.asset_id = ?)
			OR EXISTS (SELECT 1 FROM event_occurrences eo WHERE eo.event_id = e.id AND eo.asset_id = ?)`, *f.AssetID, *f.AssetID)
	}
	if f.OccurrenceID != nil {
		q = q.Where("EXISTS (SELECT 1 FROM event_occurrences eo WHERE eo.event_id = e.id AND eo.occurrence_id = ?)", *f.OccurrenceID)
	}
	if f.Cursor != "" {
		var c eventCursor
		if err := decodeCursor(f.Cursor, &c, func() bool { return c.ID > 0 }, "event"); err != nil {
			return nil, "", err
		}
		q = q.Where("(e.priority < ? OR (e.priority = ? AND e.id > ?))", c.Priority, c.Priority, c.ID)
	}
	if err := q.OrderExpr("e.priority DESC, e.id").Limit(int64(f.Limit + 1)).Scan(ctx); err != nil {
		return nil, "", mapError(err)
	}
	if len(out) <= f.Limit {
		return out, "", nil
	}
	out = out[:f.Limit]
	last := out[len(out)-1]
	return out, encodeCursor(eventCursor{Priority: last.Priority, ID: last.ID}), nil
}

// Get returns an event with its occurrences, assets and children, or ErrNotFound.
func (s *Events) Get(ctx context.Context, id int64) (*EventDetail, error) {
	var d EventDetail
	if err := eventColumns(s.db.NewSelect().Model(&d.Event)).Where("e.id = ?", id).Scan(ctx); err != nil {
		return nil, mapError(err)
	}
	d.OccurrenceList = []EventOccurrence{}
	if err := s.db.NewRaw(`SELECT eo.occurrence_id, eo.asset_id, eo.vulnerability_id, eo.resolved_at, eo.resolved_by,
			COALESCE(a.name, '') AS asset_name, COALESCE(v.vendor_id, '') AS vendor_id, COALESCE(v.title, '') AS title, v.level,
			o.status, o.port,
			ARRAY(SELECT t.number FROM remediation_tickets t WHERE t.occurrence_ids @> ARRAY[eo.occurrence_id] ORDER BY t.number) AS tickets
		FROM event_occurrences eo LEFT JOIN assets a ON a.id = eo.asset_id LEFT JOIN vulnerabilities v ON v.id = eo.vulnerability_id
			LEFT JOIN vulnerability_occurrences o ON o.id = eo.occurrence_id
		WHERE eo.event_id = ? ORDER BY eo.occurrence_id`, id).Scan(ctx, &d.OccurrenceList); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	d.AssetIDs, d.ChildIDs = []uuid.UUID{}, []int64{}
	if err := s.db.NewRaw("SELECT asset_id FROM event_assets WHERE event_id = ? ORDER BY asset_id", id).Scan(ctx, &d.AssetIDs); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err := s.db.NewRaw("SELECT id FROM events WHERE parent_id = ? ORDER BY id", id).Scan(ctx, &d.ChildIDs); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return &d, nil
}

// NewEvents describes the events to create: one per occurrence, one consolidated event
// treating all of them, or (without occurrences) one event of its own.
type NewEvents struct {
	// OccurrenceIDs are the occurrences to treat. Optional.
	OccurrenceIDs []int64
	// Consolidated makes one event treating every occurrence instead of one event each.
	Consolidated bool
	// Type is the event type. Optional; defaults to "remediation".
	Type string
	// Title and Description. A title is required without occurrences; with them it defaults
	// to "Remediate <vulnerability> on <asset>" (or "Remediate N vulnerabilities").
	Title       string
	Description string
	// Urgency defaults to 3; Severity to the vulnerability's level (the highest one for a
	// consolidated event), else 3; Relevance to the asset's relevance (the highest), else 3.
	Urgency, Severity, Relevance *int
	Responsible                  string
	ParentID                     *int64
	// AssetIDs associate assets beside those of the occurrences.
	AssetIDs []uuid.UUID
	Actor    Actor
	Now      time.Time
}

type occurrenceRef struct {
	ID              int64     `bun:"id"`
	AssetID         uuid.UUID `bun:"asset_id"`
	VulnerabilityID int64     `bun:"vulnerability_id"`
	AssetName       string    `bun:"asset_name"`
	Relevance       int       `bun:"relevance"`
	Title           string    `bun:"title"`
	Level           *int      `bun:"level"`
}

// Create creates the events n describes in one transaction and returns their IDs.
func (s *Events) Create(ctx context.Context, n NewEvents) ([]int64, error) {
	var ids []int64
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var refs []occurrenceRef
		if len(n.OccurrenceIDs) > 0 {
			if err := tx.NewRaw(`SELECT o.id, o.asset_id, o.vulnerability_id, a.name AS asset_name, a.relevance, v.title, v.level
				FROM vulnerability_occurrences o JOIN assets a ON a.id = o.asset_id JOIN vulnerabilities v ON v.id = o.vulnerability_id
				WHERE o.id IN (?)`, bun.In(n.OccurrenceIDs)).Scan(ctx, &refs); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			found := map[int64]occurrenceRef{}
			for _, r := range refs {
				found[r.ID] = r
			}
			refs = refs[:0]
			seen := map[int64]bool{}
			for i, id := range n.OccurrenceIDs {
				r, ok := found[id]
				if !ok {
					return &BadRefError{Field: fmt.Sprintf("occurrence_ids[%d]", i), Message: fmt.Sprintf("there is no occurrence %d", id)}
				}
				if seen[id] {
					return &BadRefError{Field: fmt.Sprintf("occurrence_ids[%d]", i), Message: fmt.Sprintf("occurrence %d is named twice", id)}
				}
				seen[id] = true
				refs = append(refs, r)
			}
		}
		if err := checkAssets(ctx, tx, n.AssetIDs); err != nil {
			return err
		}
		if n.ParentID != nil {
			if err := tx.NewRaw("SELECT id FROM events WHERE id = ?", *n.ParentID).Scan(ctx, new(int64)); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return &BadRefError{Field: "parent_id", Message: fmt.Sprintf("there is no event %d", *n.ParentID)}
				}
				return err
			}
		}
		groups := [][]occurrenceRef{refs}
		if !n.Consolidated && len(refs) > 0 {
			groups = groups[:0]
			for _, r := range refs {
				groups = append(groups, []occurrenceRef{r})
			}
		}
		for _, g := range groups {
			id, err := s.createOne(ctx, tx, n, g)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, mapError(err)
}

func checkAssets(ctx context.Context, tx bun.Tx, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	var found []uuid.UUID
	if err := tx.NewRaw("SELECT id FROM assets WHERE id IN (?)", bun.In(ids)).Scan(ctx, &found); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	ok := map[uuid.UUID]bool{}
	for _, id := range found {
		ok[id] = true
	}
	for i, id := range ids {
		if !ok[id] {
			return &BadRefError{Field: fmt.Sprintf("asset_ids[%d]", i), Message: "there is no asset " + id.String()}
		}
	}
	return nil
}

func orDefault(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}

// createOne creates one event treating occs.
func (s *Events) createOne(ctx context.Context, tx bun.Tx, n NewEvents, occs []occurrenceRef) (int64, error) {
	sev, rel := 0, 0
	for _, o := range occs {
		if o.Level != nil {
			sev = max(sev, *o.Level)
		}
		rel = max(rel, o.Relevance)
	}
	if sev == 0 {
		sev = 3
	}
	if rel == 0 {
		rel = 3
	}
	title := n.Title
	if title == "" {
		switch len(occs) {
		case 1:
			title = "Remediate " + occs[0].Title + " on " + occs[0].AssetName
		default:
			title = fmt.Sprintf("Remediate %d vulnerabilities", len(occs))
		}
		title = truncate(title, 2500)
	}
	typ := n.Type
	if typ == "" {
		typ = EventTypeRemediation
	}
	e := &Event{Type: typ, Title: title, Description: n.Description, Urgency: orDefault(n.Urgency, 3), Severity: orDefault(n.Severity, sev),
		Relevance: orDefault(n.Relevance, rel), Status: EventOpen, Responsible: n.Responsible, ParentID: n.ParentID, CreatedBy: n.Actor.Name,
		Version: 1, CreatedAt: n.Now, UpdatedAt: n.Now}
	if _, err := tx.NewInsert().Model(e).Returning("id").Exec(ctx); err != nil {
		return 0, err
	}
	assets := map[uuid.UUID]bool{}
	for _, o := range occs {
		if _, err := tx.NewRaw(`INSERT INTO event_occurrences (event_id, occurrence_id, asset_id, vulnerability_id) VALUES (?, ?, ?, ?)`,
			e.ID, o.ID, o.AssetID, o.VulnerabilityID).Exec(ctx); err != nil {
			return 0, err
		}
		assets[o.AssetID] = true
	}
	for _, a := range n.AssetIDs {
		assets[a] = true
	}
	for a := range assets {
		if _, err := tx.NewRaw("INSERT INTO event_assets (event_id, asset_id) VALUES (?, ?)", e.ID, a).Exec(ctx); err != nil {
			return 0, err
		}
	}
	occIDs := make([]int64, len(occs))
	for i, o := range occs {
		occIDs[i] = o.ID
	}
	return e.ID, writeHistory(ctx, tx, e.ID, n.Actor, "created", map[string]any{"title": title, "occurrences": occIDs}, n.Now)
}

// writeHistory records one change of an event.
func writeHistory(ctx context.Context, tx bun.IDB, id int64, a Actor, action string, changes map[string]any, at time.Time) error {
	raw, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	_, err = tx.NewRaw(`INSERT INTO event_history (event_id, at, actor, actor_kind, run_id, action, changes) VALUES (?, ?, ?, ?, ?, ?, ?::jsonb)`,
		id, at, a.Name, a.Kind, a.RunID, action, string(raw)).Exec(ctx)
	return err
}

// EventEdit changes an event's properties; nil fields stay.
type EventEdit struct {
	Type, Title, Description, Responsible *string
	Urgency, Severity, Relevance          *int
	// ParentID sets the parent event; ClearParent removes it.
	ParentID    *int64
	ClearParent bool
}

// lock reads an event for a change, locking its row until the transaction ends: a task's
// apply and a person's edit of one event are serialised.
func lockEvent(ctx context.Context, tx bun.Tx, id int64) (*Event, error) {
	e := &Event{}
	if err := tx.NewSelect().Model(e).Where("e.id = ?", id).For("UPDATE").Scan(ctx); err != nil {
		return nil, mapError(err)
	}
	return e, nil
}

// Update applies an edit, recording what changed. An edit that changes nothing records nothing.
func (s *Events) Update(ctx context.Context, id int64, ed EventEdit, a Actor, now time.Time) error {
	return mapError(s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		e, err := lockEvent(ctx, tx, id)
		if err != nil {
			return err
		}
		changes := map[string]any{}
		str := func(name string, p *string, dst *string) {
			if p != nil && *p != *dst {
				changes[name] = []any{*dst, *p}
				*dst = *p
			}
		}
		num := func(name string, p *int, dst *int) {
			if p != nil && *p != *dst {
				changes[name] = []any{*dst, *p}
				*dst = *p
			}
		}
		str("type", ed.Type, &e.Type)
		str("title", ed.Title, &e.Title)
		str("description", ed.Description, &e.Description)
		str("responsible", ed.Responsible, &e.Responsible)
		num("urgency", ed.Urgency, &e.Urgency)
		num("severity", ed.Severity, &e.Severity)
		num("relevance", ed.Relevance, &e.Relevance)
		switch {
		case ed.ClearParent && e.ParentID != nil:
			changes["parent_id"] = []any{*e.ParentID, nil}
			e.ParentID = nil
		case ed.ParentID != nil && (e.ParentID == nil || *e.ParentID != *ed.ParentID):
			if err := checkParent(ctx, tx, id, *ed.ParentID); err != nil {
				return err
			}
			changes["parent_id"] = []any{e.ParentID, *ed.ParentID}
			e.ParentID = ed.ParentID
		}
		if len(changes) == 0 {
			return nil
		}
		e.Version++
		e.UpdatedAt = now
		if _, err := tx.NewUpdate().Model(e).Column("event_type", "title", "description", "responsible", "urgency", "severity", "relevance",
			"parent_id", "version", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		return writeHistory(ctx, tx, id, a, "updated", changes, now)
	}))
}

// checkParent refuses a parent that does not exist or that would make a cycle.
func checkParent(ctx context.Context, tx bun.Tx, id, parent int64) error {
	if parent == id {
		return &BadRefError{Field: "parent_id", Message: "an event cannot be its own parent"}
	}
	var cycle bool
	err := tx.NewRaw(`WITH RECURSIVE up(id, parent_id) AS (
			SELECT id, parent_id FROM events WHERE id = ?
			UNION SELECT e.id, e.parent_id FROM events e JOIN up ON e.id = up.parent_id)
		SELECT EXISTS (SELECT 1 FROM up WHERE id = ?)`, parent, id).Scan(ctx, &cycle)
	if err != nil {
		return err
	}
	if cycle {
		return &BadRefError{Field: "parent_id", Message: fmt.Sprintf("event %d is a descendant of event %d: that would make a cycle", parent, id)}
	}
	var exists bool
	if err := tx.NewRaw("SELECT EXISTS (SELECT 1 FROM events WHERE id = ?)", parent).Scan(ctx, &exists); err != nil {
		return err
	}
	if !exists {
		return &BadRefError{Field: "parent_id", Message: fmt.Sprintf("there is no event %d", parent)}
	}
	return nil
}

// Status actions of an event.
const (
	ActionClose  = "close"
	ActionCancel = "cancel"
	ActionReopen = "reopen"
)

// SetStatus closes, cancels or reopens an event, with an optional comment written as a
// progress entry. Closing sets the progress to 100 %. Closing or cancelling an event that is
// not open, or reopening an open one, is ErrConflict.
func (s *Events) SetStatus(ctx context.Context, id int64, action, comment string, a Actor, now time.Time) error {
	return mapError(s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		e, err := lockEvent(ctx, tx, id)
		if err != nil {
			return err
		}
		from, to, history := e.Status, "", ""
		switch action {
		case ActionClose:
			to, history = EventClosed, "closed"
		case ActionCancel:
			to, history = EventCancelled, "cancelled"
		case ActionReopen:
			to, history = EventOpen, "reopened"
		default:
			return fmt.Errorf("unknown event action %q", action)
		}
		if (action == ActionReopen) == (from == EventOpen) {
			return fmt.Errorf("%w: event %d is %s; it can only be %s when %s", ErrConflict, id, from, history,
				map[bool]string{true: "closed or cancelled", false: "open"}[action == ActionReopen])
		}
		changes := map[string]any{"status": []any{from, to}}
		e.Status, e.UpdatedAt = to, now
		e.ClosedAt = nil
		if to != EventOpen {
			e.ClosedAt = &now
		}
		var progress *int
		if to == EventClosed && e.Progress != 100 {
			changes["progress"] = []any{e.Progress, 100}
			e.Progress = 100
			progress = &e.Progress
		}
		e.Version++
		if _, err := tx.NewUpdate().Model(e).Column("status", "progress", "closed_at", "version", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		if comment != "" {
			if _, err := insertProgress(ctx, tx, id, a, comment, progress, now, now, ""); err != nil {
				return err
			}
		}
		return writeHistory(ctx, tx, id, a, history, changes, now)
	}))
}

// EventProgress is one progress entry of an event.
type EventProgress struct {
	ID         int64      `bun:"id"`
	EventID    int64      `bun:"event_id"`
	At         time.Time  `bun:"at"`
	Author     string     `bun:"author"`
	AuthorKind string     `bun:"author_kind"`
	RunID      *uuid.UUID `bun:"run_id"`
	Body       string     `bun:"body"`
	Progress   *int       `bun:"progress"`
	// SourceKey names what a task copied the entry from (a ticket's comment or state).
	SourceKey *string   `bun:"source_key"`
	CreatedAt time.Time `bun:"created_at"`
}

func insertProgress(ctx context.Context, tx bun.IDB, id int64, a Actor, body string, progress *int, at, now time.Time, sourceKey string) (int64, error) {
	var key any
	if sourceKey != "" {
		key = sourceKey
	}
	var entry int64
	err := tx.NewRaw(`INSERT INTO event_progress (event_id, at, author, author_kind, run_id, body, progress, source_key, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, id, at, a.Name, a.Kind, a.RunID, body, progress, key, now).Scan(ctx, &entry)
	return entry, err
}

// AddProgress adds a progress entry; progress, when set, becomes the event's progress. Only
// an open event's progress can change (ErrConflict otherwise).
func (s *Events) AddProgress(ctx context.Context, id int64, body string, progress *int, a Actor, at, now time.Time) (*EventProgress, error) {
	var entry int64
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		e, err := lockEvent(ctx, tx, id)
		if err != nil {
			return err
		}
		if progress != nil && e.Status != EventOpen {
			return fmt.Errorf("%w: event %d is %s: reopen it to change its progress", ErrConflict, id, e.Status)
		}
		if entry, err = insertProgress(ctx, tx, id, a, body, progress, at, now, ""); err != nil {
			return err
		}
		changes := map[string]any{"entry": entry}
		if progress != nil && *progress != e.Progress {
			changes["progress"] = []any{e.Progress, *progress}
			e.Progress = *progress
		}
		e.Version++
		e.UpdatedAt = now
		if _, err := tx.NewUpdate().Model(e).Column("progress", "version", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		return writeHistory(ctx, tx, id, a, "progress", changes, now)
	})
	if err != nil {
		return nil, mapError(err)
	}
	var p EventProgress
	if err := s.db.NewRaw("SELECT * FROM event_progress WHERE id = ?", entry).Scan(ctx, &p); err != nil {
		return nil, mapError(err)
	}
	return &p, nil
}

// exists fails with ErrNotFound unless event id exists.
func (s *Events) exists(ctx context.Context, id int64) error {
	var ok bool
	if err := s.db.NewRaw("SELECT EXISTS (SELECT 1 FROM events WHERE id = ?)", id).Scan(ctx, &ok); err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// ListProgress returns one page of an event's progress entries, oldest first.
func (s *Events) ListProgress(ctx context.Context, id int64, cursor string, limit int) ([]EventProgress, string, error) {
	return eventRows(ctx, s, id, "event_progress", "progress", cursor, limit, func(p EventProgress) int64 { return p.ID })
}

// eventRows returns one page of the rows of table that belong to event id (ErrNotFound for
// an event that does not exist), in ID order.
func eventRows[T any](ctx context.Context, s *Events, id int64, table, what, cursor string, limit int, key func(T) int64) ([]T, string, error) {
	if err := s.exists(ctx, id); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 50
	}
	out := make([]T, 0, limit+1)
	q := s.db.NewSelect().Model(&out).ModelTableExpr(table+" AS r").ColumnExpr("r.*").Where("r.event_id = ?", id)
	return pageByID(ctx, q, &out, "r.id", what, cursor, limit, key)
}

// EventChange is one entry of an event's history.
type EventChange struct {
	ID        int64           `bun:"id"`
	EventID   int64           `bun:"event_id"`
	At        time.Time       `bun:"at"`
	Actor     string          `bun:"actor"`
	ActorKind string          `bun:"actor_kind"`
	RunID     *uuid.UUID      `bun:"run_id"`
	Action    string          `bun:"action"`
	Changes   json.RawMessage `bun:"changes,type:jsonb"`
}

// ListHistory returns one page of an event's history, oldest first.
func (s *Events) ListHistory(ctx context.Context, id int64, cursor string, limit int) ([]EventChange, string, error) {
	return eventRows(ctx, s, id, "event_history", "history", cursor, limit, func(c EventChange) int64 { return c.ID })
}
