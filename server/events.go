package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// bindBody reads a strict JSON body into v and checks its validation tags.
func bindBody(c *gin.Context, v any, optional bool) error {
	if err := bindJSON(c, v, optional); err != nil {
		return err
	}
	return valid.Struct("", v)
}

type eventView struct {
	ID          int64      `json:"id"`
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Urgency     int        `json:"urgency"`
	Severity    int        `json:"severity"`
	Relevance   int        `json:"relevance"`
	Priority    int        `json:"priority"`
	Status      string     `json:"status"`
	Progress    int        `json:"progress"`
	Responsible string     `json:"responsible"`
	ParentID    *int64     `json:"parent_id"`
	CreatedBy   string     `json:"created_by"`
	Version     int        `json:"version"`
	Occurrences int64      `json:"occurrences"`
	Resolved    int64      `json:"resolved_occurrences"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	// SourceTaskID and SourceKey: the XML import task and record key of an imported event.
	SourceTaskID *uuid.UUID `json:"source_task_id,omitempty"`
	SourceKey    *string    `json:"source_key,omitempty"`
}

func eventResponse(e *store.Event) eventView {
	return eventView{ID: e.ID, Type: e.Type, Title: e.Title, Description: e.Description, Urgency: e.Urgency, Severity: e.Severity,
		Relevance: e.Relevance, Priority: e.Priority, Status: e.Status, Progress: e.Progress, Responsible: e.Responsible,
		ParentID: e.ParentID, CreatedBy: e.CreatedBy, Version: e.Version, Occurrences: e.Occurrences, Resolved: e.Resolved,
		SourceTaskID: e.SourceTaskID, SourceKey: e.SourceKey,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, ClosedAt: e.ClosedAt}
}

type eventOccurrenceView struct {
	OccurrenceID    int64      `json:"occurrence_id"`
	AssetID         uuid.UUID  `json:"asset_id"`
	AssetName       string     `json:"asset_name"`
	VulnerabilityID int64      `json:"vulnerability_id"`
	VendorID        string     `json:"vendor_id"`
	Title           string     `json:"title"`
	Level           *int       `json:"level"`
	Port            *int32     `json:"port"`
	Status          *string    `json:"status"`
	ResolvedAt      *time.Time `json:"resolved_at"`
	ResolvedBy      string     `json:"resolved_by"`
	Tickets         []int64    `json:"tickets"`
}

type eventDetailView struct {
	eventView
	OccurrenceList []eventOccurrenceView `json:"occurrence_list"`
	AssetIDs       []uuid.UUID           `json:"asset_ids"`
	ChildIDs       []int64               `json:"child_ids"`
}

func eventDetailResponse(d *store.EventDetail) eventDetailView {
	out := eventDetailView{eventView: eventResponse(&d.Event), AssetIDs: d.AssetIDs, ChildIDs: d.ChildIDs,
		OccurrenceList: make([]eventOccurrenceView, 0, len(d.OccurrenceList))}
	for _, o := range d.OccurrenceList {
		tickets := o.Tickets
		if tickets == nil {
			tickets = []int64{}
		}
		out.OccurrenceList = append(out.OccurrenceList, eventOccurrenceView{OccurrenceID: o.OccurrenceID, AssetID: o.AssetID, AssetName: o.AssetName,
			VulnerabilityID: o.VulnerabilityID, VendorID: o.VendorID, Title: o.Title, Level: o.Level, Port: o.Port, Status: o.Status,
			ResolvedAt: o.ResolvedAt, ResolvedBy: o.ResolvedBy, Tickets: tickets})
	}
	return out
}

var eventStatuses = []string{store.EventOpen, store.EventClosed, store.EventCancelled}

func (a *api) listEvents() gin.HandlerFunc {
	return listing(a, []string{"status", "type", "asset_id", "occurrence_id", "responsible"},
		func(_ *gin.Context, q *query) (store.EventFilter, error) {
			return store.EventFilter{Status: q.enum("status", eventStatuses...), Type: q.text("type", 100), AssetID: q.uuid("asset_id"),
				OccurrenceID: q.id("occurrence_id"), Responsible: q.text("responsible", 400), Limit: q.limit(), Cursor: q.Get("cursor")}, nil
		}, func(ctx context.Context, f store.EventFilter) ([]store.Event, string, error) {
			return a.Store.Events.List(ctx, f)
		}, eventResponse)
}

func (a *api) getEvent(c *gin.Context) (int, any, error) {
	id, err := pathInt64(c)
	if err != nil {
		return 0, nil, err
	}
	return a.renderEvent(c, http.StatusOK, id)
}

func (a *api) renderEvent(c *gin.Context, status int, id int64) (int, any, error) {
	d, err := a.Store.Events.Get(c, id)
	if err != nil {
		return 0, nil, err
	}
	return status, eventDetailResponse(d), nil
}

// eventCreate creates events from occurrences: one each, or one consolidated event.
type eventCreate struct {
	OccurrenceIDs []int64     `json:"occurrence_ids" validate:"max=1000,dive,gt=0"`
	Consolidated  bool        `json:"consolidated"`
	Type          string      `json:"type" validate:"omitempty,max=100"`
	Title         string      `json:"title" validate:"max=2500"`
	Description   string      `json:"description" validate:"max=5500"`
	Urgency       *int        `json:"urgency" validate:"omitempty,min=1,max=5"`
	Severity      *int        `json:"severity" validate:"omitempty,min=1,max=5"`
	Relevance     *int        `json:"relevance" validate:"omitempty,min=1,max=5"`
	Responsible   string      `json:"responsible" validate:"max=400"`
	ParentID      *int64      `json:"parent_id" validate:"omitempty,gt=0"`
	AssetIDs      []uuid.UUID `json:"asset_ids" validate:"max=1000"`
}

func (a *api) createEvents(c *gin.Context) (int, any, error) {
	var in eventCreate
	if err := bindBody(c, &in, false); err != nil {
		return 0, nil, err
	}
	if len(in.OccurrenceIDs) == 0 && in.Title == "" {
		return 0, nil, valid.Field("title", "is required for an event without occurrence_ids")
	}
	if in.Consolidated && len(in.OccurrenceIDs) < 2 {
		return 0, nil, valid.Field("consolidated", "needs at least two occurrence_ids")
	}
	if !in.Consolidated && len(in.OccurrenceIDs) > 1 && in.Title != "" {
		return 0, nil, valid.Field("title", "is given for several events: leave it out (each event is titled after its occurrence) or set consolidated")
	}
	ids, err := a.Store.Events.Create(c, store.NewEvents{OccurrenceIDs: in.OccurrenceIDs, Consolidated: in.Consolidated, Type: in.Type,
		Title: in.Title, Description: in.Description, Urgency: in.Urgency, Severity: in.Severity, Relevance: in.Relevance,
		Responsible: in.Responsible, ParentID: in.ParentID, AssetIDs: in.AssetIDs, Actor: store.Person(principal(c).Name), Now: time.Now().UTC()})
	if err != nil {
		return 0, nil, err
	}
	out := page[eventDetailView]{Items: make([]eventDetailView, 0, len(ids))}
	for _, id := range ids {
		d, err := a.Store.Events.Get(c, id)
		if err != nil {
			return 0, nil, err
		}
		out.Items = append(out.Items, eventDetailResponse(d))
	}
	noteAudit(c, strconv.FormatInt(ids[0], 10), "created "+strconv.Itoa(len(ids))+" event(s)")
	return http.StatusCreated, out, nil
}

// eventPatch edits an event's properties; absent fields stay. parent_id null removes the parent.
type eventPatch struct {
	Type        *string         `json:"type" validate:"omitempty,min=1,max=100"`
	Title       *string         `json:"title" validate:"omitempty,min=1,max=2500"`
	Description *string         `json:"description" validate:"omitempty,max=5500"`
	Urgency     *int            `json:"urgency" validate:"omitempty,min=1,max=5"`
	Severity    *int            `json:"severity" validate:"omitempty,min=1,max=5"`
	Relevance   *int            `json:"relevance" validate:"omitempty,min=1,max=5"`
	Responsible *string         `json:"responsible" validate:"omitempty,max=400"`
	ParentID    json.RawMessage `json:"parent_id"`
}

func (a *api) updateEvent(c *gin.Context) (int, any, error) {
	id, err := pathInt64(c)
	if err != nil {
		return 0, nil, err
	}
	var p eventPatch
	if err := bindBody(c, &p, false); err != nil {
		return 0, nil, err
	}
	ed := store.EventEdit{Type: p.Type, Title: p.Title, Description: p.Description, Urgency: p.Urgency, Severity: p.Severity,
		Relevance: p.Relevance, Responsible: p.Responsible}
	switch raw := string(p.ParentID); raw {
	case "":
	case "null":
		ed.ClearParent = true
	default:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return 0, nil, valid.Field("parent_id", "must be an event ID or null")
		}
		ed.ParentID = &n
	}
	if err := a.Store.Events.Update(c, id, ed, store.Person(principal(c).Name), time.Now().UTC()); err != nil {
		return 0, nil, err
	}
	noteAudit(c, strconv.FormatInt(id, 10), "edited event")
	return a.renderEvent(c, http.StatusOK, id)
}

// eventStatusChange is the optional body of close, cancel and reopen.
type eventStatusChange struct {
	Comment string `json:"comment" validate:"max=5500"`
}

// setEventStatus closes, cancels or reopens an event.
func (a *api) setEventStatus(action string) gin.HandlerFunc {
	return a.handle(func(c *gin.Context) (int, any, error) {
		id, err := pathInt64(c)
		if err != nil {
			return 0, nil, err
		}
		var in eventStatusChange
		if err := bindBody(c, &in, true); err != nil {
			return 0, nil, err
		}
		if err := a.Store.Events.SetStatus(c, id, action, in.Comment, store.Person(principal(c).Name), time.Now().UTC()); err != nil {
			return 0, nil, err
		}
		noteAudit(c, strconv.FormatInt(id, 10), action+" event")
		return a.renderEvent(c, http.StatusOK, id)
	})
}

type progressView struct {
	ID         int64      `json:"id"`
	EventID    int64      `json:"event_id"`
	At         time.Time  `json:"at"`
	Author     string     `json:"author"`
	AuthorKind string     `json:"author_kind"`
	RunID      *uuid.UUID `json:"run_id"`
	Text       string     `json:"text"`
	Progress   *int       `json:"progress"`
	CreatedAt  time.Time  `json:"created_at"`
}

func progressResponse(p *store.EventProgress) progressView {
	return progressView{ID: p.ID, EventID: p.EventID, At: p.At, Author: p.Author, AuthorKind: p.AuthorKind, RunID: p.RunID, Text: p.Body,
		Progress: p.Progress, CreatedAt: p.CreatedAt}
}

// progressCreate is a person's progress entry; at defaults to now.
type progressCreate struct {
	Text     string     `json:"text" validate:"required,max=5500"`
	Progress *int       `json:"progress" validate:"omitempty,min=0,max=100"`
	At       *time.Time `json:"at"`
}

func (a *api) addProgress(c *gin.Context) (int, any, error) {
	id, err := pathInt64(c)
	if err != nil {
		return 0, nil, err
	}
	var in progressCreate
	if err := bindBody(c, &in, false); err != nil {
		return 0, nil, err
	}
	now := time.Now().UTC()
	at := now
	if in.At != nil {
		if in.At.After(now.Add(time.Minute)) {
			return 0, nil, valid.Field("at", "is in the future")
		}
		at = in.At.UTC()
	}
	p, err := a.Store.Events.AddProgress(c, id, in.Text, in.Progress, store.Person(principal(c).Name), at, now)
	if err != nil {
		return 0, nil, err
	}
	noteAudit(c, strconv.FormatInt(id, 10), "added a progress entry")
	return http.StatusCreated, progressResponse(p), nil
}

// eventPages lists a page of one event's entries (progress or history).
func eventPages[T, V any](a *api, fetch func(ctx context.Context, id int64, cursor string, limit int) ([]T, string, error), view func(*T) V) gin.HandlerFunc {
	return listing(a, nil, func(c *gin.Context, q *query) (eventPage, error) {
		id, err := pathInt64(c)
		return eventPage{id: id, cursor: q.Get("cursor"), limit: q.limit()}, err
	}, func(ctx context.Context, p eventPage) ([]T, string, error) {
		return fetch(ctx, p.id, p.cursor, p.limit)
	}, view)
}

type eventPage struct {
	id     int64
	cursor string
	limit  int
}

type eventChangeView struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	ActorKind string          `json:"actor_kind"`
	RunID     *uuid.UUID      `json:"run_id"`
	Action    string          `json:"action"`
	Changes   json.RawMessage `json:"changes"`
}

func eventChangeResponse(h *store.EventChange) eventChangeView {
	return eventChangeView{ID: h.ID, At: h.At, Actor: h.Actor, ActorKind: h.ActorKind, RunID: h.RunID, Action: h.Action, Changes: h.Changes}
}
